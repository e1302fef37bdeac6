// A guest that writes to its serial console forever must not fill the node's
// disk: real `vmmap serve`, a real QEMU (TCG) guest booted with
// vmmap.flood=1 (tests/e2e/guest/build-guest.sh), and a small
// --console-log-max-size so the bound is reached quickly.
//
// No claim depends on the machine's speed: the test waits (generously) until
// the guest has written many times the bound, stops it, and then compares the
// disk blocks the console file holds with what the guest wrote.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/harness.h"

namespace vmmap::e2e {
namespace {

namespace v1 = runtime::v1;

constexpr int64_t kMaxConsole = 256 << 10;  // --console-log-max-size
constexpr int64_t kReleaseStep = 1 << 20;   // ConsoleLogForwarder::kReleaseStep
constexpr int64_t kWritten = 8 << 20;       // the guest writes this much before the check
// Far above what any machine of this kind needs (here: ~85 KB/s of console
// output under TCG, so about two minutes).
constexpr std::chrono::minutes kDeadline{20};

struct FileUse {
  int64_t size = -1;       // bytes the guest wrote (offsets never move back)
  int64_t allocated = -1;  // disk blocks the file holds
};
FileUse Use(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return {};
  return {st.st_size, static_cast<int64_t>(st.st_blocks) * 512};
}

TEST(ConsoleFloodTest, AFloodingGuestsConsoleStaysBoundedAndItsCriLogValid) {
  // Under the fixtures' work dir, which the harness removes at the end.
  ServerOptions options;
  options.extra_flags = {"--console-log-max-size", "256Ki"};
  ServerProcess server(GetFixtures().work_dir + "/flood", options);
  server.Start();
  const std::string image = PullBundle(server);
  PodRequest request;
  request.name = "flood";
  request.image = image;
  request.kernel_args = {"vmmap.flood=1"};
  Pod pod = CreatePod(server, request);
  ASSERT_FALSE(pod.container_id.empty());
  ASSERT_TRUE(StartContainer(server, pod.container_id).ok()) << server.log();
  const std::string console =
      server.state_dir() + "/containers/" + pod.container_id + "/console.log";

  int64_t most_allocated = 0;
  const bool flooded = WaitFor(
      [&] {
        FileUse use = Use(console);
        most_allocated = std::max(most_allocated, use.allocated);
        return use.size >= kWritten;
      },
      kDeadline);
  ASSERT_TRUE(flooded) << "the guest wrote " << Use(console).size << " bytes in "
                       << kDeadline.count() << " min; its console tail:\n"
                       << ReadFileOrEmpty(console).substr(0, 2000);
  // Without the bound the file would hold everything the guest wrote.
  std::cout << "console file while flooding: at most " << most_allocated << " bytes on disk of "
            << Use(console).size << " written\n";

  v1::StopContainerRequest stop;
  stop.set_container_id(pod.container_id);
  stop.set_timeout(0);
  v1::StopContainerResponse stopped;
  ASSERT_TRUE(server.runtime().StopContainer(Context().get(), stop, &stopped).ok());
  // StopContainer forwards the last output before it returns; the console
  // no longer grows.
  const FileUse after = Use(console);
  EXPECT_GE(after.size, kWritten);
  EXPECT_LE(after.allocated, kMaxConsole + kReleaseStep + 4096)
      << "the console file holds " << after.allocated << " bytes of " << after.size;

  // Every line of the CRI log is in kubelet's format; the guest's lines are
  // there, and so is a marker wherever output was dropped.
  const std::string log = ReadFileOrEmpty(GetFixtures().work_dir + "/pod-logs/e2e_flood/vm/0.log");
  static const std::regex kLine(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout [FP] [^\n]*$)");
  std::istringstream lines(log);
  int64_t count = 0, flood_lines = 0, markers = 0;
  for (std::string line; std::getline(lines, line);) {
    ++count;
    EXPECT_TRUE(std::regex_match(line, kLine)) << "malformed CRI log line: " << line;
    if (line.find(" VMMAP-FLOOD 0123") != std::string::npos) ++flood_lines;
    if (line.find("bytes of console output dropped") != std::string::npos) ++markers;
  }
  EXPECT_GT(flood_lines, 1000);
  std::cout << "CRI log: " << count << " lines, " << flood_lines << " from the flood, " << markers
            << " drop markers\n";

  RemovePod(server, pod);
  EXPECT_FALSE(std::filesystem::exists(console));
}

}  // namespace
}  // namespace vmmap::e2e
