// mhsa's version, written only here: CMake reads these three numbers for
// project(VERSION) and the installed package's version file
// (cmake/MhsaVersion.cmake), and the installed-package test checks that the
// package a user finds reports the version of the header it installs.
#ifndef MHSA_VERSION_H_
#define MHSA_VERSION_H_

#define MHSA_VERSION_MAJOR 0
#define MHSA_VERSION_MINOR 2
#define MHSA_VERSION_PATCH 0

// One number for preprocessor comparisons, as fmt's FMT_VERSION:
// 0.2.0 is 200, 1.12.3 would be 11203.
#define MHSA_VERSION (MHSA_VERSION_MAJOR * 10000 + MHSA_VERSION_MINOR * 100 + MHSA_VERSION_PATCH)

// "0.2.0", spelled from the numbers above so that it cannot disagree with them.
#define MHSA_VERSION_STRINGIFY_(x) #x
#define MHSA_VERSION_STRINGIFY(x) MHSA_VERSION_STRINGIFY_(x)
#define MHSA_VERSION_STRING                  \
  MHSA_VERSION_STRINGIFY(MHSA_VERSION_MAJOR) \
  "." MHSA_VERSION_STRINGIFY(MHSA_VERSION_MINOR) "." MHSA_VERSION_STRINGIFY(MHSA_VERSION_PATCH)

#endif  // MHSA_VERSION_H_
