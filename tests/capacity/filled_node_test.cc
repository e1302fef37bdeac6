// The filled node (issue 13): does the scheduler's arithmetic, requests +
// RuntimeClass overhead.podFixed from `vmmap overhead`, predict what a node
// really holds?
//
// A node partition of its own (/vmmapfill, every controller) stands for the
// node's allocatable: its memory cgroup gets a limit (the budget). Pods are
// admitted exactly as the scheduler would: as many as fit requests + podFixed
// (requests = limits, Guaranteed). Each runs the test guest with
// vmmap.alloc=max (it touches all the memory its kernel hands out), through
// `vmmap serve` on the embedded driver, with the podFixed in
// PodSandboxConfig.linux.overhead as kubelet passes it.
//
//  - MemoryBudget: every admitted pod runs and fills its memory, nothing is
//    OOM-killed (partition and domain memory.oom_control, QEMU still alive),
//    and each domain's usage stays under its hard_limit; then pods beyond the
//    prediction are added one at a time until the budget breaks (a start fails,
//    or the partition's OOM killer fires, or a guest cannot fill): with QEMU's
//    memory really locked, the first pod beyond the prediction is that pod.
//  - CpuBudget: pods spinning every vCPU, CPU allocatable as the budget; over
//    a window, each pod's measured CPU (vCPU + emulator threads) against its
//    limit + podFixed.cpu and the sum against the budget.
//
// Locked memory: vmmap sets <memoryBacking><locked/>, so QEMU calls
// mlockall(MCL_CURRENT|MCL_FUTURE). This sandbox has no CAP_SYS_RESOURCE
// (libvirt cannot raise QEMU's RLIMIT_MEMLOCK, 8 MiB: the harness's shim makes
// that prlimit "succeed") but root has CAP_IPC_LOCK, which mlockall honours
// over the limit. With VMMAP_FILL_LOCKING=real (the default) the embedded
// driver's qemu.conf runs QEMU as root keeping its capabilities, so mlockall
// locks for real; with VMMAP_FILL_LOCKING=shim QEMU runs as libvirt-qemu, its
// mlockall is refused and the shim turns it into a no-op (demand paging: what
// every other e2e test runs). docs/capacity.md compares the two.
//
// No claim depends on the machine's speed: the tests wait for console lines
// and cgroup counters with generous deadlines; the CPU claims are upper bounds
// over a window, whatever CPU the machine had to give.
//
// Knobs (environment; bench/filled_node.sh sets them and prints the tables):
//   VMMAP_FILL_LOCKING      real | shim                      (real)
//   VMMAP_FILL_PODS         allocatable = this many pods' requests + podFixed (6)
//   VMMAP_FILL_BUDGET_MIB   memory allocatable instead, in MiB
//   VMMAP_FILL_POD_MIB      guest memory per pod              (256)
//   VMMAP_FILL_BEYOND       most pods tried past the prediction (3)
//   VMMAP_FILL_CPU_BUDGET_MILLI / VMMAP_FILL_CPU_POD_MILLI    (1200 / 200)
//   VMMAP_FILL_CPU_WINDOW_S CPU measurement window            (30)
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mapper/quantity.h"
#include "tests/e2e/harness.h"

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

constexpr int64_t kMiB = 1 << 20;
constexpr char kPartition[] = "/vmmapfill";
constexpr char kPartitionDir[] = "vmmapfill.partition";  // libvirt's cgroupfs name for it
// Far above what any machine of this kind needs; only a hang reaches them.
constexpr std::chrono::minutes kFillDeadline{15};
constexpr std::chrono::minutes kBeyondDeadline{5};
// Lets the last pages the guests wrote reach the counters before sampling.
constexpr std::chrono::seconds kSettle{5};

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::stoll(v) : fallback;
}
bool RealLocking() {
  const char* v = std::getenv("VMMAP_FILL_LOCKING");
  return v == nullptr || std::string(v) != "shim";
}
// Whether this process (and so a root QEMU that keeps its capabilities) has
// CAP_IPC_LOCK in its effective set: mlockall then ignores RLIMIT_MEMLOCK.
bool HaveIpcLock() {
  std::istringstream in(ReadFileOrEmpty("/proc/self/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("CapEff:", 0) == 0) {
      constexpr int kCapIpcLock = 14;
      return (std::stoull(line.substr(7), nullptr, 16) >> kCapIpcLock) & 1;
    }
  }
  return false;
}

// The RuntimeClass overhead.podFixed that `vmmap overhead` prints for one
// shape, with the node flags the harness's server uses (TCG domains).
struct PodFixed {
  int64_t memory_bytes = 0;
  int64_t cpu_milli = 0;
};

PodFixed PodFixedFromVmmapOverhead(int vcpus, int64_t memory_mib) {
  const std::string command = std::string(VMMAP_BINARY) + " overhead --domain-type qemu --vcpus " +
                              std::to_string(vcpus) + " --memory " + std::to_string(memory_mib) +
                              "Mi 2>/dev/null";
  std::istringstream out(Shell(command));
  PodFixed fixed;
  bool in_pod_fixed = false;
  for (std::string line; std::getline(out, line);) {
    if (line.find_first_not_of(' ') != std::string::npos &&
        line.substr(line.find_first_not_of(' ')) == "podFixed:") {
      in_pod_fixed = true;
      continue;
    }
    if (!in_pod_fixed) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    const size_t start = line.find_first_not_of(' ');
    const std::string key = line.substr(start, colon - start);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    absl::StatusOr<Quantity> q = Quantity::Parse(value, "overhead.podFixed." + key);
    if (!q.ok()) break;
    if (key.rfind("cpu", 0) == 0) fixed.cpu_milli = q->Milli().value_or(0);
    if (key.rfind("memory", 0) == 0) fixed.memory_bytes = q->Units().value_or(0);
    if (fixed.cpu_milli > 0 && fixed.memory_bytes > 0) break;
  }
  EXPECT_GT(fixed.memory_bytes, 0) << "no podFixed.memory in the output of: " << command;
  EXPECT_GT(fixed.cpu_milli, 0) << "no podFixed.cpu in the output of: " << command;
  std::cout << "# podFixed from: " << command.substr(0, command.size() - 12) << " -> memory "
            << fixed.memory_bytes / kMiB << "Mi, cpu " << fixed.cpu_milli << "m\n";
  return fixed;
}

std::string ReadTrimmed(const std::string& path) {
  std::string text = ReadFileOrEmpty(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}
int64_t ReadIntOr(const std::string& path, int64_t fallback = -1) {
  const std::string text = ReadTrimmed(path);
  if (text.empty()) return fallback;
  return std::stoll(text);
}
// A "key value" line of a cgroup v1 file (memory.oom_control, cpu.stat).
int64_t ReadKey(const std::string& path, const std::string& key) {
  std::istringstream in(ReadFileOrEmpty(path));
  std::string k;
  int64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return -1;
}
int64_t StatusKb(pid_t pid, const std::string& key) {
  std::istringstream in(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  }
  return -1;
}

std::string PartitionPath(const std::string& controller) {
  return "/sys/fs/cgroup/" + controller + "/" + kPartitionDir;
}

// Every mounted hierarchy that holds the partition (v1 controllers and the
// unified mount), for the clean-up.
std::vector<std::string> PartitionDirs() {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    if (entry.is_symlink(ec)) continue;  // cpu -> cpu,cpuacct
    const fs::path dir = entry.path() / kPartitionDir;
    if (fs::is_directory(dir, ec)) dirs.push_back(dir.string());
  }
  return dirs;
}

// Removes the partition in every hierarchy, deepest directories first (a
// cgroup directory goes with rmdir once it has no tasks and no children).
void RemovePartition() {
  for (const std::string& dir : PartitionDirs()) {
    ShellStatus("find '" + dir + "' -depth -type d -exec rmdir {} + 2>/dev/null");
  }
}

// One pod of the run and what was measured of it.
struct FillPod {
  Pod pod;
  bool admitted = false;  // within the scheduler's prediction
  std::string start_error;
  pid_t qemu_pid = -1;
  bool filled = false;  // the guest printed VMMAP-ALLOCATED= (or VMMAP-SPINNING=)
  // Last sample.
  bool qemu_alive = false;
  // The kernel log names it as an OOM victim ("Killed process PID"): libvirt
  // removes a dead domain's cgroup, and its oom_kill counter with it.
  bool oom_killed = false;
  int64_t usage = -1, max_usage = -1, limit = -1, failcnt = -1, oom_kill = -1;
  int64_t vmrss_kb = -1, vmlck_kb = -1;
};

std::string Console(ServerProcess& server, const Pod& pod) {
  // The CRI log holds every forwarded line; console.log what is not yet forwarded.
  return ReadFileOrEmpty(GetFixtures().work_dir + "/pod-logs/e2e_" + pod.name + "/vm/0.log") +
         ReadFileOrEmpty(server.state_dir() + "/containers/" + pod.container_id + "/console.log");
}

void Sample(FillPod& p) {
  const std::string mem = DomainCgroup("memory", p.pod.name, kPartitionDir);
  if (p.qemu_pid <= 0 && !mem.empty()) {
    std::istringstream procs(ReadFileOrEmpty(mem + "/cgroup.procs"));
    procs >> p.qemu_pid;
  }
  p.qemu_alive = p.qemu_pid > 0 && kill(p.qemu_pid, 0) == 0 &&
                 ReadFileOrEmpty("/proc/" + std::to_string(p.qemu_pid) + "/cmdline").find("qemu") !=
                     std::string::npos;
  if (p.qemu_pid > 0 && !p.qemu_alive && !p.oom_killed) {
    p.oom_killed = ShellStatus("dmesg 2>/dev/null | grep -q 'Killed process " +
                               std::to_string(p.qemu_pid) + " (qemu'") == 0;
  }
  if (mem.empty()) return;  // libvirt removed it: the domain is gone
  p.usage = ReadIntOr(mem + "/memory.usage_in_bytes");
  p.max_usage = ReadIntOr(mem + "/memory.max_usage_in_bytes");
  p.limit = ReadIntOr(mem + "/memory.limit_in_bytes");
  p.failcnt = ReadIntOr(mem + "/memory.failcnt");
  p.oom_kill = ReadKey(mem + "/memory.oom_control", "oom_kill");
  if (p.qemu_alive) {
    p.vmrss_kb = StatusKb(p.qemu_pid, "VmRSS");
    p.vmlck_kb = StatusKb(p.qemu_pid, "VmLck");
  }
}

// Removes the run's pods when it ends, also when an ASSERT returns early:
// embedded-driver VMs outlive the server otherwise.
class FillGuard {
 public:
  explicit FillGuard(ServerProcess& server) : server_(server) {}
  ~FillGuard() {
    if (server_.running()) {
      for (const FillPod& p : pods) {
        if (!p.pod.sandbox_id.empty()) RemovePod(server_, p.pod);
      }
      server_.Terminate();
    }
    RemovePartition();
  }
  std::vector<FillPod> pods;

 private:
  ServerProcess& server_;
};

// A loopback port nobody listens on now (for the server's /metrics).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// One series of a /metrics text for pod `pod`, or -1.
double MetricOf(const std::string& scrape, const std::string& family, const std::string& pod) {
  std::istringstream in(scrape);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(family + "{", 0) != 0) continue;
    if (line.find("pod=\"" + pod + "\"") == std::string::npos) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

// A server whose node partition is /vmmapfill; with real locking its embedded
// driver runs QEMU as root and keeps QEMU's capabilities (CAP_IPC_LOCK).
std::unique_ptr<ServerProcess> StartFillServer(const std::string& name, int metrics_port) {
  const std::string state_dir = GetFixtures().work_dir + "/" + name;
  fs::remove_all(state_dir);
  fs::create_directories(state_dir + "/libvirt/etc");
  std::ofstream conf(state_dir + "/libvirt/etc/qemu.conf");
  conf << "stdio_handler = \"file\"\n";
  if (RealLocking()) {
    conf << "user = \"root\"\ngroup = \"root\"\nclear_emulator_capabilities = 0\n";
  }
  conf.close();
  ServerOptions options;
  options.extra_flags = {"--node-partition", kPartition, "--metrics-address",
                         "127.0.0.1:" + std::to_string(metrics_port)};
  auto server = std::make_unique<ServerProcess>(state_dir, options);
  server->Start();
  return server;
}

// A pod shaped as the scheduler admits it: requests = limits, the class's
// podFixed in PodSandboxConfig.linux.overhead.
PodRequest FillRequest(const std::string& name, const std::string& image, int64_t cpu_milli,
                       int64_t guest, int vcpus, std::vector<std::string> args,
                       const PodFixed& fixed) {
  PodRequest r;
  r.name = name;
  r.image = image;
  r.cpu_milli = cpu_milli;
  r.memory_bytes = guest;
  r.vcpus = vcpus;
  r.kernel_args = std::move(args);
  r.overhead_cpu_milli = fixed.cpu_milli;
  r.overhead_memory_bytes = fixed.memory_bytes;
  return r;
}

FillPod StartFillPod(ServerProcess& server, const std::string& image, PodRequest request,
                     bool admitted) {
  FillPod p;
  p.admitted = admitted;
  p.pod = CreatePod(server, request);
  grpc::Status s = StartContainer(server, p.pod.container_id);
  if (!s.ok()) p.start_error = s.error_message();
  return p;
}

std::string Mib(int64_t bytes) {
  if (bytes < 0) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / kMiB;
  return out.str();
}

void PrintMemoryTable(const std::vector<FillPod>& pods, int64_t guest, int64_t predicted) {
  std::cout << "| pod | admitted | started | filled | QEMU alive | OOM-killed | oom_kill | failcnt "
               "| hard_limit MiB | usage MiB | max_usage MiB | usage − guest MiB "
               "| VmRSS MiB | VmLck MiB | predicted (req + podFixed) MiB |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const FillPod& p : pods) {
    std::cout << "| " << p.pod.name << " | " << (p.admitted ? "yes" : "**no**") << " | "
              << (p.start_error.empty() ? "yes" : "no: " + p.start_error.substr(0, 80)) << " | "
              << (p.filled ? "yes" : "no") << " | " << (p.qemu_alive ? "yes" : "**no**") << " | "
              << (p.oom_killed ? "**yes**" : "no") << " | " << p.oom_kill << " | " << p.failcnt
              << " | " << Mib(p.limit) << " | " << Mib(p.usage) << " | " << Mib(p.max_usage)
              << " | " << Mib(p.max_usage >= 0 ? p.max_usage - guest : -1) << " | "
              << Mib(p.vmrss_kb >= 0 ? p.vmrss_kb * 1024 : -1) << " | "
              << Mib(p.vmlck_kb >= 0 ? p.vmlck_kb * 1024 : -1) << " | " << Mib(predicted) << " |\n";
  }
}

void PrintPartition(const std::string& when) {
  const std::string mem = PartitionPath("memory");
  std::cout << "# partition " << when << ": limit "
            << Mib(ReadIntOr(mem + "/memory.limit_in_bytes")) << " MiB, usage "
            << Mib(ReadIntOr(mem + "/memory.usage_in_bytes")) << " MiB, max_usage "
            << Mib(ReadIntOr(mem + "/memory.max_usage_in_bytes")) << " MiB, failcnt "
            << ReadIntOr(mem + "/memory.failcnt") << ", oom_kill "
            << ReadKey(mem + "/memory.oom_control", "oom_kill") << "\n";
}

TEST(FilledNodeTest, MemoryBudgetEndsWherePredicted) {
  const int64_t guest = EnvInt("VMMAP_FILL_POD_MIB", 256) * kMiB;
  const int beyond_max = static_cast<int>(EnvInt("VMMAP_FILL_BEYOND", 3));
  const int vcpus = 1;
  const int64_t cpu_milli = 500;  // CPU allocatable is not the budget here
  if (RealLocking() && !HaveIpcLock()) {
    GTEST_SKIP() << "real locking needs CAP_IPC_LOCK (QEMU's RLIMIT_MEMLOCK cannot be raised "
                    "without CAP_SYS_RESOURCE); VMMAP_FILL_LOCKING=shim measures demand paging";
  }
  ASSERT_FALSE(fs::exists(PartitionPath("memory")))
      << PartitionPath("memory") << " exists: an earlier run left it (remove it with rmdir)";
  const PodFixed fixed = PodFixedFromVmmapOverhead(vcpus, guest / kMiB);
  ASSERT_GT(fixed.memory_bytes, 0);
  const int64_t per_pod = guest + fixed.memory_bytes;
  // A node is full when the scheduler's sum reaches allocatable: by default
  // allocatable is exactly VMMAP_FILL_PODS pods' requests + podFixed.
  const int64_t budget_mib = EnvInt("VMMAP_FILL_BUDGET_MIB", 0);
  const int64_t budget =
      budget_mib > 0 ? budget_mib * kMiB : EnvInt("VMMAP_FILL_PODS", 6) * per_pod;
  const int admitted = static_cast<int>(budget / per_pod);
  ASSERT_GE(admitted, 2) << "the budget must hold at least two pods";
  std::cout << "# locking: " << (RealLocking() ? "real (QEMU as root, CAP_IPC_LOCK)" : "shim")
            << "; budget " << budget / kMiB << " MiB; pod: " << vcpus << " vCPU, " << guest / kMiB
            << " MiB guest, requests + podFixed = " << Mib(per_pod) << " MiB; the scheduler admits "
            << admitted << " (" << Mib(admitted * per_pod) << " MiB)\n";

  const int metrics_port = FreePort();
  std::unique_ptr<ServerProcess> server = StartFillServer("filled-node-memory", metrics_port);
  FillGuard guard(*server);
  const std::string mem_limit = PartitionPath("memory") + "/memory.limit_in_bytes";
  ASSERT_TRUE(fs::exists(mem_limit)) << "vmmap serve did not create " << kPartition;
  std::ofstream(mem_limit) << budget;
  ASSERT_EQ(ReadIntOr(mem_limit), budget) << "could not set " << mem_limit;
  const std::string image = PullBundle(*server);
  const std::string suffix = std::to_string(getpid() % 100000);

  auto request = [&](int i) {
    return FillRequest("fill-" + suffix + "-" + std::to_string(i), image, cpu_milli, guest, vcpus,
                       {"vmmap.alloc=max", "vmmap.alloc_at=1", "vmmap.heartbeat=10"}, fixed);
  };
  auto partition_oom_kills = [] {
    return ReadKey(PartitionPath("memory") + "/memory.oom_control", "oom_kill");
  };
  auto refresh = [&](FillPod& p) {
    if (!p.filled) p.filled = Console(*server, p.pod).find("VMMAP-ALLOCATED=") != std::string::npos;
    Sample(p);
  };

  // 1. The admitted pods, all at once as a scheduler would bind them.
  for (int i = 1; i <= admitted; ++i) {
    guard.pods.push_back(StartFillPod(*server, image, request(i), true));
    ASSERT_EQ(guard.pods.back().start_error, "") << server->log();
  }
  const bool all_filled = WaitFor(
      [&] {
        bool all = true;
        bool died = false;  // a QEMU seen once and gone: no point waiting on
        for (FillPod& p : guard.pods) {
          refresh(p);
          all = all && p.filled;
          died = died || (p.qemu_pid > 0 && !p.qemu_alive);
        }
        return all || died || partition_oom_kills() > 0;
      },
      kFillDeadline);
  std::this_thread::sleep_for(kSettle);
  for (FillPod& p : guard.pods) refresh(p);
  PrintPartition("with the admitted pods");
  PrintMemoryTable(guard.pods, guest, per_pod);
  EXPECT_TRUE(all_filled) << "not every admitted guest filled its memory";
  EXPECT_EQ(partition_oom_kills(), 0) << "the partition's OOM killer fired within the prediction";
  for (const FillPod& p : guard.pods) {
    EXPECT_TRUE(p.qemu_alive) << p.pod.name;
    EXPECT_FALSE(p.oom_killed) << p.pod.name << "'s QEMU was OOM-killed (kernel log)";
    EXPECT_EQ(p.oom_kill, 0) << p.pod.name;
    EXPECT_GT(p.limit, guest) << p.pod.name << ": no hard_limit on the domain cgroup";
    EXPECT_LE(p.limit, per_pod) << p.pod.name << ": hard_limit above what the scheduler counted";
    EXPECT_LE(p.max_usage, p.limit) << p.pod.name;
    EXPECT_GE(p.max_usage, guest) << p.pod.name << ": the guest's memory is not resident";
  }
  // /metrics tells the same story: the VMM's memory against the prediction.
  std::this_thread::sleep_for(std::chrono::seconds(1));  // past the stats cache
  const std::string scrape =
      Shell("curl -sf http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics");
  std::cout << "| pod | vmmap_pod_memory_guest_bytes MiB | vmmap_pod_vmm_memory_bytes MiB "
               "| vmmap_pod_vmm_memory_predicted_bytes MiB |\n|---|---|---|---|\n";
  for (const FillPod& p : guard.pods) {
    const double g = MetricOf(scrape, "vmmap_pod_memory_guest_bytes", p.pod.name);
    const double vmm = MetricOf(scrape, "vmmap_pod_vmm_memory_bytes", p.pod.name);
    const double predicted = MetricOf(scrape, "vmmap_pod_vmm_memory_predicted_bytes", p.pod.name);
    std::cout << "| " << p.pod.name << " | " << Mib(g) << " | " << Mib(vmm) << " | "
              << Mib(predicted) << " |\n";
    EXPECT_EQ(g, guest) << p.pod.name;
    EXPECT_GT(vmm, 0) << p.pod.name;
    EXPECT_EQ(predicted, p.limit - guest) << p.pod.name;
    EXPECT_LE(vmm, predicted) << p.pod.name;
  }
  if (::testing::Test::HasFailure()) std::cerr << server->log();
  ASSERT_FALSE(::testing::Test::HasFailure());

  // 2. Beyond the prediction, one pod at a time, until the budget breaks.
  int broke_at = 0;  // 1: the first pod beyond the prediction
  for (int k = 1; k <= beyond_max && broke_at == 0; ++k) {
    const int64_t kills_before = partition_oom_kills();
    guard.pods.push_back(StartFillPod(*server, image, request(admitted + k), false));
    FillPod& extra = guard.pods.back();
    auto broken = [&] {
      if (!extra.start_error.empty() || partition_oom_kills() > kills_before) return true;
      for (FillPod& p : guard.pods) {
        refresh(p);
        if (&p != &extra && !p.qemu_alive) return true;
      }
      return false;
    };
    WaitFor([&] { return broken() || extra.filled; }, kBeyondDeadline);
    std::this_thread::sleep_for(kSettle);
    for (FillPod& p : guard.pods) refresh(p);
    const bool broke = broken() || !extra.filled || !extra.qemu_alive;
    std::cout << "# pod " << admitted + k << " (" << k
              << " beyond the prediction): " << (broke ? "the budget broke" : "fits")
              << "; start: " << (extra.start_error.empty() ? "ok" : extra.start_error) << "\n";
    if (broke) broke_at = k;
  }
  PrintPartition("at the end");
  PrintMemoryTable(guard.pods, guest, per_pod);
  std::cout << "# result: predicted " << admitted << " pods; the budget broke at pod "
            << (broke_at > 0 ? std::to_string(admitted + broke_at) : "none tried") << "\n";
  if (RealLocking()) {
    EXPECT_EQ(broke_at, 1) << "with locked memory the first pod beyond the prediction should "
                              "break the budget; the prediction is "
                           << (broke_at == 0 ? "too conservative" : "wrong");
  }
}

// CPU time of a domain cgroup directory (or its vcpuN/emulator child), in
// seconds: cpuacct.usage where libvirt made a per-domain cpuacct directory,
// else the cgroup2 mount's cpu.stat usage_usec (libvirt leaves cpuacct at the
// root of a separately mounted v1 hierarchy; docs of server/stats).
double CpuSeconds(const std::string& dir) {
  if (fs::exists(dir + "/cpuacct.usage")) return ReadIntOr(dir + "/cpuacct.usage", 0) / 1e9;
  return ReadKey(dir + "/cpu.stat", "usage_usec") / 1e6;
}

TEST(FilledNodeTest, CpuBudgetHoldsWithGuestsSpinning) {
  const int64_t budget_milli = EnvInt("VMMAP_FILL_CPU_BUDGET_MILLI", 1200);
  const int64_t pod_milli = EnvInt("VMMAP_FILL_CPU_POD_MILLI", 200);
  const std::chrono::seconds window{EnvInt("VMMAP_FILL_CPU_WINDOW_S", 30)};
  const int vcpus = 1;
  const int64_t guest = 256 * kMiB;
  ASSERT_FALSE(fs::exists(PartitionPath("memory")))
      << PartitionPath("memory") << " exists: an earlier run left it (remove it with rmdir)";
  const PodFixed fixed = PodFixedFromVmmapOverhead(vcpus, guest / kMiB);
  ASSERT_GT(fixed.cpu_milli, 0);
  const int64_t per_pod = pod_milli + fixed.cpu_milli;
  const int admitted = static_cast<int>(budget_milli / per_pod);
  ASSERT_GE(admitted, 1);
  std::cout << "# CPU budget " << budget_milli << "m; pod: " << vcpus << " vCPU, limit "
            << pod_milli << "m + podFixed " << fixed.cpu_milli << "m = " << per_pod
            << "m; the scheduler admits " << admitted << "\n";

  const int metrics_port = FreePort();
  std::unique_ptr<ServerProcess> server = StartFillServer("filled-node-cpu", metrics_port);
  FillGuard guard(*server);
  const std::string image = PullBundle(*server);
  const std::string suffix = std::to_string(getpid() % 100000);
  for (int i = 1; i <= admitted; ++i) {
    const PodRequest r = FillRequest("spin-" + suffix + "-" + std::to_string(i), image, pod_milli,
                                     guest, vcpus, {"vmmap.spin=1", "vmmap.heartbeat=10"}, fixed);
    guard.pods.push_back(StartFillPod(*server, image, r, true));
    ASSERT_EQ(guard.pods.back().start_error, "") << server->log();
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        bool all = true;
        for (FillPod& p : guard.pods) {
          if (!p.filled) {
            p.filled = Console(*server, p.pod).find("VMMAP-SPINNING=") != std::string::npos;
          }
          all = all && p.filled;
        }
        return all;
      },
      kFillDeadline))
      << "not every guest started spinning\n"
      << server->log();

  struct CpuSample {
    double all = 0, vcpu = 0, emulator = 0;
    int64_t nr_throttled = 0, throttled_ns = 0;
  };
  auto sample = [&](const FillPod& p) {
    std::string acct = DomainCgroup("cpuacct", p.pod.name, kPartitionDir);
    if (acct.empty()) acct = DomainCgroup("unified", p.pod.name, kPartitionDir);
    const std::string cpu = DomainCgroup("cpu", p.pod.name, kPartitionDir);
    CpuSample s;
    s.all = CpuSeconds(acct);
    for (int v = 0; v < vcpus; ++v) s.vcpu += CpuSeconds(acct + "/vcpu" + std::to_string(v));
    s.emulator = CpuSeconds(acct + "/emulator");
    s.nr_throttled = ReadKey(cpu + "/cpu.stat", "nr_throttled");
    s.throttled_ns = ReadKey(cpu + "/cpu.stat", "throttled_time");
    return s;
  };
  std::vector<CpuSample> before;
  for (const FillPod& p : guard.pods) before.push_back(sample(p));
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "| pod | limit + podFixed (cores) | measured all threads | vCPU threads "
               "| emulator threads | periods throttled | throttled s |\n"
               "|---|---|---|---|---|---|---|\n";
  double sum = 0;
  for (size_t i = 0; i < guard.pods.size(); ++i) {
    const CpuSample after = sample(guard.pods[i]);
    const double all = (after.all - before[i].all) / seconds;
    const double vcpu = (after.vcpu - before[i].vcpu) / seconds;
    const double emulator = (after.emulator - before[i].emulator) / seconds;
    sum += all;
    std::cout << std::fixed << std::setprecision(3) << "| " << guard.pods[i].pod.name << " | "
              << per_pod / 1000.0 << " | " << all << " | " << vcpu << " | " << emulator << " | "
              << after.nr_throttled - before[i].nr_throttled << " | "
              << (after.throttled_ns - before[i].throttled_ns) / 1e9 << " |\n";
    // CFS enforces the quota per 100 ms period; one period's slack over the window.
    EXPECT_LE(all, per_pod / 1000.0 * (1 + 0.1 / seconds) + 0.01) << guard.pods[i].pod.name;
    EXPECT_GT(vcpu, 0) << guard.pods[i].pod.name << " did not spin";
  }
  std::cout << std::fixed << std::setprecision(3) << "| **sum** | " << admitted * per_pod / 1000.0
            << " (budget " << budget_milli / 1000.0 << ") | " << sum << " | | | | |\n"
            << "# window " << seconds << " s; load average: " << ReadTrimmed("/proc/loadavg")
            << "\n";
  EXPECT_LE(sum, budget_milli / 1000.0 * (1 + 0.1 / seconds) + 0.01);

  // /metrics splits the throttling: spinning vCPUs hit their own quota.
  std::this_thread::sleep_for(std::chrono::seconds(1));  // past the stats cache
  const std::string scrape =
      Shell("curl -sf http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics");
  std::cout
      << "| pod | vmmap_pod_cpu_throttled_periods_total | vmmap_pod_vcpu_throttled_periods_total "
         "| vmmap_pod_emulator_throttled_periods_total | vmmap_pod_vcpu_seconds_total |\n"
         "|---|---|---|---|---|\n";
  for (const FillPod& p : guard.pods) {
    const double global = MetricOf(scrape, "vmmap_pod_cpu_throttled_periods_total", p.pod.name);
    const double vcpu = MetricOf(scrape, "vmmap_pod_vcpu_throttled_periods_total", p.pod.name);
    const double emulator =
        MetricOf(scrape, "vmmap_pod_emulator_throttled_periods_total", p.pod.name);
    const double vcpu_seconds = MetricOf(scrape, "vmmap_pod_vcpu_seconds_total", p.pod.name);
    std::cout << std::setprecision(0) << "| " << p.pod.name << " | " << global << " | " << vcpu
              << " | " << emulator << " | " << std::setprecision(1) << vcpu_seconds << " |\n";
    EXPECT_GT(vcpu, 0) << p.pod.name << ": a spinning vCPU under its quota is throttled";
    EXPECT_GE(emulator, 0) << p.pod.name << ": no emulator throttling series";
    EXPECT_GT(vcpu_seconds, 0) << p.pod.name;
  }
}

}  // namespace
}  // namespace vmmap::e2e
