// Running the command from tests: through /bin/sh, with its standard output
// and error captured in files and read back.
#ifndef MHSA_TESTS_SHELL_RUN_H_
#define MHSA_TESTS_SHELL_RUN_H_

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace mhsa {
namespace test {

struct ShellResult {
  int exit_code = -1;  // -1 after a crash (a signal), which no test accepts
  std::string out, err;
};

// The whole file, or "" if it cannot be read.
inline std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `text` to dir/name and returns the path.
inline std::filesystem::path WriteFile(const std::filesystem::path& dir, const std::string& name,
                                       const std::string& text) {
  const std::filesystem::path path = dir / name;
  std::ofstream(path) << text;
  return path;
}

// Runs `command` through /bin/sh, its standard output to `out` (read back
// when it is a regular file: not /dev/full, say) and its standard error to
// `err`.
inline ShellResult RunShell(const std::string& command, const std::filesystem::path& out,
                            const std::filesystem::path& err) {
  const std::string line = command + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(line.c_str());
  ShellResult r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (std::filesystem::is_regular_file(out)) r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_SHELL_RUN_H_
