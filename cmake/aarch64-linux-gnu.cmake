# Cross build for 64-bit Arm Linux on a Debian x86-64 host, tests run under
# qemu-user. What it needs (.ci/arm64 installs it): g++-aarch64-linux-gnu,
# qemu-user, and the arm64 builds of libhwy-dev and libgtest-dev, which
# Debian's multiarch installs beside the amd64 ones (both are Multi-Arch: same).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Debian puts arm64 libraries and their CMake packages in
# /usr/lib/aarch64-linux-gnu; naming the architecture makes find_package look
# there (and not in the host's x86_64 directory). Headers in /usr/include are
# shared by both architectures; arch-independent packages such as
# nlohmann_json live in /usr/share/cmake and are found as on the host.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# ctest (and gtest_discover_tests) run every test binary through qemu-user.
# Deliberately without -L /usr/aarch64-linux-gnu (QEMU_LD_PREFIX): libhwy1:arm64
# pulls in Debian's libc6:arm64, whose /etc/ld.so.cache entry the cross
# toolchain's loader would then pair with its own, older build of ld.so; the
# two disagree on the loader's private data and the first pthread_create
# spins forever in glibc's stack cache. Without a prefix, qemu uses the
# multiarch loader /lib/ld-linux-aarch64.so.1 and every library comes from
# Debian's arm64 packages (.ci/arm64 installs libgomp1:arm64 and
# libstdc++6:arm64 for that).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)

# pkg-config knows nothing of cross builds: point it at the target's
# packages only, so that the host's x86-64 .pc files (cairo's, say) are not
# taken for the target's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
