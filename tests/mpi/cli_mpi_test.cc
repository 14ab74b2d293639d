// The command across MPI ranks, run as a user runs it: `mpirun -np 3 mhsa
// run --input case.json --parallel heads|sequence` prints exactly what
// `mhsa run --input case.json` prints, for every golden case; rank 0 alone
// reads (standard input reaches only rank 0) and writes; a bad option or a
// case that cannot be run gives one line on stderr and exit code 2 on every
// rank; a result that cannot be written, exit code 1 on every rank.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "shell_run.h"
#include "test_data.h"

namespace mhsa {
namespace {

namespace fs = std::filesystem;

using Result = test::ShellResult;
using test::Slurp;

const nlohmann::json& GoldenCases() {
  static const nlohmann::json cases = test::LoadJson("golden_seed_cases.json")["cases"];
  return cases;
}

class CliMpi : public ::testing::Test {
 protected:
  // A short directory of the test's own, which is also the TMPDIR of the
  // mpirun it starts: Open MPI keeps its session directory there, and two
  // mpirun sharing /tmp/ompi.* race when one removes it as the other starts
  // (ORTE_ERROR_LOG in session_dir.c). Short, because PMIx puts Unix
  // sockets (108-byte paths at most) under it.
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mhsa-mpi-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "tmp");
  }
  // Without mpirun, MPI's singleton start leaves a daemon that removes its
  // session directory a moment after the command exits: retried, not raced.
  void TearDown() override {
    std::error_code error;
    for (int attempt = 0; attempt < 50; ++attempt) {
      fs::remove_all(dir_, error);
      if (!error) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  fs::path Write(const std::string& name, const std::string& text) {
    return test::WriteFile(dir_, name, text);
  }

  // Golden case i as the command reads it.
  fs::path CaseFile(size_t i) {
    const nlohmann::json& c = GoldenCases()[i];
    nlohmann::json input = {{"embedding_dim", c["embedding_dim"]},
                            {"attention_dim", c["attention_dim"]},
                            {"num_heads", c["num_heads"]},
                            {"embedded", c["embedded"]}};
    return Write("case.json", input.dump());
  }

  // `command` through /bin/sh, standard output and error to files, with
  // the tests' environment (mpirun as root, one OpenMP thread per rank)
  // and the test's own TMPDIR.
  Result Shell(const std::string& command) {
    return test::RunShell(std::string("export ") + MHSA_TEST_ENVIRONMENT +
                              " TMPDIR=" + (dir_ / "tmp").string() + "; " + command,
                          dir_ / "stdout", dir_ / "stderr");
  }

  // mpirun for `ranks` ranks, quiet (its own banners would add lines to
  // stderr), allowed more ranks than cores.
  static std::string Mpirun(int ranks) {
    return std::string(MHSA_MPIEXEC) + " " + MHSA_MPIEXEC_NUMPROC_FLAG + " " +
           std::to_string(ranks) + " " + MHSA_MPIEXEC_EXTRA_FLAGS;
  }

  // The command on `ranks` ranks, each rank's exit code kept in
  // dir/rank.<r>; returns them in rank order, one per line.
  Result RunOnRanks(int ranks, const std::string& args, std::string* codes,
                    const std::string& rank_setup = "") {
    const std::string wrapper = "sh -c '" + rank_setup + " \"$0\" \"$@\"; echo $? > " +
                                dir_.string() + "/rank.${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}'";
    const Result r =
        Shell(Mpirun(ranks) + " " + wrapper + " " + MHSA_CLI_PATH + " " + args + " </dev/null");
    codes->clear();
    for (int rank = 0; rank < ranks; ++rank) {
      const fs::path file = dir_ / ("rank." + std::to_string(rank));
      *codes += fs::exists(file) ? Slurp(file) : "missing\n";
    }
    return r;
  }

  static std::string Repeat(const std::string& line, int times) {
    std::string all;
    for (int i = 0; i < times; ++i) all += line;
    return all;
  }

  fs::path dir_;
};

class GoldenCase : public CliMpi, public ::testing::WithParamInterface<int> {};

TEST_P(GoldenCase, HeadsAndSequenceOnThreeRanksPrintWhatOneProcessPrints) {
  const auto i = static_cast<size_t>(GetParam());
  const fs::path input = CaseFile(i);
  const Result single = Shell(std::string(MHSA_CLI_PATH) + " run --input " + input.string());
  ASSERT_EQ(single.exit_code, 0) << single.err;
  for (const char* mode : {"sequence", "heads"}) {
    const Result parallel = Shell(Mpirun(3) + " " + MHSA_CLI_PATH + " run --input " +
                                  input.string() + " --parallel " + mode + " </dev/null");
    EXPECT_EQ(parallel.exit_code, 0) << mode << ": " << parallel.err;
    EXPECT_EQ(parallel.err, "") << mode;
    EXPECT_EQ(parallel.out, single.out) << "golden case " << i << ", --parallel " << mode;
  }
}

INSTANTIATE_TEST_SUITE_P(All, GoldenCase,
                         ::testing::Range(0, static_cast<int>(GoldenCases().size())));

// Under mpirun only rank 0's standard input is connected: the case given
// on a pipe works because rank 0 alone reads it.
TEST_F(CliMpi, StandardInputReachesRankZeroWhichReadsForAll) {
  const fs::path input = CaseFile(10);
  const Result single = Shell(std::string(MHSA_CLI_PATH) + " run --input " + input.string());
  const Result parallel = Shell("cat " + input.string() + " | " + Mpirun(3) + " " + MHSA_CLI_PATH +
                                " run --input /dev/stdin --parallel sequence");
  EXPECT_EQ(parallel.exit_code, 0) << parallel.err;
  EXPECT_EQ(parallel.out, single.out);
}

// Without mpirun the command is one rank of its own.
TEST_F(CliMpi, WithoutMpirunRunsAsOneRank) {
  const fs::path input = CaseFile(26);
  const Result single = Shell(std::string(MHSA_CLI_PATH) + " run --input " + input.string());
  for (const char* mode : {"sequence", "heads"}) {
    const Result alone = Shell(std::string(MHSA_CLI_PATH) + " run --input " + input.string() +
                               " --parallel " + mode + " </dev/null");
    EXPECT_EQ(alone.exit_code, 0) << alone.err;
    EXPECT_EQ(alone.out, single.out) << mode;
  }
}

// --output is written by rank 0 alone, the same text as standard output.
TEST_F(CliMpi, OutputFileWrittenOnceByRankZero) {
  const fs::path input = CaseFile(24), output = dir_ / "out.json";
  const Result single = Shell(std::string(MHSA_CLI_PATH) + " run --input " + input.string());
  std::string codes;
  const Result r = RunOnRanks(
      3, "run --input " + input.string() + " --parallel heads --output " + output.string(), &codes);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(codes, "0\n0\n0\n");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Slurp(output), single.out);
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (entry.path().filename().string().rfind(".mhsa-", 0) == 0) ++files;
  }
  EXPECT_EQ(files, 0u) << "a temporary file was left behind";
}

TEST_F(CliMpi, BadOptionIsOneLineAndExitTwoOnEveryRank) {
  const fs::path input = CaseFile(0);
  std::string codes;
  Result r = RunOnRanks(3, "run --input " + input.string() + " --parallel diagonal", &codes);
  EXPECT_EQ(r.err, "mhsa: expected --parallel heads or --parallel sequence, got 'diagonal'\n");
  EXPECT_EQ(codes, Repeat("2\n", 3));
  EXPECT_EQ(r.out, "");
  r = RunOnRanks(4, "run --parallel sequence --input " + input.string() + " --decimals x", &codes);
  EXPECT_EQ(r.err, "mhsa: expected --decimals to be an integer, got 'x'\n");
  EXPECT_EQ(codes, Repeat("2\n", 4));
  r = RunOnRanks(2, "run --parallel heads", &codes);
  EXPECT_EQ(r.err, std::string("mhsa: expected --input; ") + cli::kUsage + "\n");
  EXPECT_EQ(codes, Repeat("2\n", 2));
}

// Cases that cannot be run, found on rank 0 (which reads) or by the layer
// on every rank: one line, from rank 0, and exit code 2 everywhere.
TEST_F(CliMpi, CaseThatCannotRunIsOneLineAndExitTwoOnEveryRank) {
  struct Bad {
    std::string text, message;
  };
  const Bad bad[] = {
      {R"({"embedding_dim": 2, "attention_dim": 6, "num_heads": 4, "embedded": [[[1, 2]]]})",
       "mhsa: expected attention_dim to be a multiple of num_heads, got attention_dim 6 and "
       "num_heads 4\n"},
      {R"({"embedding_dim": 2, "attention_dim": 4, "num_heads": 2, "embedded": [[[1, 2]]])", ""},
  };
  for (const char* mode : {"sequence", "heads"}) {
    for (const Bad& b : bad) {
      const fs::path input = Write("bad.json", b.text);
      std::string codes;
      const Result r =
          RunOnRanks(3, "run --input " + input.string() + " --parallel " + mode, &codes);
      if (!b.message.empty()) {
        EXPECT_EQ(r.err, b.message) << mode;
      }
      EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
      EXPECT_EQ(r.err.rfind("mhsa: ", 0), 0u) << r.err;
      EXPECT_EQ(codes, Repeat("2\n", 3)) << mode << ": " << r.err;
      EXPECT_EQ(r.out, "");
    }
    std::string codes;
    const Result r = RunOnRanks(
        3, "run --input " + (dir_ / "missing.json").string() + " --parallel " + mode, &codes);
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
    EXPECT_EQ(codes, Repeat("2\n", 3)) << r.err;
  }
}

// Rank 0 cannot write the result (a file size limit of 8 KiB, below the
// output's 50 KB): exit code 1 on every rank, one line. The ranks talk over
// TCP here: Open MPI's shared-memory transport backs its segment with a
// file, which the limit would refuse.
TEST_F(CliMpi, WriteFailureIsExitOneOnEveryRank) {
  const std::string limit = "trap \"\" XFSZ; ulimit -f 16;";
  // The clang/libomp ThreadSanitizer build faults (SIGBUS) under a file
  // size limit before it computes anything: the test needs a build that
  // runs the demo under it.
  if (Shell("sh -c '" + limit + " " + MHSA_CLI_PATH + " demo'").exit_code != 0) {
    GTEST_SKIP() << "the command cannot start under " << limit;
  }
  const fs::path input = CaseFile(25), output = dir_ / "out.json";
  std::string codes;
  const Result r = RunOnRanks(
      3, "run --input " + input.string() + " --parallel sequence --output " + output.string(),
      &codes, "export OMPI_MCA_btl=self,tcp; " + limit);
  EXPECT_EQ(codes, Repeat("1\n", 3)) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  EXPECT_EQ(r.err, "mhsa: cannot write '" + output.string() + "': File too large\n");
  EXPECT_FALSE(fs::exists(output));
}

}  // namespace
}  // namespace mhsa
