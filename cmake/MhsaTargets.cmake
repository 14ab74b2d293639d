# Which of Highway's SIMD targets mhsa compiles. Sets MHSA_HWY_DISABLED: a
# compile definition of HWY_DISABLED_TARGETS, or empty for Highway's default
# set. Every file that computes HWY_TARGETS must see the same definition (the
# library, and through mhsa_internal the tests, benchmarks and fuzzers), or
# the dispatch tables and the targets that tests iterate over disagree.
#
# - Arm: NEON serves it. SVE vectors are sizeless: they cannot be held in
#   the arrays that the GEMM's register tile is written with (gemm-inl.h).
# - MHSA_RUNNABLE_TARGETS_ONLY (off by default; on in the sanitizer and fuzz
#   presets): the build leaves out the targets that the CPU configuring it
#   cannot run. An instrumented build exists to run its code, and code the
#   CPU cannot run is only compiled, which the default build does too (with
#   the same warnings as errors). On a CPU without AVX-512 that is AVX3,
#   the largest target: half of the kernels' largest file (gcc's ASan +
#   UBSan build of attention.cc: 175 s with it, 83 s without, on a Zen 3).
#   On a CPU that runs every target nothing is left out. The build still
#   runs on a better CPU, served by its best target that was compiled.
option(MHSA_RUNNABLE_TARGETS_ONLY
       "Compile only the SIMD targets that the configuring machine's CPU runs" OFF)

set(mhsa_disabled_targets)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  list(APPEND mhsa_disabled_targets HWY_SVE HWY_SVE2 HWY_SVE_256 HWY_SVE2_128)
endif()

if(MHSA_RUNNABLE_TARGETS_ONLY)
  if(CMAKE_CROSSCOMPILING)
    message(FATAL_ERROR "MHSA_RUNNABLE_TARGETS_ONLY needs to run a program on the build's "
                        "CPU; a cross build (CMAKE_CROSSCOMPILING) cannot")
  endif()
  # The probe sees Highway's default set: a target it reports that is left
  # out already (SVE on an Arm CPU without it) is left out once.
  try_run(mhsa_probe_exit mhsa_probe_compiled
          ${CMAKE_BINARY_DIR}/mhsa_runnable_targets ${CMAKE_CURRENT_LIST_DIR}/runnable_targets.cc
          LINK_LIBRARIES hwy::hwy
          CXX_STANDARD 17
          COMPILE_OUTPUT_VARIABLE mhsa_probe_compile_output
          RUN_OUTPUT_VARIABLE mhsa_probe_lacking)
  if(NOT mhsa_probe_compiled OR NOT mhsa_probe_exit EQUAL 0)
    message(FATAL_ERROR "MHSA_RUNNABLE_TARGETS_ONLY: the probe of the CPU's targets "
                        "(cmake/runnable_targets.cc) failed:\n${mhsa_probe_compile_output}")
  endif()
  string(STRIP "${mhsa_probe_lacking}" mhsa_probe_lacking)
  if(mhsa_probe_lacking)
    string(REPLACE "\n" ";" mhsa_probe_lacking "${mhsa_probe_lacking}")
    list(JOIN mhsa_probe_lacking ", " mhsa_joined)
    message(STATUS "mhsa: this CPU cannot run ${mhsa_joined}; left out of this build")
    list(TRANSFORM mhsa_probe_lacking PREPEND HWY_)
    list(APPEND mhsa_disabled_targets ${mhsa_probe_lacking})
    list(REMOVE_DUPLICATES mhsa_disabled_targets)
  else()
    message(STATUS "mhsa: this CPU runs every SIMD target; all are built")
  endif()
endif()

set(MHSA_HWY_DISABLED)
if(mhsa_disabled_targets)
  list(JOIN mhsa_disabled_targets "|" mhsa_joined)
  set(MHSA_HWY_DISABLED "HWY_DISABLED_TARGETS=(${mhsa_joined})")
endif()
