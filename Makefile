# The two commands of the README, and a few more. Each installs what is
# missing, configures through a CMake preset, and builds.
PRESET ?= default
BUILD  := build/$(PRESET)

.PHONY: demo test deps build bench clean

demo: build
	$(BUILD)/src/mhsa demo

test: build
	ctest --preset $(PRESET) -j 2

deps:
	@bash .ci/install-deps

build: deps
	cmake --preset $(PRESET) >/dev/null
	cmake --build --preset $(PRESET)

# BENCH_ARGS=--full runs the attention layer over its whole grid.
bench:
	@bash .ci/install-deps bench
	cmake --preset default >/dev/null
	cmake --build --preset default
	bash bench/run.sh $(BENCH_ARGS)

clean:
	rm -rf build
