// Finding a container's virtiofsd processes, moving them into cgroups and
// killing leftovers (server/volumes/virtiofsd_procs.h), and the domain's
// helper cgroups (server/runtime/domain_cgroups.h), on temporary trees and
// one real child process.
#include "server/volumes/virtiofsd_procs.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/runtime/domain_cgroups.h"

namespace vmmap::volumes {
namespace {

namespace fs = std::filesystem;
using ::testing::UnorderedElementsAre;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vmmap-procs-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteCmdline(const std::string& proc, const std::string& pid, const std::string& nul_words) {
  fs::create_directories(proc + "/" + pid);
  std::ofstream(proc + "/" + pid + "/cmdline", std::ios::binary) << nul_words;
}

TEST(FindVirtiofsd, MatchesOnlyTheContainersViews) {
  TempDir proc;
  using namespace std::string_literals;
  WriteCmdline(proc.path(), "10",
               "/usr/lib/qemu/virtiofsd\0--fd=9\0-o\0source=/s/volumes/c1/vol0,cache=none\0"s);
  WriteCmdline(proc.path(), "11",
               "/usr/lib/qemu/virtiofsd\0-o\0source=/s/volumes/c1/vol1,cache=none\0"s);
  WriteCmdline(proc.path(), "12",
               "/usr/lib/qemu/virtiofsd\0-o\0source=/s/volumes/c10/vol0,cache=none\0"s);
  WriteCmdline(proc.path(), "13",
               "sleep\0"
               "600\0"s);
  WriteCmdline(proc.path(), "self", "/usr/lib/qemu/virtiofsd\0-o\0source=/s/volumes/c1/vol0\0"s);
  EXPECT_THAT(FindVirtiofsd("/s/volumes/c1", proc.path()), UnorderedElementsAre(10, 11));
}

TEST(MoveIntoCgroups, WritesEveryPidIntoEveryDirectory) {
  TempDir root;
  for (const char* dir : {"memory", "cpu"}) {
    fs::create_directories(root.path() + "/" + dir);
    std::ofstream(root.path() + "/" + dir + "/cgroup.procs");
  }
  // A real cgroup.procs takes one pid per write; a plain file keeps the last.
  ASSERT_TRUE(MoveIntoCgroups({42}, {root.path() + "/memory", root.path() + "/cpu"}).ok());
  std::ifstream memory(root.path() + "/memory/cgroup.procs");
  std::string text((std::istreambuf_iterator<char>(memory)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "42");
  absl::Status missing = MoveIntoCgroups({42}, {root.path() + "/nope"});
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.message()), ::testing::HasSubstr("moving virtiofsd 42"));
}

TEST(KillVirtiofsd, KillsTheContainersLeftoverAndWaitsForIt) {
  const std::string views = "/tmp/vmmap-kill-test-views-" + std::to_string(getpid());
  // A child that never forks (a fork shows the parent's command line until
  // it execs) and blocks on a pipe this test holds open.
  int block[2];
  ASSERT_EQ(pipe(block), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dup2(block[0], 0);
    close(block[1]);
    const std::string arg = "source=" + views + "/vol0,cache=none";
    execl("/bin/sh", "sh", "-c", "read x", arg.c_str(), nullptr);
    _exit(127);
  }
  close(block[0]);
  // Never leave the child behind (it would hold ctest's output pipe).
  struct Reaper {
    pid_t pid;
    int fd;
    ~Reaper() {
      close(fd);
      if (pid > 0) {  // never kill(0 or -1, …): those mean groups, not a child
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } reaper{child, block[1]};
  // The child's command line shows once it has exec'd.
  for (int i = 0; i < 1000 && FindVirtiofsd(views).empty(); ++i) usleep(10000);
  ASSERT_THAT(FindVirtiofsd(views), UnorderedElementsAre(child));
  // KillVirtiofsd waits until /proc no longer shows it; a zombie has an
  // empty command line, so reaping is not needed for that.
  EXPECT_TRUE(KillVirtiofsd(views).ok());
  EXPECT_TRUE(FindVirtiofsd(views).empty());
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  reaper.pid = 0;                          // reaped: nothing left to kill
  EXPECT_TRUE(KillVirtiofsd(views).ok());  // nothing left: OK
}

TEST(DomainHelperCgroupDirs, EmulatorChildWhereLibvirtMadeOneElseTheDomain) {
  TempDir root;
  NodeConfig node;  // cgroupfs, partition /vmmap
  const std::string dom = "qemu-embed-067e294d-3-vmmap-default-web-0123.libvirt-qemu";
  fs::create_directories(root.path() + "/memory/vmmap.partition/" + dom);
  fs::create_directories(root.path() + "/cpu/vmmap.partition/" + dom + "/emulator");
  fs::create_directories(root.path() + "/cpu/vmmap.partition/qemu-4-other.libvirt-qemu/emulator");
  fs::create_directories(root.path() + "/pids");  // no domain here
  fs::create_directory_symlink(root.path() + "/cpu", root.path() + "/cpuacct");
  EXPECT_THAT(DomainHelperCgroupDirs(node, "vmmap-default-web-0123", root.path()),
              UnorderedElementsAre(root.path() + "/memory/vmmap.partition/" + dom,
                                   root.path() + "/cpu/vmmap.partition/" + dom + "/emulator"));
  node.cgroup_driver = CgroupDriver::kSystemd;
  EXPECT_TRUE(DomainHelperCgroupDirs(node, "vmmap-default-web-0123", root.path()).empty());
}

}  // namespace
}  // namespace vmmap::volumes
