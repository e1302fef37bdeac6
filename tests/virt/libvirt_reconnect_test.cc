// LibvirtHypervisor survives a libvirtd restart.
//
// Starts a private, unprivileged (session-mode) libvirtd whose sockets live
// in a temp dir, talks to its test driver over the remote protocol
// ("test+unix:///default?socket=..."), kills and restarts the daemon, and
// checks the next call reconnects transparently. Skipped when libvirtd is
// not installed or does not come up.
//
// As root the daemon is started as "nobody": a root libvirtd runs in system
// mode and would collide with any system daemon on the host.

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/virt/libvirt_hypervisor.h"

namespace vmmap::virt {
namespace {

constexpr char kLibvirtd[] = "/usr/sbin/libvirtd";

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// One private libvirtd process. Only the pid this class spawned is ever
// signalled.
class PrivateLibvirtd {
 public:
  explicit PrivateLibvirtd(std::string dir) : dir_(std::move(dir)) {}
  ~PrivateLibvirtd() {
    Stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string socket() const { return dir_ + "/run/libvirt/libvirt-sock"; }

  bool Start() {
    for (const char* sub : {"/run", "/home", "/cfg", "/cache"}) {
      mkdir((dir_ + sub).c_str(), 0700);
    }
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (uid == 0) {
      struct passwd* nobody = getpwnam("nobody");
      if (nobody == nullptr) return false;
      uid = nobody->pw_uid;
      gid = nobody->pw_gid;
      for (const char* sub : {"", "/run", "/home", "/cfg", "/cache"}) {
        if (chown((dir_ + sub).c_str(), uid, gid) != 0) return false;
      }
    }
    unlink(socket().c_str());
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      if (getuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
        _exit(127);
      }
      int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 1);
      dup2(devnull, 2);
      const std::string home = "HOME=" + dir_ + "/home";
      const std::string run = "XDG_RUNTIME_DIR=" + dir_ + "/run";
      const std::string cfg = "XDG_CONFIG_HOME=" + dir_ + "/cfg";
      const std::string cache = "XDG_CACHE_HOME=" + dir_ + "/cache";
      char* const env[] = {const_cast<char*>(home.c_str()),
                           const_cast<char*>(run.c_str()),
                           const_cast<char*>(cfg.c_str()),
                           const_cast<char*>(cache.c_str()),
                           const_cast<char*>("PATH=/usr/bin:/usr/sbin"),
                           nullptr};
      // --timeout: the daemon exits on its own once idle, even if this test
      // dies without stopping it.
      char* const argv[] = {const_cast<char*>(kLibvirtd), const_cast<char*>("--timeout"),
                            const_cast<char*>("60"), nullptr};
      execve(kLibvirtd, argv, env);
      _exit(127);
    }
    for (int i = 0; i < 100; ++i) {  // up to 10 s
      if (Exists(socket())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  const std::string dir_;
  pid_t pid_ = -1;
};

TEST(LibvirtReconnectTest, SurvivesDaemonRestart) {
  if (!Exists(kLibvirtd)) GTEST_SKIP() << kLibvirtd << " not installed";
  // Deliberately no signal(SIGPIPE, SIG_IGN) here: Open() must take care of
  // it, or the first write to the restarted daemon kills this process.

  char tmpl[] = "/tmp/vmmap-virt-reconnect-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  PrivateLibvirtd daemon(tmpl);
  if (!daemon.Start()) GTEST_SKIP() << "private libvirtd did not start";

  absl::StatusOr<std::unique_ptr<LibvirtHypervisor>> h =
      LibvirtHypervisor::Open("test+unix:///default?socket=" + daemon.socket());
  ASSERT_TRUE(h.ok()) << h.status();
  LibvirtHypervisor& hv = **h;
  ASSERT_TRUE(hv.Ping().ok());
  absl::StatusOr<DomainStatus> st = hv.DomainState("test");
  ASSERT_TRUE(st.ok()) << st.status();

  // Daemon down: calls fail Unavailable (nothing to reconnect to).
  daemon.Stop();
  st = hv.DomainState("test");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnavailable) << st.status();
  RecordProperty("daemon_down_error", std::string(st.status().message()));

  // Daemon back: the next call reconnects by itself.
  ASSERT_TRUE(daemon.Start());
  st = hv.DomainState("test");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, PowerState::kRunning);
  EXPECT_EQ(hv.reconnects(), 1u);

  // Restart again and use a bulk call first this time.
  daemon.Stop();
  ASSERT_TRUE(daemon.Start());
  absl::StatusOr<std::vector<DomainStats>> stats = hv.GetAllDomainStats(std::nullopt, kStatsState);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->size(), 1u);  // the test driver's fresh "test" domain
  EXPECT_EQ(hv.reconnects(), 2u);
  EXPECT_TRUE(hv.Ping().ok());
}

}  // namespace
}  // namespace vmmap::virt
