// Volumes through virtio-fs against a real `vmmap serve` (embedded QEMU
// driver) and real TCG guests (tests/e2e/guest/build-guest.sh follows the
// mount contract of docs/volumes.md):
//  * "vols": a configMap-like directory (read-only), a secret-like directory
//    (read-only, a 0600 file) and an emptyDir (read-write);
//  * "ninep": the same kinds of volume through 9p (vmmap.io/shared-fs: 9p);
//  * "crash": shares mounted, then vmmap serve is killed with SIGKILL,
//    restarted, and the pod removed.
// Every wait is for a console line, a state or a command's output, with
// deadlines of minutes; the one ratio (CPU used over a window against the
// pod's ceiling) is a ratio of the same window, never a time limit.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/harness.h"

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::chrono::minutes kBootDeadline{5};
// The node default per-share term (mapper/node_config.h): what the hammer
// test holds virtiofsd's private memory to.
constexpr int64_t kPerShareBytes = int64_t{16} << 20;
constexpr char kNineP[] = "vmmap.io/shared-fs";

struct ExecOutcome {
  grpc::Status status;
  v1::ExecSyncResponse response;
};

void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644) {
  std::ofstream(path, std::ios::trunc) << content;
  chmod(path.c_str(), mode);
}

v1::Mount MountOf(const std::string& container_path, const std::string& host_path, bool ro) {
  v1::Mount m;
  m.set_container_path(container_path);
  m.set_host_path(host_path);
  m.set_readonly(ro);
  return m;
}

std::string ViewsDir(const std::string& state_dir, const Pod& pod) {
  return state_dir + "/volumes/" + pod.container_id;
}

// Pids whose command line mentions the container's views (its virtiofsd).
std::vector<pid_t> VirtiofsdOf(const std::string& views_dir) {
  std::vector<pid_t> pids;
  const std::string needle = "source=" + views_dir + "/";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadFileOrEmpty(entry.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

// The cgroup path of `pid` in the v1 hierarchy holding `controller`.
std::string CgroupOf(pid_t pid, const std::string& controller) {
  std::istringstream lines(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    const size_t a = line.find(':');
    const size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::stringstream controllers(line.substr(a + 1, b - a - 1));
    for (std::string c; std::getline(controllers, c, ',');) {
      if (c == controller) return line.substr(b + 1);
    }
  }
  return "";
}

int64_t StatusKib(pid_t pid, const std::string& field) {
  std::istringstream lines(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return 0;
}

// utime + stime of a whole process (all its threads), in clock ticks.
int64_t CpuTicks(pid_t pid) {
  const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) {
      stime = std::stoll(field);
      break;
    }
  }
  return utime + stime;
}

// Every process in the domain's cpu cgroup subtree.
std::set<pid_t> DomainProcesses(const std::string& cpu_dir) {
  std::set<pid_t> pids;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(cpu_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename() != "cgroup.procs") continue;
    std::istringstream procs(ReadFileOrEmpty(it->path().string()));
    for (pid_t pid; procs >> pid;) pids.insert(pid);
  }
  return pids;
}

bool MountinfoMentions(const std::string& path) {
  return ReadFileOrEmpty("/proc/self/mountinfo").find(path) != std::string::npos;
}

struct Suite {
  std::string state_dir;
  std::string host;  // the "kubelet" volumes
  std::unique_ptr<ServerProcess> server;
  std::string image;
  Pod vols, ninep;
  bool booted = false;
};

class VolumesTest : public ::testing::Test {
 protected:
  static std::string Console(const Pod& pod) {
    return ReadFileOrEmpty(s_->state_dir + "/containers/" + pod.container_id + "/console.log");
  }

  static ExecOutcome Exec(const Pod& pod, const std::vector<std::string>& cmd) {
    v1::ExecSyncRequest request;
    request.set_container_id(pod.container_id);
    for (const std::string& word : cmd) request.add_cmd(word);
    request.set_timeout(60);
    ExecOutcome out;
    out.status = s_->server->runtime().ExecSync(Context().get(), request, &out.response);
    return out;
  }
  // stdout of a command that must succeed.
  static std::string Run(const Pod& pod, const std::vector<std::string>& cmd) {
    ExecOutcome out = Exec(pod, cmd);
    EXPECT_TRUE(out.status.ok()) << out.status.error_message();
    EXPECT_EQ(out.response.exit_code(), 0) << out.response.stderr();
    return out.response.stdout();
  }

  static std::vector<v1::Mount> Mounts(const std::string& dir) {
    return {MountOf("/etc/config", dir + "/config", true),
            MountOf("/var/run/secrets/app", dir + "/secret", true),
            MountOf("/data", dir + "/empty", false)};
  }
  static void MakeVolumes(const std::string& dir) {
    fs::create_directories(dir + "/config");
    fs::create_directories(dir + "/secret");
    fs::create_directories(dir + "/empty");
    chmod(dir.c_str(), 0755);
    chmod((dir + "/empty").c_str(), 0777);
    WriteFile(dir + "/config/game.properties", "lives=3\n");
    WriteFile(dir + "/secret/token", "s3cret\n", 0600);
  }

  static void SetUpTestSuite() {
    s_ = new Suite;
    const Fixtures& f = GetFixtures();
    s_->state_dir = f.work_dir + "/volumes";
    s_->host = f.work_dir + "/kubelet-vols";
    MakeVolumes(s_->host);
    s_->server = std::make_unique<ServerProcess>(s_->state_dir, ServerOptions{});
    s_->server->Start();
    s_->image = PullBundle(*s_->server);
    s_->vols = CreatePod(*s_->server, PodRequest{"vols", s_->image, 1000, 256 << 20, 1, {}, {}},
                         Mounts(s_->host));
    std::vector<const Pod*> pods = {&s_->vols};
    if (const std::string image = NinePImage(); !image.empty()) {
      MakeVolumes(s_->host + "-9p");
      s_->ninep = CreatePod(*s_->server,
                            PodRequest{"ninep", image, 1000, 256 << 20, 1, {}, {{kNineP, "9p"}}},
                            Mounts(s_->host + "-9p"));
      pods.push_back(&s_->ninep);
    }
    for (const Pod* pod : pods) {
      grpc::Status started = StartContainer(*s_->server, pod->container_id);
      ASSERT_TRUE(started.ok()) << started.error_message() << "\n" << s_->server->log();
    }
    s_->booted = WaitFor(
        [&pods] {
          for (const Pod* pod : pods) {
            if (Console(*pod).find("VMMAP-GUEST-BOOTED") == std::string::npos) return false;
          }
          return true;
        },
        kBootDeadline);
    // The agent answers a moment after the console says it runs.
    for (const Pod* pod : pods) {
      WaitFor([pod] { return Exec(*pod, {"true"}).status.ok(); }, std::chrono::seconds(120));
    }
  }

  // Debian's cloud kernel, which the test guest boots, is built without 9p
  // (CONFIG_NET_9P is not set). The 9p guest boots the generic kernel that
  // scripts/install-deps.sh unpacks under /opt/vmmap-tools/kernels
  // ($VMMAP_TEST_KERNELS); without it the 9p test is skipped and says why.
  // Returns the pulled image, or "".
  static std::string NinePImage() {
    const char* env = getenv("VMMAP_TEST_KERNELS");
    const std::string kernels = env != nullptr ? env : "/opt/vmmap-tools/kernels";
    const std::string root =
        Shell("ls -1d " + kernels + "/*/boot 2>/dev/null | sort -V | tail -n 1 | xargs -r dirname");
    if (root.empty()) return "";
    const std::string dir = GetFixtures().work_dir + "/guest9p";
    const std::string kernel_root = root.substr(0, root.find('\n'));
    Shell("GUEST_KERNEL_ROOT='" + kernel_root +
          "' " VMMAP_SOURCE_DIR "/tests/e2e/guest/build-guest.sh " + dir + " >/dev/null");
    std::ofstream(dir + "/cmdline") << "console=ttyS0\n";
    Shell("tar -C " + dir + " -cf " + dir + ".tar vmlinuz initrd.img cmdline");
    v1::PullImageRequest pull;
    pull.mutable_image()->set_image("file://" + dir + ".tar");
    v1::PullImageResponse pulled;
    grpc::Status s = s_->server->images().PullImage(Context().get(), pull, &pulled);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return pulled.image_ref();
  }

  static void TearDownTestSuite() {
    if (s_ == nullptr) return;
    for (const Pod* pod : {&s_->vols, &s_->ninep}) {
      if (s_->server && s_->server->running() && !pod->sandbox_id.empty()) {
        RemovePod(*s_->server, *pod);
      }
    }
    s_->server.reset();
    delete s_;
    s_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(s_, nullptr);
    ASSERT_TRUE(s_->server && s_->server->running()) << "the suite's server is not running";
    ASSERT_TRUE(s_->booted) << "the guest did not boot within " << kBootDeadline.count()
                            << " min; console:\n"
                            << Console(s_->vols) << "\n--- server log ---\n"
                            << s_->server->log();
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- console ---\n"
                << Console(s_->vols) << "--- vmmap serve log ---\n"
                << s_->server->log();
    }
  }

  static Suite* s_;
};

Suite* VolumesTest::s_ = nullptr;

TEST_F(VolumesTest, TheGuestMountsEveryShareAtItsPath) {
  const std::string console = Console(s_->vols);
  for (const char* path : {"/etc/config", "/var/run/secrets/app", "/data"}) {
    EXPECT_THAT(console, HasSubstr(std::string("VMMAP-MOUNTED=") + path));
  }
  EXPECT_THAT(console, Not(HasSubstr("VMMAP-MOUNT-FAILED")));
  const std::string mounts = Run(s_->vols, {"cat", "/proc/mounts"});
  EXPECT_THAT(mounts, HasSubstr("vol0 /etc/config virtiofs ro"));
  EXPECT_THAT(mounts, HasSubstr("vol1 /var/run/secrets/app virtiofs ro"));
  EXPECT_THAT(mounts, HasSubstr("vol2 /data virtiofs rw"));
}

TEST_F(VolumesTest, ExecSyncCatOfAMountedFileReturnsItsContent) {
  EXPECT_EQ(Run(s_->vols, {"cat", "/etc/config/game.properties"}), "lives=3\n");
  EXPECT_EQ(Run(s_->vols, {"cat", "/var/run/secrets/app/token"}), "s3cret\n");
}

TEST_F(VolumesTest, ModesAndOwnersAreTheHosts) {
  EXPECT_EQ(Run(s_->vols, {"stat", "-c", "%a %u", "/var/run/secrets/app/token"}), "600 0\n");
  EXPECT_EQ(Run(s_->vols, {"stat", "-c", "%a", "/etc/config/game.properties"}), "644\n");
  EXPECT_EQ(Run(s_->vols, {"stat", "-c", "%a", "/data"}), "777\n");
}

TEST_F(VolumesTest, ReadOnlySharesRefuseWritesInTheGuestAndOnTheHostView) {
  ExecOutcome out = Exec(s_->vols, {"sh", "-c", "echo x > /etc/config/new"});
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_NE(out.response.exit_code(), 0);
  EXPECT_FALSE(fs::exists(s_->host + "/config/new"));
  // The guest's ro mount is one guard; the view virtiofsd serves is the
  // other: even a remount rw in the guest cannot write through it.
  out = Exec(s_->vols, {"sh", "-c",
                        "mount -o remount,rw /var/run/secrets/app && "
                        "echo x > /var/run/secrets/app/new"});
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_NE(out.response.exit_code(), 0) << out.response.stdout();
  EXPECT_FALSE(fs::exists(s_->host + "/secret/new"));
  const std::string view = ViewsDir(s_->state_dir, s_->vols) + "/vol1";
  EXPECT_NE(access(view.c_str(), W_OK), 0);
  EXPECT_EQ(errno, EROFS);
}

TEST_F(VolumesTest, TheEmptyDirIsWritableBothWays) {
  Run(s_->vols, {"sh", "-c", "echo from-guest > /data/out"});
  EXPECT_EQ(ReadFileOrEmpty(s_->host + "/empty/out"), "from-guest\n");
}

TEST_F(VolumesTest, AHostUpdateIsVisibleInTheGuest) {
  // What kubelet does to a configMap volume: a new timestamped directory,
  // then the ..data symlink swapped atomically.
  const std::string cm = s_->host + "/config";
  fs::create_directories(cm + "/..2026_v2");
  WriteFile(cm + "/..2026_v2/key", "v2\n");
  fs::create_symlink("..2026_v2", cm + "/..data_tmp");
  fs::rename(cm + "/..data_tmp", cm + "/..data");
  fs::create_symlink("..data/key", cm + "/key");
  WriteFile(cm + "/game.properties", "lives=4\n");
  std::string seen;
  EXPECT_TRUE(WaitFor(
      [&] {
        seen = Exec(s_->vols, {"cat", "/etc/config/key", "/etc/config/game.properties"})
                   .response.stdout();
        return seen == "v2\nlives=4\n";
      },
      std::chrono::seconds(60)))
      << seen;
}

TEST_F(VolumesTest, VirtiofsdRunsInTheDomainsCgroups) {
  const std::vector<pid_t> pids = VirtiofsdOf(ViewsDir(s_->state_dir, s_->vols));
  ASSERT_FALSE(pids.empty()) << "no virtiofsd serves " << ViewsDir(s_->state_dir, s_->vols);
  const std::string memory = DomainCgroup("memory", "vols");
  const std::string cpu = DomainCgroup("cpu", "vols");
  ASSERT_FALSE(memory.empty());
  ASSERT_FALSE(cpu.empty());
  for (pid_t pid : pids) {
    // The domain's own memory cgroup (under hard_limit), the emulator's cpu
    // cgroup (under the pod's global ceiling).
    EXPECT_EQ("/sys/fs/cgroup/memory" + CgroupOf(pid, "memory"), memory) << "pid " << pid;
    EXPECT_EQ("/sys/fs/cgroup/cpu" + CgroupOf(pid, "cpu"), cpu + "/emulator") << "pid " << pid;
  }
}

TEST_F(VolumesTest, AGuestHammeringAShareStaysUnderThePodsCeilingAndVirtiofsdUnderItsTerm) {
  // 32 MiB to read over and over, uncached in the guest (cache=none).
  {
    std::ofstream big(s_->host + "/empty/big", std::ios::binary);
    std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 32; ++i) big << chunk;
  }
  const std::string cpu = DomainCgroup("cpu", "vols");
  ASSERT_FALSE(cpu.empty());
  const double ceiling_cpus = static_cast<double>(ReadCgroupInt(cpu + "/cpu.cfs_quota_us")) /
                              static_cast<double>(ReadCgroupInt(cpu + "/cpu.cfs_period_us"));
  ASSERT_GT(ceiling_cpus, 0);
  const std::vector<pid_t> virtiofsd = VirtiofsdOf(ViewsDir(s_->state_dir, s_->vols));
  ASSERT_FALSE(virtiofsd.empty());
  // Two readers and a writer, detached from the agent's pipes.
  Run(s_->vols,
      {"sh", "-c",
       "for i in 1 2; do (while :; do cat /data/big > /dev/null; done) </dev/null >/dev/null "
       "2>&1 & done; (while :; do dd if=/dev/zero of=/data/w bs=64k count=64 2>/dev/null; done) "
       "</dev/null >/dev/null 2>&1 &"});

  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  auto used_seconds = [&] {
    int64_t ticks = 0;
    for (pid_t pid : DomainProcesses(cpu)) ticks += CpuTicks(pid);
    return static_cast<double>(ticks) / static_cast<double>(ticks_per_second);
  };
  int64_t virtiofsd_ticks_before = 0;
  for (pid_t pid : virtiofsd) virtiofsd_ticks_before += CpuTicks(pid);
  const double used_before = used_seconds();
  const auto start = std::chrono::steady_clock::now();
  int64_t peak_private_kib = 0;
  // Sample for a while; the length only sets how much is measured.
  for (int i = 0; i < 100; ++i) {
    int64_t private_kib = 0;
    for (pid_t pid : virtiofsd) private_kib += StatusKib(pid, "RssAnon");
    peak_private_kib = std::max(peak_private_kib, private_kib);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double used = used_seconds() - used_before;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int64_t virtiofsd_ticks = -virtiofsd_ticks_before;
  for (pid_t pid : virtiofsd) virtiofsd_ticks += CpuTicks(pid);
  Exec(s_->vols, {"sh", "-c", "pkill cat; pkill dd; pkill -f 'while :'; true"});

  std::cerr << "hammer: pod used " << used << " CPU-s in " << wall << " s (ceiling " << ceiling_cpus
            << " CPUs; virtiofsd " << virtiofsd_ticks << " ticks); virtiofsd "
            << "private memory peak " << peak_private_kib << " KiB for " << virtiofsd.size()
            << " processes of 3 shares\n";
  // The work went through virtiofsd (else the test proves nothing).
  EXPECT_GT(virtiofsd_ticks, 0);
  // CFS enforces the quota per period; ticks are sampled: allow 10% + 2 ticks.
  EXPECT_LE(used, ceiling_cpus * wall * 1.10 + 2.0 / ticks_per_second);
  // All three shares' virtiofsd together, against their three terms.
  EXPECT_LE(peak_private_kib * 1024, 3 * kPerShareBytes);
}

TEST_F(VolumesTest, NinePSharesTheSameVolumesWithoutVirtiofsd) {
  if (s_->ninep.container_id.empty()) {
    GTEST_SKIP() << "no 9p guest: Debian's cloud kernel has no 9p (CONFIG_NET_9P is not set) "
                    "and no generic kernel is unpacked under /opt/vmmap-tools/kernels (run "
                    "scripts/install-deps.sh); the 9p XML is checked by libvirt's schema in "
                    "volumes_unit_test";
  }
  const Pod& pod = s_->ninep;
  const std::string mounts = Run(pod, {"cat", "/proc/mounts"});
  EXPECT_THAT(mounts, HasSubstr("vol0 /etc/config 9p ro"));
  EXPECT_THAT(mounts, HasSubstr("vol2 /data 9p rw"));
  EXPECT_EQ(Run(pod, {"cat", "/etc/config/game.properties"}), "lives=3\n");
  Run(pod, {"sh", "-c", "echo via-9p > /data/out"});
  EXPECT_EQ(ReadFileOrEmpty(s_->host + "-9p/empty/out"), "via-9p\n");
  ExecOutcome out = Exec(pod, {"sh", "-c", "echo x > /etc/config/new"});
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_NE(out.response.exit_code(), 0);
  EXPECT_FALSE(fs::exists(s_->host + "-9p/config/new"));
  EXPECT_TRUE(VirtiofsdOf(ViewsDir(s_->state_dir, pod)).empty());
}

// Last in the suite: removes "vols".
TEST_F(VolumesTest, RemovalLeavesNoVirtiofsdViewOrSocket) {
  const std::string views = ViewsDir(s_->state_dir, s_->vols);
  ASSERT_FALSE(VirtiofsdOf(views).empty());
  RemovePod(*s_->server, s_->vols);
  s_->vols.sandbox_id.clear();
  EXPECT_TRUE(VirtiofsdOf(views).empty());
  EXPECT_FALSE(fs::exists(views));
  EXPECT_FALSE(MountinfoMentions(views));  // ("ninep" keeps its own views)
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(s_->state_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool of_vols = name.find("-vols-") != std::string::npos;
    EXPECT_FALSE(name.find("-fs.sock") != std::string::npos ||
                 name.find("virtiofsd.pid") != std::string::npos ||
                 name.find("-fs.pid") != std::string::npos ||
                 (of_vols && name.find("virtiofsd.log") != std::string::npos))
        << it->path();
  }
  // The host's data is untouched.
  EXPECT_EQ(ReadFileOrEmpty(s_->host + "/empty/out"), "from-guest\n");
  EXPECT_EQ(ReadFileOrEmpty(s_->host + "/secret/token"), "s3cret\n");
}

TEST(VolumesCrashTest, Kill9WithSharesMountedThenRestartAndRemoveLeavesNothing) {
  const Fixtures& f = GetFixtures();
  const std::string state_dir = f.work_dir + "/volumes-crash";
  const std::string host = f.work_dir + "/kubelet-vols-crash";
  fs::create_directories(host + "/config");
  fs::create_directories(host + "/empty");
  WriteFile(host + "/config/a", "a\n");
  ServerProcess server(state_dir, ServerOptions{});
  server.Start();
  const std::string image = PullBundle(server);
  Pod pod = CreatePod(
      server, PodRequest{"crash", image, 1000, 256 << 20, 1, {}, {}},
      {MountOf("/etc/config", host + "/config", true), MountOf("/data", host + "/empty", false)});
  ASSERT_TRUE(StartContainer(server, pod.container_id).ok()) << server.log();
  const std::string console_path = state_dir + "/containers/" + pod.container_id + "/console.log";
  ASSERT_TRUE(WaitFor(
      [&] {
        return ReadFileOrEmpty(console_path).find("VMMAP-MOUNTED=/data") != std::string::npos;
      },
      kBootDeadline))
      << ReadFileOrEmpty(console_path);
  const std::string views = ViewsDir(state_dir, pod);
  ASSERT_FALSE(VirtiofsdOf(views).empty());

  server.Kill9();
  server.Start();
  RemovePod(server, pod);
  EXPECT_TRUE(VirtiofsdOf(views).empty());
  EXPECT_FALSE(fs::exists(views));
  EXPECT_FALSE(MountinfoMentions(state_dir + "/volumes"));
  EXPECT_EQ(ReadFileOrEmpty(host + "/config/a"), "a\n");
  if (HasFailure()) std::cerr << "--- vmmap serve log ---\n" << server.log();
}

}  // namespace
}  // namespace vmmap::e2e
