// The pod start path against its floors, in one run (issue 11):
//
//  1. For N sequential pods (1 vCPU, 256 MiB, the e2e guest: Debian's cloud
//     kernel + a busybox initramfs, direct kernel boot, TCG), three ways to
//     start the same guest, each from "nothing running":
//       - vmmap: RunPodSandbox + CreateContainer + StartContainer against
//         `vmmap serve` on the product default (the embedded QEMU driver),
//         until StartContainer returns, and until the guest's userspace
//         prints VMMAP-GUEST-BOOTED on its console;
//       - floor (b): libvirt starting a MINIMAL domain (same kernel, initrd,
//         memory and vCPU; no <cputune>, no <memtune>, no partition) with
//         virDomainCreateXML on a fresh qemu:///embed root in this process;
//         the same two instants;
//       - floor (a): a bare `qemu-system-x86_64 -accel tcg` with the same
//         kernel, initrd, cmdline and memory, its serial console on a pipe:
//         to the first serial byte and to the userspace marker.
//     One unmeasured warm-up round first (QEMU capability probe of a fresh
//     root). The goal: vmmap <= 1.3x libvirt's minimal domain.
//  2. vmmap-serve's VmRSS with M pods defined (RunPodSandbox + CreateContainer,
//     not started), on a fresh server: idle, after 1 pod, after M, after removal.
//
// The memlock shim must be preloaded in this process (the embedded driver here
// raises QEMU's RLIMIT_MEMLOCK); the program re-executes itself with LD_PRELOAD
// set when it is not. Everything lives under /var/tmp/vmmap-e2e-<pid> (the e2e
// harness's work dir) and is removed at the end, with every domain it created,
// every domain cgroup directory of its domains that libvirt left behind, and
// the partition cgroups (vmmap.partition, machine) that did not exist before
// it ran.
//
// usage: vmmap_start_path_bench [--pods N] [--rss-pods M] [--bisect-rounds R] [--keep-work-dir]
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pugixml.hpp>

#include "bench/e2e_harness.h"

extern char** environ;

namespace vmmap::bench {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using Clock = std::chrono::steady_clock;

constexpr int64_t kMiB = 1 << 20;
constexpr int64_t kPodCpuMilli = 1000;
constexpr int64_t kPodMemory = 256 * kMiB;
constexpr int kPodVcpus = 1;
constexpr char kReexecEnv[] = "VMMAP_START_PATH_BENCH_REEXEC";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ------------------------------------------------------------------ cleanup state

struct State {
  std::string work_dir;
  bool keep_work_dir = false;
  std::unique_ptr<ServerProcess> server;
  virConnectPtr conn = nullptr;          // this process's embed connection
  std::vector<std::string> embed_roots;  // every qemu:///embed root we created
  // Partition cgroups (vmmap's node partition, libvirt's default "machine")
  // that did not exist when the bench started: libvirt removes each domain's
  // own cgroup, but nobody removes these.
  std::vector<std::string> new_cgroup_dirs;
  std::vector<pid_t> bare_qemus;  // bare QEMU processes still running
};
State g;
volatile sig_atomic_t g_stop = 0;
// The TCG translation cache vmmap gives the pods' domains
// (<features><tcg><tb-cache>, MiB), read from vmmap's own XML before the
// floors run: the floors get the same, so that their QEMUs match (QEMU 7.2's
// default cache is 1 GiB). It does not explain the floors' later userspace:
// with the same cache they still took ~2.5x vmmap's time (their guest has no
// NIC and no ip= argument). 0: vmmap sets none, neither do the floors.
int g_tb_cache_mib = 0;

void OnSignal(int) { g_stop = 1; }

std::string EmbedUri(const std::string& root) { return "qemu:///embed?root=" + root; }

// Runs argv (no shell); stdout+stderr appended to `log`. Returns the exit
// status (-1 on spawn failure or timeout) and the wall time from spawn to reap.
struct ProcResult {
  int status = -1;
  double ms = 0;
};
ProcResult RunProcess(const std::vector<std::string>& args, const std::string& log,
                      std::chrono::seconds timeout = std::chrono::seconds(120)) {
  ProcResult r;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const auto t0 = Clock::now();
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return r;
  const auto deadline = t0 + timeout;
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return r;
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return r;
    }
    struct timespec ts = {0, 200 * 1000};  // 0.2 ms: resolution far below virsh's cost
    nanosleep(&ts, nullptr);
  }
  r.ms = Ms(Clock::now() - t0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<std::string> VirshListAll(const std::string& root, const std::string& log) {
  const std::string out_path = g.work_dir + "/virsh-list.out";
  fs::remove(out_path);
  RunProcess({"virsh", "-q", "-c", EmbedUri(root), "list", "--all", "--name"}, out_path);
  std::vector<std::string> names;
  std::istringstream in(ReadFileOrEmpty(out_path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.find(' ') == std::string::npos) names.push_back(line);
  }
  fs::remove(out_path);
  return names;
}

// QEMU processes whose command line mentions `needle` (our work dir), by pid.
std::vector<pid_t> QemuProcesses(const std::string& needle) {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::error_code ec2;
    const std::string exe = fs::read_symlink(entry.path() / "exe", ec2).filename().string();
    if (exe.rfind("qemu-system", 0) != 0) continue;  // not the shell wrapper, not vmmap-serve
    std::string cmdline = ReadFileOrEmpty(entry.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (!needle.empty() && cmdline.find(needle) == std::string::npos) continue;
    pids.push_back(std::stoi(name));
  }
  return pids;
}

// The partition directories, in every mounted controller, that are missing now.
std::vector<std::string> MissingPartitionCgroups() {
  std::vector<std::string> missing;
  std::error_code ec;
  for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    std::error_code ec2;
    if (!controller.is_directory(ec2) || controller.is_symlink(ec2)) continue;
    for (const char* name : {"vmmap.partition", "machine"}) {
      const fs::path dir = controller.path() / name;
      if (!fs::exists(dir, ec2)) missing.push_back(dir.string());
    }
  }
  return missing;
}

// Domain cgroup directories (and their vcpuN/emulator children) whose name
// carries one of ours: libvirt removes a domain's cgroup when it stops it,
// but not always when its user dies first.
std::string OurNameMark() { return std::to_string(getpid()) + "-"; }
void RemoveOurDomainCgroups() {
  const std::vector<std::string> marks = {"sp" + OurNameMark(), "floor" + OurNameMark()};
  std::error_code ec;
  for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    std::vector<fs::path> ours;
    std::error_code ec2;
    for (auto it = fs::recursive_directory_iterator(controller.path(), ec2);
         !ec2 && it != fs::recursive_directory_iterator(); it.increment(ec2)) {
      const std::string name = it->path().filename().string();
      const bool mine = std::any_of(marks.begin(), marks.end(), [&](const std::string& m) {
        return name.find(m) != std::string::npos;
      });
      if (mine && it->is_directory(ec2)) {
        ours.push_back(it->path());
        it.disable_recursion_pending();
      }
    }
    for (const fs::path& dir : ours) {
      std::vector<fs::path> children;
      for (const auto& c : fs::directory_iterator(dir, ec2)) {
        if (c.is_directory(ec2)) children.push_back(c.path());
      }
      for (const fs::path& c : children) ::rmdir(c.c_str());
      if (::rmdir(dir.c_str()) != 0) {
        std::cerr << "cleanup: cannot remove cgroup " << dir.string() << ": " << strerror(errno)
                  << "\n";
      }
    }
  }
}

// rmdir (never recursive: a cgroup with tasks or children stays, and says so).
void RemoveNewCgroupDirs() {
  for (const std::string& dir : g.new_cgroup_dirs) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) continue;
    if (::rmdir(dir.c_str()) != 0) {
      std::cerr << "cleanup: cannot remove cgroup " << dir << ": " << strerror(errno) << "\n";
    }
  }
}

void Cleanup() {
  g.server.reset();  // SIGTERM; its VMs (if any) keep running and are found below
  if (g.conn != nullptr) {
    virDomainPtr* doms = nullptr;
    const int n = virConnectListAllDomains(g.conn, &doms, 0);
    for (int i = 0; i < n; ++i) {
      if (virDomainIsActive(doms[i]) == 1) virDomainDestroy(doms[i]);
      if (virDomainIsPersistent(doms[i]) == 1) virDomainUndefine(doms[i]);
      virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(g.conn);
    g.conn = nullptr;
  }
  const std::string log = g.work_dir + "/cleanup.log";
  for (const std::string& root : g.embed_roots) {
    if (!fs::exists(root + "/etc")) continue;
    for (const std::string& name : VirshListAll(root, log)) {
      RunProcess({"virsh", "-q", "-c", EmbedUri(root), "destroy", name}, log);
      RunProcess({"virsh", "-q", "-c", EmbedUri(root), "undefine", name}, log);
    }
  }
  // Safety net: QEMU processes that still name our work dir are ours.
  if (!g.work_dir.empty()) {
    for (pid_t pid : QemuProcesses(g.work_dir)) {
      std::cerr << "cleanup: killing leftover QEMU pid " << pid << "\n";
      kill(pid, SIGKILL);
    }
  }
  for (pid_t pid : g.bare_qemus) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  RemoveOurDomainCgroups();
  RemoveNewCgroupDirs();
  if (!g.work_dir.empty() && !g.keep_work_dir) {
    std::error_code ec;
    fs::remove_all(g.work_dir, ec);
    if (ec) std::cerr << "cleanup: cannot remove " << g.work_dir << ": " << ec.message() << "\n";
  }
}

[[noreturn]] void Die(const std::string& message) {
  std::cout << std::flush;
  std::cerr << "vmmap_start_path_bench: " << message << std::endl;
  if (g.server)
    std::cerr << "--- vmmap serve log (tail) ---\n"
              <<
        [] {
          const std::string log = g.server->log();
          return log.size() > 4000 ? log.substr(log.size() - 4000) : log;
        }() << std::endl;
  Cleanup();
  std::_Exit(1);
}

bool HarnessFailed() { return ::testing::UnitTest::GetInstance()->ad_hoc_test_result().Failed(); }

void CheckStop() {
  if (g_stop) Die("interrupted");
}

// ------------------------------------------------------------------ figures

struct Summary {
  double median = 0, p90 = 0, min = 0, max = 0, mean = 0;
};
Summary Summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.p90 = v[static_cast<size_t>(std::ceil(0.9 * n)) - 1];  // nearest rank
  s.min = v.front();
  s.max = v.back();
  for (double x : v) s.mean += x;
  s.mean /= n;
  return s;
}

std::string Fmt(double x, int precision = 1) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << x;
  return out.str();
}

void PrintRow(const std::string& label, const std::vector<double>& v) {
  const Summary s = Summarize(v);
  std::cout << "  " << std::left << std::setw(50) << label << std::right << " median "
            << std::setw(8) << Fmt(s.median) << " ms   p90 " << std::setw(8) << Fmt(s.p90)
            << " ms   min " << std::setw(8) << Fmt(s.min) << "   max " << std::setw(8) << Fmt(s.max)
            << "\n";
}

std::string LoadAvg() {
  std::istringstream in(ReadFileOrEmpty("/proc/loadavg"));
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string LoadLine() {
  const size_t all = QemuProcesses("").size();
  const std::vector<pid_t> ours = QemuProcesses(g.work_dir);
  std::string line = "load average " + LoadAvg() +
                     "; QEMU processes on the machine: " + std::to_string(all) + " (" +
                     std::to_string(all - ours.size()) + " not ours)";
  for (pid_t pid : ours) {
    std::string cmdline = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    line += "\n     ours: pid " + std::to_string(pid) + " " + cmdline.substr(0, 160);
  }
  return line;
}

// /proc/<pid>/status field in kB, or -1.
long StatusKb(pid_t pid, const std::string& field) {
  std::istringstream in(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// ------------------------------------------------------------------ CRI helpers

struct Pod {
  std::string sandbox_id;
  std::string container_id;
  double run_ms = 0, create_ms = 0, start_ms = 0, total_ms = 0;
};

std::string PullGuest(ServerProcess& server) {
  const std::string image = e2e::PullBundle(server);
  if (image.empty()) Die("PullImage of the guest bundle failed");
  return image;
}

// RunPodSandbox + CreateContainer (+ StartContainer when `start`), timed.
Pod CreatePod(ServerProcess& server, const std::string& name, const std::string& image, bool start,
              std::chrono::seconds timeout) {
  Pod pod;
  v1::RunPodSandboxRequest run;
  *run.mutable_config() = e2e::SandboxConfig(name, kPodCpuMilli, kPodMemory, kPodVcpus);
  v1::CreateContainerRequest create;
  *create.mutable_config() = e2e::ContainerConfig(image, kPodCpuMilli, kPodMemory, {});
  *create.mutable_sandbox_config() = run.config();
  v1::RunPodSandboxResponse ran;
  v1::CreateContainerResponse created;
  v1::StartContainerResponse started;

  const auto t0 = Clock::now();
  grpc::Status s = server.runtime().RunPodSandbox(Context(timeout).get(), run, &ran);
  const auto t1 = Clock::now();
  if (!s.ok()) Die("RunPodSandbox " + name + ": " + s.error_message());
  pod.sandbox_id = ran.pod_sandbox_id();
  create.set_pod_sandbox_id(pod.sandbox_id);
  s = server.runtime().CreateContainer(Context(timeout).get(), create, &created);
  const auto t2 = Clock::now();
  if (!s.ok()) Die("CreateContainer " + name + ": " + s.error_message());
  pod.container_id = created.container_id();
  auto t3 = t2;
  if (start) {
    v1::StartContainerRequest start_request;
    start_request.set_container_id(pod.container_id);
    s = server.runtime().StartContainer(Context(timeout).get(), start_request, &started);
    t3 = Clock::now();
    if (!s.ok()) Die("StartContainer " + name + ": " + s.error_message());
  }
  pod.run_ms = Ms(t1 - t0);
  pod.create_ms = Ms(t2 - t1);
  pod.start_ms = Ms(t3 - t2);
  pod.total_ms = Ms(t3 - t0);
  return pod;
}

void RemovePod(ServerProcess& server, const Pod& pod) {
  v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(pod.sandbox_id);
  v1::StopPodSandboxResponse stopped;
  grpc::Status s =
      server.runtime().StopPodSandbox(Context(std::chrono::seconds(60)).get(), stop, &stopped);
  if (!s.ok()) Die("StopPodSandbox: " + s.error_message());
  v1::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id(pod.sandbox_id);
  v1::RemovePodSandboxResponse removed;
  s = server.runtime().RemovePodSandbox(Context(std::chrono::seconds(60)).get(), remove, &removed);
  if (!s.ok()) Die("RemovePodSandbox: " + s.error_message());
}

std::unique_ptr<ServerProcess> StartServer(const std::string& state_dir) {
  ServerOptions options;  // embedded driver
  // Debug level: the server then logs each call's steps (server/base/step_times.h).
  options.extra_flags = {"--log-level", "debug"};
  auto server = std::make_unique<ServerProcess>(state_dir, options);
  g.embed_roots.push_back(state_dir + "/libvirt");
  server->Start();
  v1::VersionResponse version;
  if (HarnessFailed() ||
      !server->runtime().Version(Context().get(), v1::VersionRequest(), &version).ok()) {
    g.server = std::move(server);
    Die("vmmap serve did not start");
  }
  return server;
}

// ------------------------------------------------------------------ server steps

// The server's per-call step lines (server/base/step_times.h):
//   "... D steps StartContainer <id>: lookup_plan=0.31 ... total=512.03 (ms)"
// Returns name -> ms of the last such line for `call` on `object`, in order.
std::vector<std::pair<std::string, double>> StepsOf(const std::string& log, const std::string& call,
                                                    const std::string& object) {
  const std::string key = "steps " + call + " " + object + ":";
  const size_t at = log.rfind(key);
  if (at == std::string::npos) return {};
  const size_t end = log.find(" (ms)", at);
  std::istringstream in(log.substr(at + key.size(), end - at - key.size()));
  std::vector<std::pair<std::string, double>> out;
  for (std::string token; in >> token;) {
    const size_t eq = token.find('=');
    if (eq == std::string::npos) continue;
    out.emplace_back(token.substr(0, eq), std::atof(token.c_str() + eq + 1));
  }
  return out;
}

// Per-step samples of every measured pod, by "Call step", in first-seen order.
struct StepTable {
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> samples;
  void Add(const std::string& call, const std::vector<std::pair<std::string, double>>& steps) {
    for (const auto& [name, ms] : steps) {
      const std::string key = call + " " + name;
      if (!samples.count(key)) order.push_back(key);
      samples[key].push_back(ms);
    }
  }
};

// ------------------------------------------------------------------ libvirt side

void SilentErrors(void*, virErrorPtr) {}

std::string LastVirError() {
  const char* m = virGetLastErrorMessage();
  return m ? m : "unknown libvirt error";
}

void StartEventLoop() {
  // libvirt's warnings (e.g. the DAC driver's "Invalid XATTR timestamp" on the
  // kernel file shared by the three embed roots) go to a file, not the report.
  const std::string log_outputs = "3:file:" + g.work_dir + "/libvirt-warnings.log";
  setenv("LIBVIRT_LOG_OUTPUTS", log_outputs.c_str(), 1);
  virInitialize();
  virSetErrorFunc(nullptr, SilentErrors);
  if (virEventRegisterDefaultImpl() != 0) Die("virEventRegisterDefaultImpl: " + LastVirError());
  std::thread([] {
    for (;;) virEventRunDefaultImpl();
  }).detach();
}

size_t CountPersistedXml(const std::string& root) {
  size_t count = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root + "/etc/qemu", ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".xml") ++count;
  }
  return count;
}

void DestroyDomain(virDomainPtr dom, bool undefine) {
  if (virDomainDestroy(dom) != 0) Die("virDomainDestroy: " + LastVirError());
  if (undefine && virDomainUndefine(dom) != 0) Die("virDomainUndefine: " + LastVirError());
  virDomainFree(dom);
}

// ------------------------------------------------------------------ floors

constexpr char kUserspaceMarker[] = "VMMAP-GUEST-BOOTED";
constexpr std::chrono::minutes kBootDeadline{5};

// Polls `path` until it holds the userspace marker; ms since `t0`, or -1.
double WaitForMarker(const std::string& path, Clock::time_point t0) {
  const auto deadline = Clock::now() + kBootDeadline;
  while (Clock::now() < deadline) {
    CheckStop();
    if (ReadFileOrEmpty(path).find(kUserspaceMarker) != std::string::npos)
      return Ms(Clock::now() - t0);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

// The e2e guest on libvirt with nothing vmmap adds: no <cputune>, no
// <memtune>, no <resource>; the same kernel, initrd, command line, memory and
// vCPU count as the pods.
std::string MinimalDomainXml(const std::string& name, const std::string& console) {
  const std::string guest = GetFixtures().work_dir + "/guest";
  std::string cmdline = ReadFileOrEmpty(guest + "/cmdline");
  while (!cmdline.empty() && cmdline.back() == '\n') cmdline.pop_back();
  return "<domain type='qemu'><name>" + name + "</name><memory unit='MiB'>" +
         std::to_string(kPodMemory / kMiB) + "</memory><vcpu>" + std::to_string(kPodVcpus) +
         "</vcpu><os><type arch='x86_64' machine='pc'>hvm</type><kernel>" + guest +
         "/vmlinuz</kernel><initrd>" + guest + "/initrd.img</initrd><cmdline>" + cmdline +
         "</cmdline></os><features><acpi/><apic/>" +
         (g_tb_cache_mib > 0
              ? "<tcg><tb-cache unit='MiB'>" + std::to_string(g_tb_cache_mib) + "</tb-cache></tcg>"
              : std::string()) +
         "</features><devices>"
         "<emulator>/usr/bin/qemu-system-x86_64</emulator>"
         "<serial type='file'><source path='" +
         console +
         "'/><target port='0'/></serial>"
         "<console type='file'><source path='" +
         console +
         "'/><target type='serial' port='0'/></console>"
         "</devices></domain>";
}

struct BareBoot {
  double first_byte_ms = -1;
  double userspace_ms = -1;
};

// A bare QEMU with the guest's kernel, initrd, command line and memory; its
// serial port writes into a FIFO this process reads, so the first byte is
// seen when QEMU writes it.
BareBoot BootBareQemu(const std::string& tag) {
  BareBoot out;
  const std::string guest = GetFixtures().work_dir + "/guest";
  std::string cmdline = ReadFileOrEmpty(guest + "/cmdline");
  while (!cmdline.empty() && cmdline.back() == '\n') cmdline.pop_back();
  const std::string fifo = g.work_dir + "/bare-" + tag + ".fifo";
  ::unlink(fifo.c_str());
  if (mkfifo(fifo.c_str(), 0600) != 0) Die("mkfifo " + fifo + ": " + strerror(errno));
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (reader < 0) Die("open " + fifo + ": " + strerror(errno));
  const std::string log = g.work_dir + "/bare-qemu.log";
  std::vector<std::string> args = {
      "qemu-system-x86_64",
      "-machine",
      "pc",
      "-accel",
      g_tb_cache_mib > 0 ? "tcg,tb-size=" + std::to_string(g_tb_cache_mib) : std::string("tcg"),
      "-m",
      std::to_string(kPodMemory / kMiB),
      "-smp",
      std::to_string(kPodVcpus),
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-monitor",
      "none",
      "-kernel",
      guest + "/vmlinuz",
      "-initrd",
      guest + "/initrd.img",
      "-append",
      cmdline,
      "-serial",
      "file:" + fifo};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const auto t0 = Clock::now();
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) Die(std::string("spawn qemu-system-x86_64: ") + strerror(rc));
  g.bare_qemus.push_back(pid);
  std::string text;
  const auto deadline = t0 + kBootDeadline;
  while (Clock::now() < deadline && out.userspace_ms < 0) {
    CheckStop();
    struct pollfd p = {reader, POLLIN, 0};
    ::poll(&p, 1, 10);
    char buffer[4096];
    const ssize_t n = ::read(reader, buffer, sizeof buffer);
    if (n > 0) {
      if (out.first_byte_ms < 0) out.first_byte_ms = Ms(Clock::now() - t0);
      text.append(buffer, static_cast<size_t>(n));
      if (text.find(kUserspaceMarker) != std::string::npos)
        out.userspace_ms = Ms(Clock::now() - t0);
    } else if (n == 0 && waitpid(pid, nullptr, WNOHANG) == pid) {
      g.bare_qemus.pop_back();
      ::close(reader);
      Die("bare QEMU exited early; see " + log + ":\n" + ReadFileOrEmpty(log));
    }
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  g.bare_qemus.pop_back();
  ::close(reader);
  ::unlink(fifo.c_str());
  if (out.userspace_ms < 0) Die("bare QEMU did not reach userspace; console:\n" + text);
  return out;
}

// ------------------------------------------------------------------ XML bisect

// The domain XML libvirt persisted for `pod` (created, not started) on the
// server whose state dir is `state_dir`.
std::string PersistedXml(const std::string& state_dir, const Pod& pod) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir + "/libvirt/etc/qemu", ec)) {
    if (entry.path().extension() != ".xml") continue;
    const std::string text = ReadFileOrEmpty(entry.path().string());
    if (text.find(pod.container_id) != std::string::npos) return text;
  }
  Die("no persisted domain XML names container " + pod.container_id);
}

// vmmap's TCG translation cache size for the bench's pods, from a created pod's XML.
int VmmapTbCacheMib(ServerProcess& server, const std::string& image, const std::string& state_dir) {
  const Pod pod = CreatePod(server, "sp" + OurNameMark() + "tb", image, /*start=*/false,
                            std::chrono::seconds(180));
  pugi::xml_document doc;
  if (!doc.load_string(PersistedXml(state_dir, pod).c_str())) Die("cannot parse vmmap's XML");
  pugi::xml_node cache = doc.child("domain").child("features").child("tcg").child("tb-cache");
  RemovePod(server, pod);
  if (!cache) return 0;
  const std::string unit = cache.attribute("unit").as_string("KiB");
  const long long value = cache.text().as_llong();
  if (unit == "MiB") return static_cast<int>(value);
  if (unit == "KiB") return static_cast<int>(value / 1024);
  Die("vmmap's <tb-cache> has unit " + unit);
}

// vmmap's boot XML (what StartContainer starts) against the minimal domain,
// element by element: each variant drops one child of <domain> or of
// <devices> (or swaps the emulator wrapper for the real binary), all started
// with virDomainCreateXML on this process's root, `rounds` times each,
// interleaved. What costs start time shows as the gap between "vmmap boot
// XML" and the variant without it. Uses a created (not started) pod of
// `server`, whose container directory holds the console/agent paths.
void XmlBisect(ServerProcess& server, const std::string& image, const std::string& state_dir,
               int rounds) {
  std::cout << "\n== 1b. libvirt's start of vmmap's boot XML, element by element (" << rounds
            << " rounds, virDomainCreateXML on this process's embed root) ==\n";
  const Pod pod = CreatePod(server, "sp" + OurNameMark() + "bisect", image, /*start=*/false,
                            std::chrono::seconds(60));
  const std::string vmmap_xml = PersistedXml(state_dir, pod);
  pugi::xml_document base;
  if (!base.load_string(vmmap_xml.c_str())) Die("cannot parse vmmap's persisted XML");
  const std::string name = "floor" + OurNameMark() + "bisect";
  pugi::xml_node domain = base.child("domain");
  domain.remove_child("uuid");
  // The pod's tap exists only inside StartContainer (PrepareTap .. AttachTap,
  // timed as the "tap" and "attach_tap" steps), so the NIC is left out here.
  while (domain.child("devices").remove_child("interface")) {
  }
  domain.child("name").text().set(name.c_str());
  auto text_of = [](const pugi::xml_document& doc) {
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw);
    return out.str();
  };
  auto label_of = [](pugi::xml_node n) {
    std::string label = std::string("<") + n.name();
    if (pugi::xml_attribute type = n.attribute("type"))
      label += std::string(" type=") + type.value();
    if (pugi::xml_attribute model = n.attribute("model"))
      label += std::string(" model=") + model.value();
    return label + ">";
  };
  struct Variant {
    std::string label;
    std::string xml;
    std::vector<double> ms;
  };
  std::vector<Variant> variants;
  variants.push_back(
      {"minimal domain (floor b)", MinimalDomainXml(name, g.work_dir + "/bisect.log"), {}});
  variants.push_back({"vmmap boot XML (without its <interface>)", text_of(base), {}});
  const std::set<std::string> essential = {"name", "memory", "currentMemory",
                                           "vcpu", "os",     "devices"};
  int index = 0;
  for (pugi::xml_node child : domain.children()) {
    const int at = index++;
    if (child.type() != pugi::node_element || essential.count(child.name())) continue;
    pugi::xml_document copy;
    copy.reset(base);
    pugi::xml_node victim = copy.child("domain").first_child();
    for (int i = 0; i < at; ++i) victim = victim.next_sibling();
    copy.child("domain").remove_child(victim);
    variants.push_back({"  without " + label_of(child), text_of(copy), {}});
  }
  index = 0;
  for (pugi::xml_node child : domain.child("devices").children()) {
    const int at = index++;
    if (child.type() != pugi::node_element) continue;
    pugi::xml_document copy;
    copy.reset(base);
    pugi::xml_node devices = copy.child("domain").child("devices");
    pugi::xml_node victim = devices.first_child();
    for (int i = 0; i < at; ++i) victim = victim.next_sibling();
    if (std::string(child.name()) == "emulator") {
      victim.text().set("/usr/bin/qemu-system-x86_64");
      variants.push_back({"  <emulator> the real binary, not the shim wrapper", text_of(copy), {}});
      continue;
    }
    devices.remove_child(victim);
    variants.push_back({"  without <devices>" + label_of(child), text_of(copy), {}});
  }
  for (int r = 0; r < rounds; ++r) {
    for (Variant& v : variants) {
      CheckStop();
      const auto t0 = Clock::now();
      virDomainPtr dom = virDomainCreateXML(g.conn, v.xml.c_str(), 0);
      const double ms = Ms(Clock::now() - t0);
      if (dom == nullptr) Die("virDomainCreateXML (" + v.label + "): " + LastVirError());
      DestroyDomain(dom, /*undefine=*/false);
      v.ms.push_back(ms);
    }
  }
  // Medians and minima both: on a shared machine one round's wait for a CPU
  // moves a median of a few rounds by more than any element costs.
  const Summary full = Summarize(variants[1].ms);
  for (const Variant& v : variants) {
    PrintRow(v.label, v.ms);
    if (&v != &variants[1]) {
      const Summary x = Summarize(v.ms);
      std::cout << "  " << std::setw(52) << ""
                << "vs vmmap boot XML: median " << Fmt(x.median - full.median) << " ms, min "
                << Fmt(x.min - full.min) << " ms\n";
    }
  }
  RemovePod(server, pod);
}

// ------------------------------------------------------------------ phases

struct Options {
  int pods = 10;
  int rss_pods = 50;
  int bisect_rounds = 3;
};

void StartPathPhase(const Options& o) {
  const std::string& work = g.work_dir;
  std::cout << "== 1. pod start path: " << o.pods << " sequential pods (+1 warm-up, not counted), "
            << kPodVcpus << " vCPU, " << kPodMemory / kMiB << " MiB, " << kPodCpuMilli
            << "m CPU, TCG, direct kernel boot ==\n";
  std::cout << "   before: " << LoadLine() << "\n" << std::flush;

  const std::string state_dir = work + "/sp";
  g.server = StartServer(state_dir);
  ServerProcess& server = *g.server;
  const std::string image = PullGuest(server);
  const std::string vmmap_root = state_dir + "/libvirt";

  // The minimal domains' root: vmmap's driver config (console logs to files,
  // no virtlogd), used by this process's C API calls.
  const std::string capi_root = work + "/lvc";
  fs::create_directories(capi_root + "/etc");
  fs::copy_file(vmmap_root + "/etc/qemu.conf", capi_root + "/etc/qemu.conf",
                fs::copy_options::overwrite_existing);
  g.embed_roots.push_back(capi_root);
  fs::create_directories(work + "/consoles");
  StartEventLoop();
  g.conn = virConnectOpen(EmbedUri(capi_root).c_str());
  if (g.conn == nullptr) Die("virConnectOpen " + EmbedUri(capi_root) + ": " + LastVirError());
  unsetenv("LIBVIRT_LOG_OUTPUTS");
  g_tb_cache_mib = VmmapTbCacheMib(server, image, state_dir);
  std::cout << "   TCG translation cache of vmmap's domains, given to the floors too: "
            << (g_tb_cache_mib > 0 ? std::to_string(g_tb_cache_mib) + " MiB" : "QEMU's default")
            << "\n";

  std::vector<double> vm_total, vm_run, vm_create, vm_start, vm_user;
  std::vector<double> min_create, min_user, bare_first, bare_user;
  StepTable step_table;
  for (int i = -1; i < o.pods; ++i) {
    CheckStop();
    const bool warm = i < 0;
    const std::string tag = warm ? "w" : std::to_string(i);

    // vmmap: RunPodSandbox -> CreateContainer -> StartContainer returned, then
    // the guest's userspace marker in the container's console log.
    const std::string pod_name = "sp" + OurNameMark() + tag;
    const auto t_pod = Clock::now();
    const Pod pod =
        CreatePod(server, pod_name, image, /*start=*/true, std::chrono::seconds(warm ? 180 : 60));
    const double pod_user =
        WaitForMarker(state_dir + "/containers/" + pod.container_id + "/console.log", t_pod);
    if (pod_user < 0) Die("pod " + pod_name + " did not reach userspace");
    RemovePod(server, pod);
    if (!warm) {
      const std::string log = server.log();
      step_table.Add("RunPodSandbox", StepsOf(log, "RunPodSandbox", pod.sandbox_id));
      step_table.Add("CreateContainer", StepsOf(log, "CreateContainer", pod.container_id));
      step_table.Add("StartContainer", StepsOf(log, "StartContainer", pod.container_id));
    }

    // Floor (b): libvirt, minimal domain.
    const std::string console = work + "/consoles/" + tag + ".log";
    const std::string xml = MinimalDomainXml("floor" + OurNameMark() + tag, console);
    auto t0 = Clock::now();
    virDomainPtr dom = virDomainCreateXML(g.conn, xml.c_str(), 0);
    const double create_ms = Ms(Clock::now() - t0);
    if (dom == nullptr) Die("virDomainCreateXML (minimal domain): " + LastVirError());
    const double user_ms = WaitForMarker(console, t0);
    DestroyDomain(dom, /*undefine=*/false);
    if (user_ms < 0) Die("the minimal domain did not reach userspace");

    // Floor (a): bare QEMU.
    const BareBoot bare = BootBareQemu(tag);

    if (warm) continue;
    vm_total.push_back(pod.total_ms);
    vm_run.push_back(pod.run_ms);
    vm_create.push_back(pod.create_ms);
    vm_start.push_back(pod.start_ms);
    vm_user.push_back(pod_user);
    min_create.push_back(create_ms);
    min_user.push_back(user_ms);
    bare_first.push_back(bare.first_byte_ms);
    bare_user.push_back(bare.userspace_ms);
    std::cout << "   pod " << std::setw(2) << i << ": vmmap " << Fmt(pod.total_ms) << " ms (run "
              << Fmt(pod.run_ms) << " + create " << Fmt(pod.create_ms) << " + start "
              << Fmt(pod.start_ms) << "), userspace " << Fmt(pod_user) << " ms | minimal domain "
              << Fmt(create_ms) << " ms, userspace " << Fmt(user_ms)
              << " ms | bare QEMU first byte " << Fmt(bare.first_byte_ms) << " ms, userspace "
              << Fmt(bare.userspace_ms) << " ms\n"
              << std::flush;
  }
  std::cout << "   results (" << o.pods << " pods; p90 = nearest rank):\n";
  PrintRow("vmmap RunPodSandbox+CreateContainer+StartContainer", vm_total);
  PrintRow("  of which RunPodSandbox", vm_run);
  PrintRow("  of which CreateContainer (define)", vm_create);
  PrintRow("  of which StartContainer (start + live limits)", vm_start);
  std::cout << "   inside vmmap serve, per step (its debug step lines; the rest of a call's\n"
               "   client-side time is gRPC and the CRI conversion):\n";
  for (const std::string& key : step_table.order) PrintRow("  " + key, step_table.samples[key]);
  PrintRow("vmmap: RunPodSandbox start to guest userspace", vm_user);
  PrintRow("floor (b) libvirt minimal domain, virDomainCreateXML", min_create);
  PrintRow("floor (b) libvirt minimal domain, to guest userspace", min_user);
  PrintRow("floor (a) bare QEMU, to first serial byte", bare_first);
  PrintRow("floor (a) bare QEMU, to guest userspace", bare_user);
  const Summary v = Summarize(vm_total), m = Summarize(min_create);
  const Summary vu = Summarize(vm_user), mu = Summarize(min_user), bu = Summarize(bare_user);
  std::cout << "   ratio vmmap start / libvirt minimal domain:   median "
            << Fmt(v.median / m.median, 3) << "x   p90 " << Fmt(v.p90 / m.p90, 3)
            << "x   (goal <= 1.3x: " << (v.median / m.median <= 1.3 ? "met" : "NOT met")
            << " at the median)\n";
  std::cout << "   ratio to guest userspace, vmmap / minimal:    median "
            << Fmt(vu.median / mu.median, 3) << "x;  vmmap / bare QEMU: median "
            << Fmt(vu.median / bu.median, 3) << "x\n";
  std::cout << "   after: " << LoadLine() << "\n" << std::flush;
  if (o.bisect_rounds > 0) XmlBisect(server, image, state_dir, o.bisect_rounds);

  g.server.reset();
  if (!VirshListAll(vmmap_root, work + "/virsh.log").empty())
    Die("vmmap's embed root still has domains");
  virDomainPtr* doms = nullptr;
  const int left = virConnectListAllDomains(g.conn, &doms, 0);
  for (int i = 0; i < left; ++i) virDomainFree(doms[i]);
  free(doms);
  if (left != 0) Die("the C API root still has domains");
}

void RssPhase(const Options& o) {
  std::cout << "\n== 2. vmmap-serve RSS with " << o.rss_pods
            << " pods defined (RunPodSandbox + CreateContainer, not started), fresh server ==\n";
  std::cout << "   before: " << LoadLine() << "\n" << std::flush;
  const std::string state_dir = g.work_dir + "/rss";
  g.server = StartServer(state_dir);
  ServerProcess& server = *g.server;
  const std::string image = PullGuest(server);
  // `vmmap serve` execs vmmap-serve in place: the child's pid is the server's.
  const pid_t pid = server.pid();
  if (pid <= 0) Die("the vmmap-serve process is not running");
  auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(500)); };
  settle();
  const long idle = StatusKb(pid, "VmRSS");

  std::vector<Pod> pods;
  std::vector<double> create_ms;
  long after_first = -1;
  for (int i = 0; i < o.rss_pods; ++i) {
    CheckStop();
    const std::string name = "rss" + std::to_string(getpid()) + "-" + std::to_string(i);
    pods.push_back(
        CreatePod(server, name, image, /*start=*/false, std::chrono::seconds(i == 0 ? 180 : 60)));
    create_ms.push_back(pods.back().create_ms);
    if (i == 0) {
      settle();
      after_first = StatusKb(pid, "VmRSS");
    }
  }
  v1::ListContainersResponse listed;
  if (!server.runtime()
           .ListContainers(Context().get(), v1::ListContainersRequest(), &listed)
           .ok() ||
      listed.containers_size() != o.rss_pods) {
    Die("ListContainers does not show " + std::to_string(o.rss_pods) + " containers");
  }
  const size_t defined = CountPersistedXml(state_dir + "/libvirt");
  settle();
  const long after = StatusKb(pid, "VmRSS");
  const long hwm = StatusKb(pid, "VmHWM");
  for (const Pod& pod : pods) RemovePod(server, pod);
  settle();
  const long after_remove = StatusKb(pid, "VmRSS");
  const int n = o.rss_pods;
  std::cout << "   vmmap-serve pid " << pid << ", persisted domain configs: " << defined << "\n";
  std::cout << "   VmRSS idle (after PullImage, no pods):  " << std::setw(8) << idle << " kB\n";
  std::cout << "   VmRSS after 1 pod defined:              " << std::setw(8) << after_first
            << " kB   (+" << after_first - idle
            << " kB: first define loads the QEMU capabilities)\n";
  std::cout << "   VmRSS after " << std::setw(2) << n
            << " pods defined:            " << std::setw(8) << after << " kB   (+" << after - idle
            << " kB over idle)\n";
  std::cout << "   per pod, (after " << n << " - idle) / " << n << ":           " << std::setw(8)
            << Fmt(double(after - idle) / n) << " kB\n";
  std::cout << "   per pod, marginal (after " << n << " - after 1) / " << n - 1 << ": "
            << std::setw(8) << Fmt(double(after - after_first) / (n - 1)) << " kB\n";
  std::cout << "   VmHWM with " << n << " pods:                     " << std::setw(8) << hwm
            << " kB\n";
  std::cout << "   VmRSS after removing all " << n << " pods:      " << std::setw(8) << after_remove
            << " kB\n";
  PrintRow("CreateContainer (define) while filling", create_ms);
  std::cout << "   after: " << LoadLine() << "\n" << std::flush;
  g.server.reset();
  if (!VirshListAll(state_dir + "/libvirt", g.work_dir + "/virsh.log").empty()) {
    Die("the RSS server's embed root still has domains");
  }
}

}  // namespace
}  // namespace vmmap::bench

int main(int argc, char** argv) {
  using namespace vmmap::bench;
  ::testing::InitGoogleTest(&argc, argv);  // the harness reports through gtest
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pods" && i + 1 < argc) {
      o.pods = std::atoi(argv[++i]);
    } else if (a == "--rss-pods" && i + 1 < argc) {
      o.rss_pods = std::atoi(argv[++i]);
    } else if (a == "--bisect-rounds" && i + 1 < argc) {
      o.bisect_rounds = std::atoi(argv[++i]);
    } else if (a == "--keep-work-dir") {
      g.keep_work_dir = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: vmmap_start_path_bench [--pods N] [--rss-pods M] [--bisect-rounds R] "
                   "[--keep-work-dir]\n";
      return 0;
    } else {
      std::cerr << "usage: vmmap_start_path_bench [--pods N] [--rss-pods M] [--bisect-rounds R] "
                   "[--keep-work-dir]\n";
      return 2;
    }
  }
  if (o.pods < 1 || o.rss_pods < 2) {
    std::cerr << "--pods must be >= 1 and --rss-pods >= 2\n";
    return 2;
  }
  std::cout << std::unitbuf;  // progress appears as it happens, also through a pipe

  // Guest bundle and memlock shim (built under /var/tmp/vmmap-e2e-<pid>; the pid
  // survives the exec below, so the re-executed process finds the same dir).
  const vmmap::e2e::Fixtures& f = vmmap::e2e::GetFixtures();
  g.work_dir = f.work_dir;
  if (HarnessFailed()) Die("building the guest bundle / memlock shim failed");
  const char* preload = getenv("LD_PRELOAD");
  if (preload == nullptr || std::string(preload).find(f.shim_so) == std::string::npos) {
    if (getenv(kReexecEnv) != nullptr) Die("LD_PRELOAD lost across re-exec");
    std::string value = f.shim_so;
    if (preload != nullptr && *preload != '\0') value += std::string(":") + preload;
    setenv("LD_PRELOAD", value.c_str(), 1);
    setenv(kReexecEnv, "1", 1);
    std::cout << std::flush;
    execv("/proc/self/exe", argv);
    Die(std::string("re-exec with LD_PRELOAD failed: ") + strerror(errno));
  }

  g.new_cgroup_dirs = MissingPartitionCgroups();

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  std::cout << "vmmap start-path bench: work dir " << g.work_dir << " (removed at exit), "
            << std::thread::hardware_concurrency() << " CPUs, memlock shim preloaded (" << f.shim_so
            << ")\n";
  std::cout << "   at start: " << LoadLine() << "\n\n";
  StartPathPhase(o);
  RssPhase(o);
  Cleanup();
  std::cout << "\nat end: load average " << LoadAvg() << "; all domains destroyed, "
            << (g.keep_work_dir ? "work dir kept: " + g.work_dir : "work dir removed") << "\n";
  std::cout << std::flush;
  std::_Exit(0);  // the libvirt event-loop thread never returns
}
