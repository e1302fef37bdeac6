// libvirt's capability-probe QEMUs left by a killed embedded driver: which
// command lines are ours to kill (never a domain's, never another root's),
// found in a /proc-like directory, and killed for real (processes with the
// probe's command line); the root lock that keeps two vmmap serves apart.
#include "server/probe_qemus.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "server/base/processes.h"
#include "server/embedded_driver.h"

extern char** environ;

namespace vmmap {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// libvirt 9.0's probe command line (qemuProcessQMPLaunch), for `root`.
std::vector<std::string> ProbeArgv(const std::string& root, const std::string& dir = "qmp-Ab12Cd") {
  const std::string probe = root + "/lib/qemu/" + dir;
  return {"/usr/bin/qemu-system-x86_64",
          "-S",
          "-no-user-config",
          "-nodefaults",
          "-nographic",
          "-machine",
          "none,accel=kvm:tcg",
          "-qmp",
          "unix:" + probe + "/qmp.monitor,server=on,wait=off",
          "-pidfile",
          probe + "/qmp.pid",
          "-daemonize"};
}

// A domain's QEMU under the same root (the parts that matter).
std::vector<std::string> DomainArgv(const std::string& root) {
  return {
      "/usr/bin/qemu-system-x86_64",
      "-name",
      "guest=vmmap-default-web-0,debug-threads=on",
      "-S",
      "-machine",
      "pc-i440fx-7.2,usb=off,dump-guest-core=off",
      "-chardev",
      "socket,id=charmonitor,path=" + root + "/lib/qemu/domain-1-vmmap-default-web/monitor.sock",
      "-mon",
      "chardev=charmonitor,id=monitor,mode=control"};
}

TEST(IsProbeQemuOfTest, LibvirtsProbeOfThisRootMatches) {
  EXPECT_TRUE(IsProbeQemuOf(ProbeArgv("/var/lib/vmmap/libvirt"), "/var/lib/vmmap/libvirt"));
  std::vector<std::string> plain = ProbeArgv("/r");
  plain[6] = "none";  // -machine none, no accelerator list
  plain[8] = "unix:/r/lib/qemu/qmp-x/qmp.monitor";
  EXPECT_TRUE(IsProbeQemuOf(plain, "/r"));
}

TEST(IsProbeQemuOfTest, AnotherRootsProbeNeverMatches) {
  // A root that merely starts with ours, and one inside ours.
  EXPECT_FALSE(IsProbeQemuOf(ProbeArgv("/var/lib/vmmap/libvirt2"), "/var/lib/vmmap/libvirt"));
  EXPECT_FALSE(IsProbeQemuOf(ProbeArgv("/var/lib/vmmap/libvirt/x"), "/var/lib/vmmap/libvirt"));
  EXPECT_FALSE(IsProbeQemuOf(ProbeArgv("/var/lib/vmmap"), "/var/lib/vmmap/libvirt"));
  // libvirtd's own probes (qemu:///system).
  EXPECT_FALSE(IsProbeQemuOf(ProbeArgv("/var/lib/libvirt"), "/var/lib/vmmap/libvirt"));
}

TEST(IsProbeQemuOfTest, DomainsAndOtherShapesNeverMatch) {
  const std::string root = "/var/lib/vmmap/libvirt";
  EXPECT_FALSE(IsProbeQemuOf(DomainArgv(root), root));
  std::vector<std::string> machine = ProbeArgv(root);
  machine[6] = "pc-i440fx-7.2";  // a real machine: not a probe, whatever its monitor
  EXPECT_FALSE(IsProbeQemuOf(machine, root));
  machine[6] = "nonesuch";
  EXPECT_FALSE(IsProbeQemuOf(machine, root));
  std::vector<std::string> socket = ProbeArgv(root);
  socket[8] = "unix:" + root + "/lib/qemu/qmp-x/other.sock,server=on,wait=off";
  EXPECT_FALSE(IsProbeQemuOf(socket, root));
  socket[8] = "unix:" + root + "/lib/qemu/qmp-/qmp.monitor";  // no directory name
  EXPECT_FALSE(IsProbeQemuOf(socket, root));
  socket[8] = "unix:" + root + "/lib/qemu/qmp-x/y/qmp.monitor";
  EXPECT_FALSE(IsProbeQemuOf(socket, root));
  std::vector<std::string> no_qmp = ProbeArgv(root);
  no_qmp[7] = "-monitor";
  EXPECT_FALSE(IsProbeQemuOf(no_qmp, root));
  std::vector<std::string> dangling = ProbeArgv(root);
  dangling.resize(8);  // "-qmp" is the last word
  EXPECT_FALSE(IsProbeQemuOf(dangling, root));
  EXPECT_FALSE(IsProbeQemuOf({}, root));
}

class ProbeDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmmap-probes-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    for (pid_t pid : children_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    for (int fd : writers_) close(fd);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A fake /proc entry: <dir_>/proc/<pid>/cmdline.
  void FakeProcess(pid_t pid, const std::vector<std::string>& argv) {
    const fs::path dir = fs::path(dir_) / "proc" / std::to_string(pid);
    fs::create_directories(dir);
    std::ofstream out(dir / "cmdline", std::ios::binary);
    for (const std::string& arg : argv) out << arg << '\0';
  }

  // A real process whose command line is `argv` after sh's own words: a
  // shell blocked reading a pipe nobody writes to, until it is killed.
  pid_t Spawn(const std::vector<std::string>& argv) {
    std::vector<std::string> words = {"sh", "-c", "read never"};
    words.insert(words.end(), argv.begin(), argv.end());
    std::vector<char*> args;
    for (std::string& w : words) args.push_back(w.data());
    args.push_back(nullptr);
    int pipe_fds[2];
    EXPECT_EQ(pipe(pipe_fds), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[0], 0);
    pid_t pid = 0;
    EXPECT_EQ(posix_spawn(&pid, "/bin/sh", &actions, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[0]);
    writers_.push_back(pipe_fds[1]);  // kept open: the read never ends on its own
    children_.push_back(pid);
    return pid;
  }

  // Whether `pid` (a child of this test) has exited; reaps it if so.
  bool Exited(pid_t pid) {
    int status = 0;
    const pid_t reaped = waitpid(pid, &status, WNOHANG);
    if (reaped != pid) return false;
    children_.erase(std::find(children_.begin(), children_.end(), pid));
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }

  std::string dir_;
  std::vector<pid_t> children_;
  std::vector<int> writers_;
};

TEST_F(ProbeDirTest, FindingReadsEachProcessCommandLine) {
  const std::string root = dir_ + "/root";
  FakeProcess(101, ProbeArgv(root));
  FakeProcess(102, DomainArgv(root));
  FakeProcess(103, ProbeArgv(root + "2"));
  FakeProcess(104, {});  // a kernel thread: an empty cmdline
  FakeProcess(105, ProbeArgv(root, "qmp-Zz99Yy"));
  fs::create_directories(dir_ + "/proc/self");  // not a pid
  const std::vector<pid_t> found = FindProcesses(
      dir_ + "/proc",
      [&root](const std::vector<std::string>& argv) { return IsProbeQemuOf(argv, root); });
  EXPECT_THAT(found, UnorderedElementsAre(101, 105));
  EXPECT_EQ(ReadCommandLine(dir_ + "/proc", 102), DomainArgv(root));
  EXPECT_THAT(ReadCommandLine(dir_ + "/proc", 999), IsEmpty());
}

TEST_F(ProbeDirTest, OnlyThisRootsProbesAreKilledAndTheirDirectoriesRemoved) {
  const std::string root = dir_ + "/root";
  const pid_t probe = Spawn(ProbeArgv(root));
  const pid_t domain = Spawn(DomainArgv(root));
  const pid_t other_root = Spawn(ProbeArgv(root + "2"));
  fs::create_directories(root + "/lib/qemu/qmp-Ab12Cd");
  std::ofstream(root + "/lib/qemu/qmp-Ab12Cd/qmp.pid") << probe << "\n";
  fs::create_directories(root + "/lib/qemu/domain-1-vmmap-default-web");
  // posix_spawn returns as soon as the exec has begun; the new command line
  // is readable a moment later.
  for (pid_t pid : {probe, domain, other_root}) {
    for (int i = 0; i < 60000 && ReadCommandLine("/proc", pid).empty(); ++i) usleep(1000);
    ASSERT_THAT(ReadCommandLine("/proc", pid), ::testing::Contains("-machine")) << pid;
  }

  const KillOutcome outcome = KillProbeQemus(root, std::chrono::seconds(60));

  EXPECT_THAT(outcome.killed, ElementsAre(probe));
  EXPECT_THAT(outcome.left, IsEmpty());
  EXPECT_TRUE(Exited(probe));
  EXPECT_FALSE(Exited(domain));
  EXPECT_FALSE(Exited(other_root));
  EXPECT_FALSE(fs::exists(root + "/lib/qemu/qmp-Ab12Cd"));
  EXPECT_TRUE(fs::exists(root + "/lib/qemu/domain-1-vmmap-default-web"));
}

TEST_F(ProbeDirTest, ASecondProcessCannotLockARootInUse) {
  const std::string root = dir_ + "/root";
  absl::StatusOr<int> held = LockEmbeddedRoot(root);
  ASSERT_TRUE(held.ok()) << held.status();
  // Another process (a POSIX record lock never conflicts within one).
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<int> second = LockEmbeddedRoot(root);
    const bool refused = !second.ok() &&
                         second.status().code() == absl::StatusCode::kFailedPrecondition &&
                         absl::StrContains(second.status().message(), root) &&
                         absl::StrContains(second.status().message(), std::to_string(getppid()));
    _exit(refused ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the second lock was not refused naming the root and the holder";
  close(*held);
  absl::StatusOr<int> again = LockEmbeddedRoot(root);  // released with its descriptor
  ASSERT_TRUE(again.ok()) << again.status();
  close(*again);
}

}  // namespace
}  // namespace vmmap
