# The two commands of the README, and a few more. Each installs what is
# missing, then configures, builds (and tests) through a CMake preset.
PRESET ?= default
BUILD  := build/$(PRESET)

# MHSA_WERROR=ON, given to make or in the environment, turns mhsa's warnings
# into errors: the presets read it from the environment at configure time,
# so it is exported to the commands below. CI runs `MHSA_WERROR=ON make test`.
export MHSA_WERROR

.PHONY: demo test deps build bench clean

demo: build
	$(BUILD)/src/mhsa demo

# The preset's workflow: configure, build, then every test through ctest.
test: deps
	cmake --workflow --preset $(PRESET)

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
