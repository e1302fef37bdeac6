// The one decompression loop (server/images/byte_source.cc) on streams made by
// Debian's own gzip and zstd: whole, concatenated, cut short, and a bomb.
#include "server/images/byte_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <random>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmmap::images_internal {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ByteSourceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmmap-byte-source-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `content` compressed by the real tool named by the test parameter.
  std::string Compressed(const std::string& name, const std::string& content) {
    const std::string raw = dir_ + "/" + name;
    std::ofstream(raw, std::ios::binary) << content;
    const std::string out = raw + ".z";
    const std::string cmd = GetParam() + " -q -c " + raw + " > " + out;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(out, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Everything the source yields, or its error.
  absl::StatusOr<std::string> Decode(const std::string& bytes, uint64_t max = 1 << 30) {
    const std::string path = dir_ + "/input";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    absl::StatusOr<std::unique_ptr<ByteSource>> source = DecompressingSource(fd, max, "layer x");
    std::string out;
    absl::Status status = source.status();
    char buf[4096];
    while (status.ok()) {
      absl::StatusOr<size_t> n = (*source)->Read(buf, sizeof buf);
      if (!n.ok()) status = n.status();
      if (!n.ok() || *n == 0) break;
      out.append(buf, *n);
    }
    close(fd);
    if (!status.ok()) return status;
    return out;
  }

  static std::string Noise(size_t n) {
    std::mt19937 gen(42);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(gen());
    return s;
  }

  std::string dir_;
};

TEST_P(ByteSourceTest, WholeAndConcatenatedStreamsDecode) {
  const std::string a = Noise(300000), b = "second member\n";
  absl::StatusOr<std::string> one = Decode(Compressed("a", a));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, a);
  absl::StatusOr<std::string> two = Decode(Compressed("a", a) + Compressed("b", b));
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(*two, a + b);
}

// The decoder reads its input in 128 KiB chunks: a stream whose last byte
// is the last byte of a chunk ends cleanly (it is not "truncated").
TEST_P(ByteSourceTest, AStreamEndingOnAReadChunkBoundaryDecodes) {
  constexpr size_t kChunkBytes = 128 << 10;
  std::string whole;
  size_t n = kChunkBytes;
  // Random bytes do not compress: the output grows with the input.
  for (int tries = 0; tries < 400 && whole.size() != kChunkBytes; ++tries) {
    whole = Compressed("edge", Noise(n));
    n = whole.size() > kChunkBytes ? n - std::max<size_t>(1, (whole.size() - kChunkBytes) / 2)
                                   : n + 1;
  }
  ASSERT_EQ(whole.size(), kChunkBytes) << "no input compressed to exactly one chunk";
  absl::StatusOr<std::string> out = Decode(whole);
  EXPECT_TRUE(out.ok()) << out.status();
}

TEST_P(ByteSourceTest, ACutStreamIsTruncatedNamingTheLayer) {
  const std::string whole = Compressed("a", Noise(300000));
  absl::StatusOr<std::string> cut = Decode(whole.substr(0, whole.size() / 2));
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cut.status().message()),
              ::testing::AllOf(HasSubstr("layer x"), HasSubstr("truncated")));
}

TEST_P(ByteSourceTest, MoreThanTheLimitIsResourceExhausted) {
  absl::StatusOr<std::string> bomb = Decode(Compressed("zeros", std::string(4 << 20, '\0')),
                                            /*max=*/1 << 20);
  EXPECT_EQ(bomb.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(bomb.status().message()), HasSubstr("--max-image-size"));
}

INSTANTIATE_TEST_SUITE_P(Codecs, ByteSourceTest, ::testing::Values("gzip", "zstd"));

}  // namespace
}  // namespace vmmap::images_internal
