# How mhsa's own targets are compiled. No -march flag (it would raise the
# baseline and defeat run-time dispatch) and no fast-math flag (it breaks -inf
# masking and NaN checks): both are deliberately absent.
#
# MHSA_WERROR makes the warnings errors. Off by default: a compiler newer or
# other than the ones CI builds with (gcc 12, clang 14) may warn about code
# that is fine, and a user's build should not break on that. CI turns it on
# for every build it makes (the presets read it from the environment).
option(MHSA_WERROR "Treat warnings in mhsa's own targets as errors" OFF)

function(mhsa_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wconversion -Wsign-conversion -Wvla -Wshadow)
  if(MHSA_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# The warnings, and every multiply and add rounded as the source writes it:
# -ffp-contract=off, so that the compiler never fuses a separate multiply
# and add into one FMA (GCC does by default, wherever inlining puts them
# side by side). The kernels ask for their FMAs explicitly (MulAdd); a fused
# pair that the compiler chose would make the bits of a result depend on
# how a function was inlined on one path: a grouped-query decode step whose
# rows shared their reads of k and v differed in the last bit from the same
# rows read one by one. Every target that compiles mhsa's arithmetic (the
# library, its reference, the tests and benchmarks that instantiate its
# kernels) takes these; the peers keep their own flags.
function(mhsa_set_compile_options target)
  mhsa_set_warnings(${target})
  target_compile_options(${target} PRIVATE -ffp-contract=off)
endfunction()
