// The `mhsa` command run as a subprocess: good cases reproduce the golden
// outputs; every kind of bad input gives one line on stderr, exit code 2, and
// no output file.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#ifdef MHSA_WITH_CAIRO
#include <cairo.h>

#include "cli/show.h"
#endif

#include "golden_check.h"
#include "mhsa/mhsa.h"
#include "shell_run.h"
#include "test_data.h"

namespace mhsa {
namespace {

namespace fs = std::filesystem;

using Result = test::ShellResult;
using test::Slurp;

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
    return test::WriteFile(dir_, name, text);
  }

  // Runs the command through /bin/sh; `env` is placed before it (variable
  // assignments, or shell commands ending in ';'), `stdout_path` receives
  // its standard output (read back unless it is not a regular file).
  Result Run(const std::string& args, const std::string& env = "",
             const std::string& stdout_path = "") {
    const fs::path out = stdout_path.empty() ? dir_ / "stdout" : fs::path(stdout_path);
    return test::RunShell(env + " " + std::string(MHSA_CLI_PATH) + " " + args + " </dev/null", out,
                          dir_ / "stderr");
  }

  // Exit `code` with exactly one line on stderr naming `needle`.
  static void ExpectOneLine(const Result& r, int code, const std::string& needle,
                            const std::string& what) {
    EXPECT_EQ(r.exit_code, code) << what << ": " << r.err;
    ASSERT_FALSE(r.err.empty()) << what;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << what << ", not one line: " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos)
        << what << ": " << r.err << " lacks " << needle;
  }

  // A small good case: batch 1, `context` tokens of embedding_dim 2, output
  // attention_dim 4 (about 30 bytes of output per token).
  fs::path GoodCase(int context = 2) {
    std::string rows;
    for (int t = 0; t < context; ++t) rows += (t ? ", " : "") + std::string("[0.5, -0.25]");
    return Write("case.json", R"({"embedding_dim": 2, "attention_dim": 4, "num_heads": 2,
                                 "embedded": [[)" +
                                  rows + "]]}");
  }

  // Whether the command starts at all under `limit` (ulimit -v): a
  // sanitizer build maps terabytes of shadow memory first and cannot.
  bool StartsUnder(const std::string& limit) { return Run("--help", limit).exit_code == 0; }

  // The names in the test directory that are not `keep`: a temporary file
  // left behind shows up here.
  std::vector<std::string> Leftovers(const std::vector<std::string>& keep) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (std::find(keep.begin(), keep.end(), name) == keep.end()) names.push_back(name);
    }
    return names;
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
    test::ExpectGolden(
        test::CheckGolden(c["embedding_dim"].get<int>(), c["attention_dim"].get<int>(),
                          c["num_heads"].get<int>(), test::Flat(c["embedded"]),
                          static_cast<int>(c["embedded"].size()),
                          static_cast<int>(c["embedded"][0].size()), test::Flat(c["expected"]),
                          test::Flat(got["output"])),
        test::Flat(c["expected"]).size());
  }
}

// `mhsa show` draws one heatmap per (sequence, head). The PNG is decoded
// and checked where the layout says each cell is: every cell above the
// diagonal has the mask colour, none below it does, and the picture is not
// blank (the first query sees only itself, probability 1, the last of 48
// queries far less).
TEST_F(CliTest, ShowDrawsAttentionMaps) {
#ifndef MHSA_WITH_CAIRO
  GTEST_SKIP() << "built without cairo: `mhsa show` is left out";
#else
  const auto doc = test::LoadJson("golden_seed_cases.json");
  nlohmann::json c = doc["cases"][24];  // 2 sequences of 48, 4 heads.
  c.erase("expected");
  const fs::path in = Write("case.json", c.dump()), png = dir_ / "maps.png";
  const Result r = Run("show --input " + in.string() + " --output " + png.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int batch = 2, heads = 4, context = 48;
  const cli::HeatmapLayout layout(batch, heads, context);
  cairo_surface_t* image = cairo_image_surface_create_from_png(png.c_str());
  ASSERT_EQ(cairo_surface_status(image), CAIRO_STATUS_SUCCESS) << "not a PNG";
  EXPECT_EQ(cairo_image_surface_get_width(image), layout.width);
  EXPECT_EQ(cairo_image_surface_get_height(image), layout.height);
  const unsigned char* pixels = cairo_image_surface_get_data(image);
  const int stride = cairo_image_surface_get_stride(image);
  // The colour at the centre of cell (i, j) of panel p, as 0xRRGGBB.
  const auto cell = [&](int p, int i, int j) {
    const int x = static_cast<int>(layout.PanelX(p) + (j + 0.5) * layout.cell);
    const int y = static_cast<int>(layout.PanelY(p) + (i + 0.5) * layout.cell);
    uint32_t argb;
    std::memcpy(&argb, pixels + y * stride + x * 4, 4);
    return argb & 0xFFFFFF;
  };
  const uint32_t mask = (uint32_t{cli::kMaskColour[0]} << 16) |
                        (uint32_t{cli::kMaskColour[1]} << 8) | cli::kMaskColour[2];
  for (int p = 0; p < batch * heads; ++p) {
    int masked_wrong = 0, visible_masked = 0;
    for (int i = 0; i < context; ++i) {
      for (int j = 0; j < context; ++j) {
        const bool is_mask = cell(p, i, j) == mask;
        if (j > i && !is_mask) ++masked_wrong;
        if (j <= i && is_mask) ++visible_masked;
      }
    }
    EXPECT_EQ(masked_wrong, 0) << "panel " << p << ": cells above the diagonal not masked";
    EXPECT_EQ(visible_masked, 0) << "panel " << p << ": visible cells drawn as masked";
    EXPECT_NE(cell(p, 0, 0), cell(p, context - 1, 0)) << "panel " << p << " is blank";
  }
  cairo_surface_destroy(image);
  // What it cannot draw is refused.
  nlohmann::json sequence = nlohmann::json::array();
  for (int i = 0; i < 513; ++i) sequence.push_back(doc["cases"][24]["embedded"][0][0]);
  c["embedded"] = nlohmann::json::array({sequence});
  const fs::path long_case = Write("long.json", c.dump());
  ExpectOneLine(Run("show --input " + long_case.string() + " --output " + png.string()), 2,
                "at most 512 positions", "a context of 513");
  ExpectOneLine(Run("show --input " + in.string()), 2, "expected --output",
                "show without --output");
#endif
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

// A failed write reported success: exit 0, nothing on stderr.
TEST_F(CliTest, ReportsAFailedWriteToStandardOutput) {
  for (const std::string& args :
       {"run --input " + GoodCase().string(), std::string("demo"), std::string("--help")}) {
    const Result r = Run(args, "", "/dev/full");
    ExpectOneLine(r, 1, "cannot write standard output: No space left on device", args);
  }
}

// --output replaced whatever was at the path with a new regular file: a
// symbolic link (its target unchanged), a FIFO, a device; it reset the mode
// to 644, broke hard links, and failed on a 250-character name.
TEST_F(CliTest, OutputWritesTheFileAPathNames) {
  const std::string in = GoodCase().string();
  const std::string expected = Run("run --input " + in).out;
  ASSERT_FALSE(expected.empty());

  // A symbolic link: its target is written, the link stays a link.
  Write("target.json", "old");
  fs::create_symlink("target.json", dir_ / "link.json");
  Result r = Run("run --input " + in + " --output " + (dir_ / "link.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.json"));
  EXPECT_EQ(Slurp(dir_ / "target.json"), expected);
  // A dangling link: its target is created, as the shell's > would.
  fs::create_symlink("created.json", dir_ / "dangling.json");
  r = Run("run --input " + in + " --output " + (dir_ / "dangling.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir_ / "dangling.json"));
  EXPECT_EQ(Slurp(dir_ / "created.json"), expected);

  // An existing file keeps its mode.
  const fs::path secret = Write("secret.json", "old");
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  r = Run("run --input " + in + " --output " + secret.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fs::status(secret).permissions(), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(Slurp(secret), expected);

  // A file with two hard links: both names see the result, one inode. The
  // old content is longer than the new, so a missing truncation would show.
  const fs::path first = Write("first.json", std::string(200, 'x'));
  fs::create_hard_link(first, dir_ / "second.json");
  r = Run("run --input " + in + " --output " + first.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fs::hard_link_count(first), 2u);
  EXPECT_TRUE(fs::equivalent(first, dir_ / "second.json"));
  EXPECT_EQ(Slurp(dir_ / "second.json"), expected);

  // A 250-character name, as long as most filesystems allow less 5.
  const fs::path long_name = dir_ / std::string(250, 'n');
  r = Run("run --input " + in + " --output " + long_name.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Slurp(long_name), expected);

  // No temporary file is left behind.
  EXPECT_EQ(Leftovers({"case.json", "stdout", "stderr", "target.json", "link.json", "dangling.json",
                       "created.json", "secret.json", "first.json", "second.json",
                       long_name.filename().string()}),
            std::vector<std::string>());
}

TEST_F(CliTest, OutputRefusesWhatIsNotARegularFile) {
  const std::string in = GoodCase().string();
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  fs::create_directory(dir_ / "directory");
  std::vector<std::pair<fs::path, std::string>> refused = {{fifo, "is a FIFO"},
                                                           {dir_ / "directory", "is a directory"}};
  // A device node of our own (never /dev/null: an old binary would replace
  // the system's); creating one needs CAP_MKNOD, which a container may lack.
  const fs::path device = dir_ / "null";
  if (mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) {
    refused.emplace_back(device, "is a character device");
  } else {
    std::printf("no device node (mknod: %s); that case is not tried\n", std::strerror(errno));
  }
  for (const auto& [path, needle] : refused) {
    const Result r = Run("run --input " + in + " --output " + path.string());
    ExpectOneLine(r, 2, needle, path.string());
  }
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_TRUE(fs::is_directory(dir_ / "directory"));
  if (fs::exists(device)) {
    EXPECT_TRUE(fs::is_character_file(device));
  }
  // Neither a path in a missing directory nor an empty one.
  ExpectOneLine(Run("run --input " + in + " --output " + (dir_ / "no" / "x.json").string()), 2,
                "No such file or directory", "missing directory");
  ExpectOneLine(Run("run --input " + in + " --output ''"), 2, "empty", "empty --output");
}

// "cannot write X" said nothing of why. RLIMIT_FSIZE (ulimit -f, in 512-byte
// blocks in /bin/sh) makes a write fail with EFBIG once SIGXFSZ is ignored;
// stderr's one line stays below the limit.
TEST_F(CliTest, FailedOutputWriteSaysWhyAndKeepsTheOldFile) {
  const std::string in = GoodCase(64).string();  // About 2 KB of output.
  const std::string limit = "trap '' XFSZ; ulimit -f 1;";
  // The clang/libomp ThreadSanitizer build faults (SIGBUS) under a file size
  // limit once it computes: this test needs a build that runs the demo.
  if (Run("demo", limit).exit_code != 0) {
    GTEST_SKIP() << "the command cannot run its demo under " << limit;
  }
  const fs::path plain = Write("plain.json", "old");
  const fs::path linked = Write("linked.json", "old");
  fs::create_hard_link(linked, dir_ / "other_name.json");
  for (const fs::path& path : {plain, linked}) {
    const Result r = Run("run --input " + in + " --output " + path.string(), limit);
    ExpectOneLine(r, 1, "cannot write '" + path.string() + "': File too large", path.string());
    EXPECT_EQ(Slurp(path), "old");
  }
  EXPECT_EQ(
      Leftovers({"case.json", "stdout", "stderr", "plain.json", "linked.json", "other_name.json"}),
      std::vector<std::string>());
  const Result r = Run("run --input " + in, limit);
  ExpectOneLine(r, 1, "cannot write standard output: File too large", "stdout");
}

// Messages that said something untrue, and values that were ignored.
TEST_F(CliTest, RefusesCommandLinesWithTrueMessages) {
  const std::string in = GoodCase().string();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--decimals 99999999999", "expected --decimals in [-38, 38], got '99999999999'"},
      {"--decimals -39", "expected --decimals in [-38, 38], got '-39'"},
      {"--decimals 1e3", "expected --decimals to be an integer, got '1e3'"},
      {"--decimals ' 3'", "expected --decimals to be an integer"},
      {"--decimals ''", "expected --decimals to be an integer"},
      {"--output ''", "expected --output to name a file, got an empty string"},
      {"--decimals 3 --decimals 4", "expected --decimals once"},
      {"--output a.json --output b.json", "expected --output once"},
  };
  for (const auto& [args, needle] : cases) {
    ExpectOneLine(Run("run --input " + in + " " + args), 2, needle, args);
  }
  ExpectOneLine(Run("run --input " + dir_.string()), 2,
                "expected --input to be a file, '" + dir_.string() + "' is a directory", "dir");
  ExpectOneLine(Run("run --input ''"), 2, "expected --input to name a file", "empty --input");
  ExpectOneLine(Run("run --input " + in + " --input " + in), 2, "expected --input once", "twice");
  // Still accepted: any integer spelling in range.
  for (const char* decimals : {"+2", "-0", "0038", "-38"}) {
    EXPECT_EQ(Run("run --input " + in + " --decimals " + decimals).exit_code, 0) << decimals;
  }
  EXPECT_FALSE(fs::exists("a.json"));
}

// A 90-byte case with attention_dim 4194304 under a 1.2 GB address-space
// limit aborted (std::bad_alloc from the OpenMP region): the guard counted
// about a 31st of what the run allocates, and added two ints that overflow.
// (The library now needs far less scratch for one token, and that case
// fits; the case below is 4x wider so that it still cannot.)
TEST_F(CliTest, RefusesWhatCannotFitInMemory) {
  // attention_dim + embedding_dim was an int sum: INT_MAX + 1 overflowed.
  ExpectRefused(R"({"embedding_dim": 1, "attention_dim": 2147483647, "num_heads": 1,
                    "embedded": [[[1]]]})",
                "expected a case that fits in memory");
  const std::string limit = "ulimit -v 1200000;";  // KiB: 1.2 GB of address space.
  const std::string tight = "ulimit -v 400000;";
  const std::string data = "ulimit -d 1200000;";  // The heap and private mappings.
  if (!StartsUnder(limit) || !StartsUnder(tight) || !StartsUnder(data)) {
    GTEST_SKIP() << "the command cannot start under " << tight << " or " << data;
  }
  // 2^24 x 2 weights, 400 MB as given, twice more while packing.
  const fs::path wide = Write("wide.json", R"({"embedding_dim": 2, "attention_dim": 16777216,
                                              "num_heads": 1, "embedded": [[[1, 2]]]})");
  ExpectOneLine(Run("run --input " + wide.string(), limit), 2,
                "expected a case that fits in memory", "attention_dim 16777216 under ulimit -v");
  ExpectOneLine(Run("run --input " + wide.string(), data), 2, "expected a case that fits in memory",
                "attention_dim 16777216 under ulimit -d");
  // Under the same limit what fits still runs.
  EXPECT_EQ(Run("demo", limit).exit_code, 0);
  EXPECT_EQ(Run("run --input " + GoodCase(64).string(), limit).exit_code, 0);
  // A text within the read bound whose JSON tree cannot fit: refused before
  // it is parsed. 5 million empty arrays, 15 MB of text, count about 560 MB.
  std::string empties = R"({"embedded": [)";
  for (int i = 0; i < 5000000; ++i) empties += "[],";
  empties += "[]]}";
  const fs::path tree = Write("tree.json", empties);
  ExpectOneLine(Run("run --input " + tree.string(), tight), 2,
                "expected a case that fits in memory", "a JSON tree too big");
}

// --input /dev/zero read until memory ran out; a huge file was read whole.
TEST_F(CliTest, BoundsWhatItReads) {
  // A regular file is refused by its size, before a byte is read: a sparse
  // 2 GiB file, past the 1 GiB bound, costs no disk.
  const fs::path sparse = dir_ / "sparse.json";
  std::ofstream(sparse).close();
  fs::resize_file(sparse, uint64_t{2} << 30);
  ExpectOneLine(Run("run --input " + sparse.string()), 2, "' holds 2147483648", "2 GiB file");
  // A pipe that ends is read whole.
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  const Result piped = Run("run --input " + fifo.string(),
                           "cat " + GoodCase().string() + " >" + fifo.string() + " &");
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out.rfind("{\"output\":[[[", 0), 0u) << piped.out;
  // Under ulimit -v 400000 the bound is a quarter of ~300 MB of room.
  const std::string limit = "ulimit -v 400000;";
  if (!StartsUnder(limit)) GTEST_SKIP() << "the command cannot start under " << limit;
  ExpectOneLine(Run("run --input /dev/zero", limit), 2, "expected --input to hold at most",
                "/dev/zero");
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

// --parallel needs the command built with MPI (tests/mpi/cli_mpi_test.cc
// runs it there); a build without MPI refuses it with one line.
TEST_F(CliTest, ParallelWithoutMpiIsRefused) {
#ifdef MHSA_CLI_HAS_MPI
  GTEST_SKIP() << "this mhsa has MPI: tests/mpi/cli_mpi_test.cc covers --parallel";
#else
  for (const char* mode : {"heads", "sequence"}) {
    const Result r = Run("run --input " + GoodCase().string() + " --parallel " + mode);
    ExpectOneLine(r, 2, "expected a build of mhsa with MPI for --parallel, got one without", mode);
    EXPECT_EQ(r.out, "");
  }
#endif
}

}  // namespace
}  // namespace mhsa
