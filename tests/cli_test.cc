// The `mhsa` command run as a subprocess: good cases reproduce the golden
// outputs; every kind of bad input gives one line on stderr, exit code 2, and
// no output file.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "golden_check.h"
#include "mhsa/mhsa.h"
#include "test_data.h"

namespace mhsa {
namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mhsa_cli_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }

  Result Run(const std::string& args, const std::string& env = "") {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string command = env + " " + std::string(MHSA_CLI_PATH) + " " + args + " >" +
                                out.string() + " 2>" + err.string() + " </dev/null";
    const int status = std::system(command.c_str());
    Result r;
    // A crash (signal) leaves exit_code at -1, which no test accepts.
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.out = Slurp(out);
    r.err = Slurp(err);
    return r;
  }

  // Bad input: exit 2, exactly one line on stderr naming `needle`, nothing on
  // stdout, and the requested output file never created.
  void ExpectRefused(const std::string& case_text, const std::string& needle) {
    const fs::path input = Write("case.json", case_text);
    const fs::path output = dir_ / "out.json";
    const Result r = Run("run --input " + input.string() + " --output " + output.string());
    EXPECT_EQ(r.exit_code, 2) << case_text.substr(0, 200);
    EXPECT_TRUE(r.out.empty()) << r.out;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err << " lacks " << needle;
    // Whatever the input holds, the message quotes a short excerpt of it.
    EXPECT_LT(r.err.size(), kMaxMessageBytes) << r.err.substr(0, kMaxMessageBytes);
    EXPECT_FALSE(fs::exists(output)) << case_text.substr(0, 200);
  }

  static constexpr size_t kMaxMessageBytes = 400;

  fs::path dir_;
};

TEST_F(CliTest, DemoPrintsTheExample) {
  const Result r = Run("demo");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The problem's first golden case, rounded to 4 decimals.
  EXPECT_NE(r.out.find("[[[0.9293,-0.9269,0.9293,-0.9269],[0.3582,-0.5344,0.3582,-0.5344]]]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("shape (1, 2, 4)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("served by SIMD target: "), std::string::npos) << r.out;
}

TEST_F(CliTest, RunReproducesGoldenCases) {
  const auto doc = test::LoadJson("golden_seed_cases.json");
  int index = 0;
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE("case " + std::to_string(index++));
    nlohmann::json input = c;
    input.erase("expected");
    const fs::path in = Write("case.json", input.dump());
    const fs::path out = dir_ / "out.json";
    const Result r = Run("run --input " + in.string() + " --output " + out.string());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto got = nlohmann::json::parse(Slurp(out));
    const test::GoldenVerdict verdict = test::CheckGolden(
        c["embedding_dim"].get<int>(), c["attention_dim"].get<int>(), c["num_heads"].get<int>(),
        test::Flat(c["embedded"]), static_cast<int>(c["embedded"].size()),
        static_cast<int>(c["embedded"][0].size()), test::Flat(c["expected"]),
        test::Flat(got["output"]));
    for (const auto& failure : verdict.failures) ADD_FAILURE() << failure;
    EXPECT_EQ(verdict.exact + verdict.ties.size(), test::Flat(c["expected"]).size());
  }
}

TEST_F(CliTest, RunToStdoutAndDecimals) {
  const fs::path in = Write("case.json",
                            R"({"embedding_dim": 1, "attention_dim": 1, "num_heads": 1,
                                "embedded": [[[-0.1262]]]})");
  Result r = Run("run --input " + in.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"output\":[[[0.1039]]]}\n");
  r = Run("run --input " + in.string() + " --decimals 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"output\":[[[0.1]]]}\n");
}

TEST_F(CliTest, RefusesBadInput) {
  const std::string good_head = R"("embedding_dim": 2, "attention_dim": 4, "num_heads": 2, )";
  ExpectRefused("{\"embedding_dim\": 2, \"attention", "JSON");                   // truncated
  ExpectRefused("{embedding_dim: 2}", "JSON");                                   // malformed
  ExpectRefused("{" + good_head + "\"embedded\": [[[1, 1e400]]]}", "overflow");  // beyond double
  // A huge claimed width with short rows: refused for its shape, not by
  // running out of memory reserving for the claim.
  ExpectRefused(R"({"embedding_dim": 2147483647, "attention_dim": 1, "num_heads": 1,
                    "embedded": [[[1]], [[1]], [[1]], [[1]]]})",
                "embedding_dim = 2147483647");
  ExpectRefused("[1, 2]", "object");  // not an object
  ExpectRefused(R"({"attention_dim": 4, "num_heads": 2, "embedded": [[[1, 2]]]})",
                "embedding_dim");                                              // missing field
  ExpectRefused("{" + good_head + "\"embedded\": [[[1, \"x\"]]]}", "number");  // non-number
  ExpectRefused("{" + good_head + "\"embedded\": [[[1, 2], [3]]]}", "embedding_dim = 2");
  ExpectRefused("{" + good_head + "\"embedded\": [[[1, 2]], [[1, 2], [3, 4]]]}", "rows");
  ExpectRefused("{" + good_head + "\"embedded\": []}", "non-empty");
  ExpectRefused("{" + good_head + "\"embedded\": [[[1, 2, 3]]]}", "embedding_dim = 2");
  ExpectRefused("{" + good_head + "\"embedded\": [[[1, 1e39]]]}", "float32");
  ExpectRefused(
      R"({"embedding_dim": 2, "attention_dim": 6, "num_heads": 4, "embedded": [[[1, 2]]]})",
      "multiple");  // does not divide
  ExpectRefused(
      R"({"embedding_dim": 2.5, "attention_dim": 4, "num_heads": 2, "embedded": [[[1, 2]]]})",
      "integer");
  ExpectRefused(
      R"({"embedding_dim": 0, "attention_dim": 4, "num_heads": 2, "embedded": [[[1, 2]]]})",
      "embedding_dim");
  ExpectRefused(
      R"({"embedding_dim": 2, "attention_dim": 99999999999, "num_heads": 1, "embedded": [[[1, 2]]]})",
      "attention_dim");
  ExpectRefused(
      R"({"embedding_dim": 2, "attention_dim": 2000000000, "num_heads": 1, "embedded": [[[1, 2]]]})",
      "memory");
}

// Integers beyond int64 were read through a signed cast: 2^64 - 1 was
// reported as "found -1" and 2^63 as negative.
TEST_F(CliTest, RefusesSizesOutOfRangeWithTheirTrueValue) {
  const std::string tail = R"(, "attention_dim": 4, "num_heads": 2, "embedded": [[[1, 2]]]})";
  for (const std::string& size :
       {std::string("18446744073709551615"), std::string("9223372036854775808"),
        std::string("9223372036854775807"), std::string("2147483648"), std::string("0"),
        std::string("-1"), std::string("-9223372036854775808")}) {
    ExpectRefused(R"({"embedding_dim": )" + size + tail,
                  "\"embedding_dim\" to be an integer in [1, 2147483647], found " + size);
  }
  // Beyond 2^64 the parser keeps a double: still an integer, still named so.
  ExpectRefused(R"({"embedding_dim": 100000000000000000000)" + tail,
                "to be an integer in [1, 2147483647], found 1e+20");
}

// The decimal is read as the nearest double and rounded to float32, as
// Python's json and torch.tensor read a case: what rounds to FLT_MAX is
// accepted (3.4028235e+38 is how numpy and torch print it), what rounds to
// infinity (the midpoint 2^128 - 2^103 and beyond) is refused.
TEST_F(CliTest, AcceptsEveryDecimalThatRoundsToAFiniteFloat) {
  const std::string head = R"({"embedding_dim": 1, "attention_dim": 1, "num_heads": 1, )";
  for (const std::string& value :
       {std::string("3.4028235e+38"), std::string("-3.4028235e+38"), std::string("3.40282356e38"),
        std::string("340282346638528859811704183484516925440"),
        std::string("3.402823567797336e38")}) {
    const fs::path in = Write("case.json", head + R"("embedded": [[[)" + value + "]]]}");
    const Result r = Run("run --input " + in.string());
    EXPECT_EQ(r.exit_code, 0) << value << ": " << r.err;
    // One token whose logit q·k overflows: a NaN row, written as null.
    EXPECT_EQ(r.out, "{\"output\":[[[null]]]}\n") << value;
  }
  for (const std::string& value : {std::string("3.4028235677973366e38"),
                                   std::string("340282356779733661637539395458142568448"),
                                   std::string("-3.4028236e+38"), std::string("1e39")}) {
    ExpectRefused(head + R"("embedded": [[[)" + value + "]]]}", "finite float32");
  }
}

// Values that were echoed whole into the message: a 100,000-deep array (the
// recursive echo overflowed the stack), megabytes of string, array or digits.
TEST_F(CliTest, RefusesHugeOrDeepValuesInOneShortLine) {
  const std::string tail = R"(, "attention_dim": 4, "num_heads": 2, "embedded": [[[1, 2]]]})";
  const size_t deep = 100000;
  ExpectRefused(R"({"embedding_dim": )" + std::string(deep, '[') + std::string(deep, ']') + tail,
                "nested");
  // Deep inside embedded, and deep but unbalanced: refused before parsing.
  ExpectRefused(R"({"embedding_dim": 2, "attention_dim": 4, "num_heads": 2, "embedded": )" +
                    std::string(deep, '[') + std::string(deep, ']') + "}",
                "nested");
  ExpectRefused(std::string(deep, '{'), "nested");
  // Brackets inside strings are not nesting.
  ExpectRefused(R"({"embedding_dim": ")" + std::string(deep, '[') + "\"" + tail, "a string '[[[");
  const std::string mega(1 << 20, 'x');
  ExpectRefused(R"({"embedding_dim": ")" + mega + "\"" + tail, "a string 'xxx");
  ExpectRefused(R"({"embedding_dim": 2, "attention_dim": 4, "num_heads": 2, "embedded": [[[1, ")" +
                    mega + "\"]]]}",
                "a string 'xxx");
  std::string numbers = "[1";
  for (int i = 0; i < 200000; ++i) numbers += ",1";
  ExpectRefused(R"({"embedding_dim": )" + numbers + "]" + tail, "an array of 200001 elements");
  ExpectRefused(R"({"embedding_dim": 2, "attention_dim": 4, "num_heads": 2, "embedded": [[[1, )" +
                    numbers + "]]]]}",
                "an array of 200001 elements");
  ExpectRefused(R"({"embedding_dim": ")" + mega + tail, "JSON");  // Unterminated string.
  ExpectRefused(R"({"embedding_dim": 1)" + std::string(1 << 20, '0') + tail, "overflow");
  ExpectRefused("\x01\xff" + mega, "JSON");  // Not text at all.
}

TEST_F(CliTest, HonoursAndChecksMhsaTarget) {
  // The last target is the fallback (SCALAR or EMU128 on x86, NEON on Arm):
  // never the default choice where there is more than one.
  const std::string last = AvailableTargets().back();
  const Result forced = Run("demo", "MHSA_TARGET=" + last);
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.out.find("served by SIMD target: " + last + "\n"), std::string::npos)
      << forced.out;
  // Names match in any case, as in the library.
  std::string lower = last;
  for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  const Result lower_case = Run("demo", "MHSA_TARGET=" + lower);
  ASSERT_EQ(lower_case.exit_code, 0) << lower_case.err;
  EXPECT_NE(lower_case.out.find("served by SIMD target: " + last + "\n"), std::string::npos)
      << lower_case.out;
  const Result bad = Run("demo", "MHSA_TARGET=AVX9000");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(bad.out.empty());
  EXPECT_NE(bad.err.find("AVX9000"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.find('\n'), bad.err.size() - 1) << bad.err;
}

TEST_F(CliTest, RefusesBadCommandLines) {
  const fs::path missing = dir_ / "no_such_file.json";
  const fs::path output = dir_ / "out.json";
  for (const std::string& args :
       {std::string(""), std::string("frobnicate"), std::string("run"),
        "run --input " + missing.string() + " --output " + output.string(),
        std::string("run --input"), std::string("run --bogus 1"),
        std::string("run --input x.json --decimals two"),
        std::string("run --input x.json --decimals 99")}) {
    const Result r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_TRUE(r.out.empty()) << args;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << args << ": " << r.err;
    EXPECT_FALSE(fs::exists(output)) << args;
  }
}

}  // namespace
}  // namespace mhsa
