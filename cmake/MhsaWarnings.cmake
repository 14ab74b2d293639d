# Warnings for mhsa's own targets. No -march flag (it would raise the
# baseline and defeat run-time dispatch) and no fast-math flag (it breaks -inf
# masking and NaN checks): both are deliberately absent.
#
# MHSA_WERROR makes them errors. Off by default: a compiler newer or other
# than the ones CI builds with (gcc 12, clang 14) may warn about code that
# is fine, and a user's build should not break on that. CI turns it on for
# every build it makes (the presets read it from the environment).
option(MHSA_WERROR "Treat warnings in mhsa's own targets as errors" OFF)

function(mhsa_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wconversion -Wsign-conversion -Wvla -Wshadow)
  if(MHSA_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
