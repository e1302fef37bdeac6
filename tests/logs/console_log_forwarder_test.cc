#include "server/logs/console_log_forwarder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime_v1.pb.h"
#include "server/state/state_store.h"
#include "tests/harness/fake_clock.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr milliseconds kNever{3600 * 1000};  // partial timeout that never fires in a test

struct Entry {
  std::string tag;
  std::string text;
  bool operator==(const Entry& o) const { return tag == o.tag && text == o.text; }
};
std::ostream& operator<<(std::ostream& os, const Entry& e) {
  return os << e.tag << " \"" << e.text << "\"";
}
Entry F(std::string text) { return {"F", std::move(text)}; }
Entry P(std::string text) { return {"P", std::move(text)}; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Parses a CRI log, checking every line's exact shape.
std::vector<Entry> ParseCriLog(const std::string& path) {
  static const std::regex kLine(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout ([FP]) ([^\n]*)$)");
  std::vector<Entry> entries;
  std::string content = ReadFile(path);
  if (content.empty()) return entries;
  EXPECT_EQ(content.back(), '\n') << "log does not end with a newline";
  size_t pos = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    if (nl == std::string::npos) nl = content.size();
    std::string line = content.substr(pos, nl - pos);
    std::smatch m;
    if (std::regex_match(line, m, kLine)) {
      entries.push_back({m[1], m[2]});
    } else {
      ADD_FAILURE() << "malformed CRI log line: " << line;
    }
    pos = nl + 1;
  }
  return entries;
}

class ConsoleLogForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmmap-logs-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    auto store = StateStore::Open(dir_ + "/state.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  // A sandbox + container; returns the CRI log path ("" if none configured).
  std::string AddContainer(const std::string& id, bool log_directory = true, bool log_path = true,
                           ContainerState state = ContainerState::kRunning) {
    const std::string log_dir = dir_ + "/pods/ns_pod-" + id + "_uid";
    SandboxRecord sandbox;
    sandbox.id = "s-" + id;
    sandbox.config.metadata.name = "pod-" + id;
    if (log_directory) sandbox.config.log_directory = log_dir;
    sandbox.created_at_ns = 1;
    EXPECT_TRUE(store_->PutSandbox(sandbox).ok());
    ContainerRecord record;
    record.id = id;
    record.sandbox_id = sandbox.id;
    record.config.metadata.name = "main";
    if (log_path) record.config.log_path = "main/0.log";
    record.console_path = ConsolePath(id);
    record.state = state;
    record.created_at_ns = 1;
    EXPECT_TRUE(store_->PutContainer(record).ok());
    fs::create_directories(fs::path(ConsolePath(id)).parent_path());
    return log_directory && log_path ? log_dir + "/main/0.log" : "";
  }

  void SetState(const std::string& id, ContainerState state) {
    absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
    ASSERT_TRUE(record.ok());
    record->state = state;
    ASSERT_TRUE(store_->PutContainer(*record).ok());
  }

  std::string ConsolePath(const std::string& id) {
    return dir_ + "/state/containers/" + id + "/console.log";
  }

  void AppendConsole(const std::string& id, const std::string& bytes) {
    std::ofstream out(ConsolePath(id), std::ios::binary | std::ios::app);
    out << bytes;
  }

  std::string dir_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(ConsoleLogForwarderTest, FullLinesInExactCriFormatAndDirectoryIs0755) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  ASSERT_TRUE(forwarder.SyncOnce().ok());  // no console yet: nothing, no error
  EXPECT_FALSE(fs::exists(log));

  AppendConsole("c1", "VMMAP-GUEST-BOOTED\r\n\nsecond line\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("VMMAP-GUEST-BOOTED"), F(""), F("second line")));
  const std::string content = ReadFile(log);
  EXPECT_TRUE(std::regex_search(
      content,
      std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F VMMAP-GUEST-BOOTED\n)")))
      << content;

  mode_t mask = umask(0);
  umask(mask);
  struct stat st;
  ASSERT_EQ(stat(fs::path(log).parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755 & ~mask);

  ASSERT_TRUE(forwarder.SyncOnce().ok());  // nothing new: nothing written
  EXPECT_EQ(ParseCriLog(log).size(), 3u);
  EXPECT_EQ(ReadFile(fs::path(ConsolePath("c1")).parent_path() / "console.offset"), "33\n");
}

TEST_F(ConsoleLogForwarderTest, PartialLineIsHeldBackUntilCompleted) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  AppendConsole("c1", "one\ntw");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("one")));
  AppendConsole("c1", "o");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("one")));
  AppendConsole("c1", "\nthr");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("one"), F("two")));
}

TEST_F(ConsoleLogForwarderTest, StalePartialLineIsFlushedAsP) {
  const std::string log = AddContainer("c1");
  FakeClock clock;
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), milliseconds(50), &clock);
  AppendConsole("c1", "login: ");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), IsEmpty());  // just seen: held back
  clock.Advance(milliseconds(50));
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), IsEmpty()) << "flushed at the timeout, not after it";
  clock.Advance(milliseconds(1));
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(P("login: ")));
  AppendConsole("c1", "root\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(P("login: "), F("root")));
}

TEST_F(ConsoleLogForwarderTest, LinesAreStampedWithTheClocksWallTimeWhenRead) {
  const std::string log = AddContainer("c1");
  FakeClock clock;
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever, &clock);
  AppendConsole("c1", "first\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  clock.Advance(std::chrono::nanoseconds(1'500'000'123));
  AppendConsole("c1", "second\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  // FakeClock starts at 1800000000 s since the epoch.
  EXPECT_EQ(ReadFile(log),
            "2027-01-15T08:00:00.000000000Z stdout F first\n"
            "2027-01-15T08:00:01.500000123Z stdout F second\n");
}

TEST_F(ConsoleLogForwarderTest, ExitedContainerFlushesPartialLineAsF) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  AppendConsole("c1", "done\nreboot: Power down");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("done")));
  SetState("c1", ContainerState::kExited);
  ASSERT_TRUE(forwarder.SyncContainer("c1").ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("done"), F("reboot: Power down")));
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_EQ(ParseCriLog(log).size(), 2u);
  EXPECT_TRUE(absl::IsNotFound(forwarder.SyncContainer("nope")));
}

TEST_F(ConsoleLogForwarderTest, LongLinesAreSplitIntoPChunksEndingWithF) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  constexpr size_t kMax = ConsoleLogForwarder::kMaxLineBytes;
  ASSERT_EQ(kMax, 16384u);
  AppendConsole("c1", std::string(40000, 'x') + "\n");
  // Exactly 16 KiB plus the serial "\r": one F line.
  AppendConsole("c1", std::string(kMax, 'y') + "\r\n");
  // A two-byte character that would straddle the limit moves to the next chunk.
  AppendConsole("c1", std::string(kMax - 1, 'a') + "\xc3\xa9" + "\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log),
              ElementsAre(P(std::string(kMax, 'x')), P(std::string(kMax, 'x')),
                          F(std::string(40000 - 2 * kMax, 'x')), F(std::string(kMax, 'y')),
                          P(std::string(kMax - 1, 'a')), F("\xc3\xa9")));

  // An unterminated long line: full chunks go out now, the rest waits.
  AppendConsole("c1", std::string(20000, 'z'));
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  std::vector<Entry> entries = ParseCriLog(log);
  ASSERT_EQ(entries.size(), 7u);
  EXPECT_EQ(entries[6], P(std::string(kMax, 'z')));
  AppendConsole("c1", "!\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  entries = ParseCriLog(log);
  ASSERT_EQ(entries.size(), 8u);
  EXPECT_EQ(entries[7], F(std::string(20000 - kMax, 'z') + "!"));
}

TEST_F(ConsoleLogForwarderTest, HostileBytesBecomeQuestionMarks) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  std::string hostile = std::string("a\x1b[31mred\x07") + '\0' + "b";  // ESC, BEL, NUL
  hostile += "\xff";                                                   // never valid
  hostile += "\xc3\x28";                                  // lead byte without continuation
  hostile += " \xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80 ";  // ü € 😀 are fine
  hostile += "\xc2\x9b";                                  // C1 CSI
  hostile += "\xed\xa0\x80";                              // UTF-16 surrogate
  hostile += "\xc0\xaf";                                  // overlong '/'
  hostile += "\xf4\x90\x80\x80";                          // above U+10FFFF
  hostile += "\tTab\x7f\rX\r\n";                          // tab kept, DEL replaced, CR dropped
  AppendConsole("c1", hostile);
  // A character split across two passes survives.
  AppendConsole("c1", "split \xe2\x82");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  AppendConsole("c1", "\xac\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log),
              ElementsAre(F("a?[31mred??b??"
                            "( \xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80 ??????????\tTab?X"),
                          F("split \xe2\x82\xac")));
}

TEST_F(ConsoleLogForwarderTest, NewForwarderResumesWithoutDuplicatesOrLoss) {
  const std::string log = AddContainer("c1");
  AppendConsole("c1", "one\ntwo\nthr");
  {
    ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
    ASSERT_TRUE(forwarder.SyncOnce().ok());
  }
  EXPECT_EQ(ReadFile(fs::path(ConsolePath("c1")).parent_path() / "console.offset"), "8\n");
  AppendConsole("c1", "ee\nfour\n");
  {
    ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
    ASSERT_TRUE(forwarder.SyncOnce().ok());
    ASSERT_TRUE(forwarder.SyncOnce().ok());
  }
  {
    ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
    ASSERT_TRUE(forwarder.SyncOnce().ok());
  }
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("one"), F("two"), F("three"), F("four")));
}

TEST_F(ConsoleLogForwarderTest, TruncatedConsoleIsReadFromTheStart) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  AppendConsole("c1", "old one\nold two\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  fs::resize_file(ConsolePath("c1"), 0);
  AppendConsole("c1", "new\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("old one"), F("old two"), F("new")));
  EXPECT_EQ(ReadFile(fs::path(ConsolePath("c1")).parent_path() / "console.offset"), "4\n");
}

TEST_F(ConsoleLogForwarderTest, ReopenAfterRotationWritesToANewFile) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  AppendConsole("c1", "before\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  // kubelet rotates: rename, then ReopenContainerLog.
  const std::string rotated = log + ".20261122-193000";
  fs::rename(log, rotated);
  AppendConsole("c1", "during\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());  // still the open (rotated) file
  ASSERT_TRUE(forwarder.Reopen("c1").ok());
  EXPECT_TRUE(fs::exists(log));  // created right away
  EXPECT_THAT(ParseCriLog(log), IsEmpty());
  AppendConsole("c1", "after\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(rotated), ElementsAre(F("before"), F("during")));
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("after")));

  // Reopen when nothing was renamed keeps appending to the same file.
  ASSERT_TRUE(forwarder.Reopen("c1").ok());
  AppendConsole("c1", "more\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("after"), F("more")));
  EXPECT_TRUE(absl::IsNotFound(forwarder.Reopen("nope")));
}

TEST_F(ConsoleLogForwarderTest, ReopenOnAFreshForwarderCreatesTheFile) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  ASSERT_TRUE(forwarder.Reopen("c1").ok());
  EXPECT_TRUE(fs::exists(log));
}

TEST_F(ConsoleLogForwarderTest, ContainersWithoutLogPathAreSkipped) {
  AddContainer("nopath", /*log_directory=*/true, /*log_path=*/false);
  AddContainer("nodir", /*log_directory=*/false, /*log_path=*/true);
  const std::string log = AddContainer("c1");
  AppendConsole("nopath", "x\n");
  AppendConsole("nodir", "y\n");
  AppendConsole("c1", "z\n");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("z")));
  EXPECT_FALSE(fs::exists(dir_ + "/pods/ns_pod-nopath_uid"));
  EXPECT_FALSE(fs::exists(fs::path(ConsolePath("nopath")).parent_path() / "console.offset"));
  EXPECT_EQ(forwarder.Reopen("nopath").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ConsoleLogForwarderTest, PendingContainersAreSkipped) {
  const std::string log = AddContainer("c1");
  absl::StatusOr<ContainerRecord> record = store_->GetContainer("c1");
  ASSERT_TRUE(record.ok());
  record->pending = true;
  ASSERT_TRUE(store_->PutContainer(*record).ok());
  AppendConsole("c1", "x\n");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_FALSE(fs::exists(log));
}

TEST_F(ConsoleLogForwarderTest, OneBrokenContainerDoesNotStopOthers) {
  const std::string broken = AddContainer("a-broken");
  const std::string log = AddContainer("b-fine");
  // The broken container's log directory is a regular file.
  fs::create_directories(dir_ + "/pods/ns_pod-a-broken_uid");
  std::ofstream(dir_ + "/pods/ns_pod-a-broken_uid/main") << "in the way";
  AppendConsole("a-broken", "lost?\n");
  AppendConsole("b-fine", "fine\n");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  absl::Status s = forwarder.SyncOnce();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("a-broken"));
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("fine")));
  // Fixed later: nothing was lost meanwhile.
  fs::remove(dir_ + "/pods/ns_pod-a-broken_uid/main");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(broken), ElementsAre(F("lost?")));
}

TEST_F(ConsoleLogForwarderTest, BackgroundThreadForwardsUntilStopped) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(10), kNever);
  forwarder.Start();
  forwarder.Start();  // no-op
  AppendConsole("c1", "tick\n");
  // The thread's own pace is real time; wait for its result, not for a guess.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (ParseCriLog(log).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("tick")));
  forwarder.Stop();
  forwarder.Stop();  // idempotent
  // Stop() joined the thread: whatever is appended now stays unforwarded
  // until someone syncs, however long we waited.
  AppendConsole("c1", "tock\n");
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("tick")));
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_THAT(ParseCriLog(log), ElementsAre(F("tick"), F("tock")));
  forwarder.Start();  // restartable; the destructor stops it
}

TEST_F(ConsoleLogForwarderTest, ConcurrentPassesNeitherDuplicateNorReorder) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(1), kNever);
  forwarder.Start();
  std::thread other([&] {
    for (int i = 0; i < 200; ++i) {
      EXPECT_TRUE(forwarder.SyncOnce().ok());
      if (i % 20 == 0) {
        EXPECT_TRUE(forwarder.Reopen("c1").ok());
      }
    }
  });
  std::vector<Entry> expected;
  for (int i = 0; i < 500; ++i) {
    AppendConsole("c1", "line " + std::to_string(i) + "\n");
    expected.push_back(F("line " + std::to_string(i)));
    if (i % 50 == 0) {
      EXPECT_TRUE(forwarder.SyncContainer("c1").ok());
    }
  }
  other.join();
  forwarder.Stop();
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_EQ(ParseCriLog(log), expected);
}

TEST_F(ConsoleLogForwarderTest, RemovedContainersAreForgotten) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  AppendConsole("c1", "x\n");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  ASSERT_TRUE(store_->DeleteContainer("c1").ok());
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_TRUE(absl::IsNotFound(forwarder.Reopen("c1")));
}

// Disk blocks the console file holds (holes punched by the forwarder hold none).
int64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_blocks) * 512;
}

std::string NumberedLines(int from, int to) {
  std::string out;
  for (int i = from; i < to; ++i) out += "console line " + std::to_string(i) + "\n";
  return out;
}

TEST_F(ConsoleLogForwarderTest, ForwardedConsoleBytesLeaveTheDiskButKeepTheirOffsets) {
  const std::string log = AddContainer("c1");
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  const std::string first = NumberedLines(0, 200000);  // ~3.5 MiB
  ASSERT_GT(first.size(), 3u << 20);
  AppendConsole("c1", first);
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(ConsolePath("c1"))),
            static_cast<int64_t>(first.size()));
  EXPECT_LT(AllocatedBytes(ConsolePath("c1")), 64 << 10);
  // The guest keeps appending after the released range; nothing is lost,
  // and a restarted forwarder continues at the saved offset.
  AppendConsole("c1", "after the hole\n");
  ConsoleLogForwarder restarted(store_.get(), milliseconds(100), kNever);
  ASSERT_TRUE(restarted.SyncOnce().ok());
  std::vector<Entry> entries = ParseCriLog(log);
  ASSERT_EQ(entries.size(), 200001u);
  EXPECT_EQ(entries.front(), F("console line 0"));
  EXPECT_EQ(entries[199999], F("console line 199999"));
  EXPECT_EQ(entries.back(), F("after the hole"));
}

TEST_F(ConsoleLogForwarderTest, AGuestOutrunningTheForwarderLosesItsOldestBytesWithAMarker) {
  const std::string log = AddContainer("c1");
  constexpr int64_t kMax = 64 << 10;
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever, nullptr, kMax);
  AppendConsole("c1", "held back, no newline yet");
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  const std::string flood = NumberedLines(0, 20000);
  AppendConsole("c1", flood);
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  std::vector<Entry> entries = ParseCriLog(log);  // every line in CRI format
  ASSERT_GE(entries.size(), 3u);
  // The held-back line ends where the gap begins, then the marker.
  EXPECT_EQ(entries[0], F("held back, no newline yet"));
  const int64_t unread = static_cast<int64_t>(flood.size());  // the held-back line was read
  EXPECT_EQ(entries[1], F("[vmmap: " + std::to_string(unread - kMax) +
                          " bytes of console output dropped: the guest wrote more than " +
                          std::to_string(kMax) + " bytes faster than they were forwarded]"));
  // Exactly the newest kMax bytes follow (the first of them mid-line).
  std::string forwarded;
  for (size_t i = 2; i < entries.size(); ++i) forwarded += entries[i].text + "\n";
  EXPECT_EQ(forwarded, flood.substr(flood.size() - kMax));
  EXPECT_EQ(entries.back(), F("console line 19999"));
}

TEST_F(ConsoleLogForwarderTest, AConsoleWithoutACriLogIsReleasedUnread) {
  AddContainer("c1", /*log_directory=*/true, /*log_path=*/false);
  ConsoleLogForwarder forwarder(store_.get(), milliseconds(100), kNever);
  AppendConsole("c1", NumberedLines(0, 200000));
  ASSERT_TRUE(forwarder.SyncOnce().ok());
  EXPECT_GT(fs::file_size(ConsolePath("c1")), 3u << 20);
  EXPECT_LT(AllocatedBytes(ConsolePath("c1")), 64 << 10);
}

}  // namespace
}  // namespace vmmap
