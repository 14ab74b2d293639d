# Reads mhsa's version from include/mhsa/version.h, where it is written once,
# into MHSA_VERSION_FROM_HEADER ("major.minor.patch") for project(VERSION).
# Included before project(), so it uses nothing that project() sets.
set(mhsa_version_header ${CMAKE_CURRENT_LIST_DIR}/../include/mhsa/version.h)
file(STRINGS ${mhsa_version_header} mhsa_version_lines
     REGEX "^#define MHSA_VERSION_(MAJOR|MINOR|PATCH) ")
set(MHSA_VERSION_FROM_HEADER "")
foreach(part MAJOR MINOR PATCH)
  if(NOT mhsa_version_lines MATCHES "#define MHSA_VERSION_${part} ([0-9]+)")
    message(FATAL_ERROR "${mhsa_version_header} defines no MHSA_VERSION_${part} number")
  endif()
  list(APPEND MHSA_VERSION_FROM_HEADER ${CMAKE_MATCH_1})
endforeach()
list(JOIN MHSA_VERSION_FROM_HEADER "." MHSA_VERSION_FROM_HEADER)
# An edited header reconfigures the build, so the package's version follows.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${mhsa_version_header})
