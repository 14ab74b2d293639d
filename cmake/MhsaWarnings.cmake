# Warnings for mhsa's own targets. No -march flag (it would raise the
# baseline and defeat run-time dispatch) and no fast-math flag (it breaks -inf
# masking and NaN checks): both are deliberately absent.
function(mhsa_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wconversion -Wsign-conversion -Wvla -Wshadow)
endfunction()
