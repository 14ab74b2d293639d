// The `mhsa` command's files: reading the case, writing the result. Every
// failure is one line naming the path and, for a failed system call, why
// (strerror).
#ifndef MHSA_SRC_CLI_FILES_H_
#define MHSA_SRC_CLI_FILES_H_

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mhsa {
namespace cli {

// The result could not be written although the input was good; the command
// exits 1 for it (2 is for refused input).
struct WriteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The whole of the file, pipe or device at `path`, refused (CaseError) when
// it is a directory, cannot be read, or holds more than `max_bytes`: a
// regular file by its size before any read, anything else (/dev/zero, a pipe
// that never ends) after reading max_bytes + 1. `why_max` says where the
// bound comes from, for the message.
std::string ReadInput(const std::string& path, uint64_t max_bytes, const std::string& why_max);

// Where --output writes, decided before any work: `path` with symbolic links
// followed to their final target (which need not exist yet). Refused
// (CaseError) when `path` is empty, when the target exists and is not a
// regular file (a directory, FIFO, socket or device), or when its directory
// cannot be used.
std::string ResolveOutput(const std::string& path);

// Writes `text` as the whole content of the file `path` (from ResolveOutput)
// so that a failure leaves the old content, or no file, behind: through a
// temporary file in the same directory (.mhsa-XXXXXX, a name that fits any
// NAME_MAX) renamed over the target, which keeps an existing file's mode
// (and owner, where permitted). A file with more than one hard link is
// rewritten in place instead, so that every name keeps seeing it: its space
// is reserved first (posix_fallocate), so a full disk fails before the old
// content is touched; only an I/O error in the middle of the write can leave
// it part old, part new. Throws WriteError naming the path and the reason.
void WriteOutput(const std::string& path, const std::string& text);

// Writes `text` to standard output, every byte, or throws WriteError with
// the reason (a full disk, a closed pipe's EPIPE when SIGPIPE is ignored).
void WriteStandardOutput(const std::string& text);

}  // namespace cli
}  // namespace mhsa

#endif  // MHSA_SRC_CLI_FILES_H_
