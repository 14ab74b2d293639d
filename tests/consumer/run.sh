#!/usr/bin/env bash
# Installs mhsa from the build tree into a temporary prefix, then configures,
# builds and runs tests/consumer against it: proves the exported package.
# The plain consumer must not link MPI even when the package has mhsa::mpi;
# the MPI consumer, when built, runs as one rank (no mpirun).
set -euo pipefail
build_dir=$1 source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
# The installed package is the library: its public headers, libmhsa.a and
# the package files; no reference code, no private headers.
library=$(find "$work/prefix" -name libmhsa.a)
if nm -C "$library" | grep -q "mhsa::ref::"; then
  echo "the installed libmhsa.a contains the reference (mhsa::ref)" >&2
  exit 1
fi
extra=$(find "$work/prefix/include" -type f ! -path "*/include/mhsa/*.h")
if [[ -n "$extra" ]]; then
  echo "installed headers outside include/mhsa: $extra" >&2
  exit 1
fi
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
if ldd "$work/build/consumer" | grep -q libmpi; then
  echo "consumer of mhsa::mhsa links MPI" >&2
  exit 1
fi
if [[ -x "$work/build/consumer_mpi" ]]; then
  # Under the asan preset, LeakSanitizer would report what Open MPI leaves in
  # the components MPI_Finalize unloads, which it cannot attribute to a
  # library to suppress. This program proves packaging; mhsa::mpi's own leaks
  # are checked by its tests, before MPI_Finalize (src/mpi/leak_check.h).
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$work/build/consumer_mpi"
fi
