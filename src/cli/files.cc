#include "files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <string>

#include "case_io.h"

namespace mhsa {
namespace cli {
namespace {

// A path as messages show it: paths come from the command line, but are
// still bounded and escaped like any other echoed text.
std::string Shown(const std::string& path) { return Excerpt(path, 200); }

std::string Reason(int error) { return std::strerror(error); }

// Closes a descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, for the caller to check: close can report a write that
  // failed late (NFS, quotas). Returns 0 or errno.
  int Close() {
    const int result = close(fd_);
    fd_ = -1;
    return result == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// Writes all of [data, data + size) to fd. Returns 0 or errno.
int WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // No progress and no reason: do not spin.
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

// "dir/name" -> "dir" and "name"; "name" -> "." and "name"; "/name" -> "/".
std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A new file .mhsa-XXXXXX in the directory `dir_fd`, created with mode 0666
// less the umask, as any new output would be. Returns its descriptor and
// name, or -1 with errno set.
int CreateTemporary(int dir_fd, std::string* name) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device random;
  std::uniform_int_distribution<size_t> pick(0, sizeof kChars - 2);
  for (int attempt = 0; attempt < 100; ++attempt) {
    *name = ".mhsa-";
    for (int i = 0; i < 6; ++i) *name += kChars[pick(random)];
    const int fd =
        openat(dir_fd, name->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

// Rewrites the existing file `path` in place: every hard link keeps seeing
// it. Returns 0 or errno.
int RewriteInPlace(const std::string& path, const std::string& text) {
  Fd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return errno;
  if (!text.empty()) {
    // Reserve the blocks first: a full disk or quota then fails here, with
    // the old content intact. Filesystems without the call go on unreserved.
    const int reserved = posix_fallocate(fd.get(), 0, static_cast<off_t>(text.size()));
    if (reserved != 0 && reserved != EOPNOTSUPP && reserved != EINVAL) return reserved;
  }
  if (const int error = WriteAll(fd.get(), text.data(), text.size()); error != 0) return error;
  if (ftruncate(fd.get(), static_cast<off_t>(text.size())) != 0) return errno;
  if (fsync(fd.get()) != 0) return errno;
  return fd.Close();
}

// Writes `text` to a temporary file beside `path` and renames it over
// `path`; `existing` is the target's stat when it exists, else null.
// Returns 0 or errno; on failure the temporary file is gone.
int ReplaceThroughTemporary(const std::string& path, const std::string& text,
                            const struct stat* existing) {
  Fd dir(open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return errno;
  std::string temporary;
  Fd fd(CreateTemporary(dir.get(), &temporary));
  if (fd.get() < 0) return errno;
  int error = 0;
  if (existing != nullptr) {
    // The replacement keeps the file's permissions and, where the process
    // may (root, or the owner keeping its own group), its owner.
    if (fchmod(fd.get(), existing->st_mode & 07777) != 0) error = errno;
    if (error == 0 && fchown(fd.get(), existing->st_uid, existing->st_gid) != 0) {
      // Not permitted: the file becomes the writer's, as with any editor.
    }
  }
  if (error == 0) error = WriteAll(fd.get(), text.data(), text.size());
  // Some filesystems report a failed write only here (NFS, quotas).
  if (error == 0 && fsync(fd.get()) != 0) error = errno;
  if (const int closed = fd.Close(); error == 0) error = closed;
  if (error == 0 &&
      renameat(dir.get(), temporary.c_str(), dir.get(), BaseName(path).c_str()) != 0) {
    error = errno;
  }
  if (error != 0) unlinkat(dir.get(), temporary.c_str(), 0);
  return error;
}

}  // namespace

std::string ReadInput(const std::string& path, uint64_t max_bytes, const std::string& why_max) {
  if (path.empty()) throw CaseError("expected --input to name a file, got an empty string");
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw CaseError("cannot read " + Shown(path) + ": " + Reason(errno));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    throw CaseError("cannot read " + Shown(path) + ": " + Reason(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    throw CaseError("expected --input to be a file, " + Shown(path) + " is a directory");
  }
  const std::string too_long = "expected --input to hold at most " + std::to_string(max_bytes) +
                               " bytes (" + why_max + "), " + Shown(path);
  std::string text;
  if (S_ISREG(st.st_mode)) {
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size > max_bytes) throw CaseError(too_long + " holds " + std::to_string(size));
    text.reserve(static_cast<size_t>(size));
  }
  // Pipes and devices say how long they are only by ending; /dev/zero never
  // does. Read until the end or one byte past the bound.
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw CaseError("cannot read " + Shown(path) + ": " + Reason(errno));
    }
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > max_bytes) throw CaseError(too_long + " holds more");
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

std::string ResolveOutput(const std::string& path) {
  if (path.empty()) throw CaseError("expected --output to name a file, got an empty string");
  std::string target = path;
  // Follow symbolic links one at a time, so that the rename replaces the
  // file a link points to, never the link. 40 is Linux's own limit.
  for (int links = 0; links <= 40; ++links) {
    struct stat st;
    if (lstat(target.c_str(), &st) != 0) {
      if (errno != ENOENT) throw CaseError("cannot write " + Shown(path) + ": " + Reason(errno));
      // A new file (or a dangling link's target, which is created as the
      // shell's > would): its directory must exist.
      const std::string dir = DirName(target);
      struct stat dir_st;
      if (BaseName(target).empty()) {
        throw CaseError("expected --output to name a file, got " + Shown(path));
      }
      if (stat(dir.c_str(), &dir_st) != 0) {
        throw CaseError("cannot write " + Shown(path) + ": " + Reason(errno));
      }
      if (!S_ISDIR(dir_st.st_mode)) {
        throw CaseError("cannot write " + Shown(path) + ": " + Reason(ENOTDIR));
      }
      return target;
    }
    if (S_ISREG(st.st_mode)) return target;
    if (!S_ISLNK(st.st_mode)) {
      throw CaseError("expected --output to be a regular file or a new path, " + Shown(path) +
                      " is " + KindOf(st.st_mode));
    }
    // st_size is the link's length, except for /proc's links (0).
    std::string link(std::max<size_t>(static_cast<size_t>(st.st_size), 4096) + 1, '\0');
    const ssize_t n = readlink(target.c_str(), link.data(), link.size());
    if (n < 0) throw CaseError("cannot write " + Shown(path) + ": " + Reason(errno));
    link.resize(static_cast<size_t>(n));
    if (link.empty() || link[0] != '/') link.insert(0, DirName(target) + "/");
    target = link;
  }
  throw CaseError("cannot write " + Shown(path) + ": " + Reason(ELOOP));
}

void WriteOutput(const std::string& path, const std::string& text) {
  struct stat st;
  const bool exists = lstat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {  // Changed since ResolveOutput.
    throw WriteError("cannot write " + Shown(path) + ": it is now " + KindOf(st.st_mode));
  }
  const int error = exists && st.st_nlink > 1
                        ? RewriteInPlace(path, text)
                        : ReplaceThroughTemporary(path, text, exists ? &st : nullptr);
  if (error != 0) throw WriteError("cannot write " + Shown(path) + ": " + Reason(error));
}

void WriteStandardOutput(const std::string& text) {
  if (const int error = WriteAll(STDOUT_FILENO, text.data(), text.size()); error != 0) {
    throw WriteError("cannot write standard output: " + Reason(error));
  }
}

}  // namespace cli
}  // namespace mhsa
