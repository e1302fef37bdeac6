// Issue 3's figures, in one run:
//
//  1. Pod start path. For N sequential pods, the time from the start of
//     RunPodSandbox to the return of StartContainer (QEMU running; not guest
//     boot) against `vmmap serve` on the product default, the embedded QEMU
//     driver. Against that, the SAME domain XML (the file vmmap's embedded
//     driver persisted, <state>/libvirt/etc/qemu/<name>.xml, read back after
//     CreateContainer; only the console log path is moved) started on a fresh
//     qemu:///embed connection in this process:
//       - virDomainCreateXML (what `virsh create` calls), timed around the call;
//       - virDomainDefineXML + virDomainCreate (what vmmap itself calls);
//       - `virsh create FILE` as a process (its own embedded driver start-up
//         included), on a third root because an embed root is locked by its
//         user.
//     Every pod/domain is destroyed (and undefined) before the next measurement,
//     so every side starts from "nothing running". One unmeasured warm-up round
//     first (QEMU capability probe of a fresh root).
//  2. vmmap-serve's VmRSS with M pods defined (RunPodSandbox + CreateContainer,
//     not started), on a fresh server: idle, after 1 pod, after M, after removal.
//
// The memlock shim must be preloaded in this process (the embedded driver here
// raises QEMU's RLIMIT_MEMLOCK); the program re-executes itself with LD_PRELOAD
// set when it is not. Everything lives under /var/tmp/vmmap-e2e-<pid> (the e2e
// harness's work dir) and is removed at the end, with every domain it created
// and the partition cgroups (vmmap.partition, machine) that did not exist
// before it ran.
//
// usage: vmmap_start_path_bench [--pods N] [--rss-pods M] [--keep-work-dir]
#include <fcntl.h>
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
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "tests/e2e/harness.h"

extern char** environ;

namespace vmmap::bench {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using e2e::Context;
using e2e::GetFixtures;
using e2e::ReadFileOrEmpty;
using e2e::ServerOptions;
using e2e::ServerProcess;
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
};
State g;
volatile sig_atomic_t g_stop = 0;

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
  if (g.server) std::cerr << "--- vmmap serve log (tail) ---\n" << [] {
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
            << " ms   min " << std::setw(8) << Fmt(s.min) << "   max " << std::setw(8)
            << Fmt(s.max) << "\n";
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
  std::string line = "load average " + LoadAvg() + "; QEMU processes on the machine: " +
                     std::to_string(all) + " (" + std::to_string(all - ours.size()) + " not ours)";
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
  grpc::Status s = server.runtime().StopPodSandbox(Context(std::chrono::seconds(60)).get(), stop, &stopped);
  if (!s.ok()) Die("StopPodSandbox: " + s.error_message());
  v1::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id(pod.sandbox_id);
  v1::RemovePodSandboxResponse removed;
  s = server.runtime().RemovePodSandbox(Context(std::chrono::seconds(60)).get(), remove, &removed);
  if (!s.ok()) Die("RemovePodSandbox: " + s.error_message());
}

std::unique_ptr<ServerProcess> StartServer(const std::string& state_dir) {
  auto server = std::make_unique<ServerProcess>(state_dir, ServerOptions{});  // embedded driver
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

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
}

std::string XmlName(const std::string& xml) {
  const size_t b = xml.find("<name>");
  const size_t e = xml.find("</name>");
  if (b == std::string::npos || e == std::string::npos) return "";
  return xml.substr(b + 6, e - b - 6);
}

size_t CountPersistedXml(const std::string& root) {
  size_t count = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root + "/etc/qemu", ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".xml") ++count;
  }
  return count;
}

// The one persistent domain config in an embed root, or "".
std::string PersistedXmlPath(const std::string& root) {
  std::string found;
  int count = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root + "/etc/qemu", ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".xml") {
      found = entry.path().string();
      ++count;
    }
  }
  return count == 1 ? found : "";
}

void DestroyDomain(virDomainPtr dom, bool undefine) {
  if (virDomainDestroy(dom) != 0) Die("virDomainDestroy: " + LastVirError());
  if (undefine && virDomainUndefine(dom) != 0) Die("virDomainUndefine: " + LastVirError());
  virDomainFree(dom);
}

bool ProcessAlive(pid_t pid) {
  return pid > 0 && ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline").find("qemu") !=
                        std::string::npos;
}

// `virsh destroy` of a transient domain another virsh process started. A new
// virsh process re-attaches to running domains in a background thread while it
// runs the command; destroy races with that and libvirt 9.0 then reports
// "Domain not found" although QEMU was killed. So judge by the QEMU pid: gone
// within 30 s, or fail.
void VirshDestroy(const std::string& root, const std::string& name, const std::string& log) {
  const std::string pid_text = ReadFileOrEmpty(root + "/run/qemu/" + name + ".pid");
  const pid_t pid = pid_text.empty() ? -1 : std::atoi(pid_text.c_str());
  if (pid <= 0) Die("no QEMU pid file for " + name + " under " + root);
  RunProcess({"virsh", "-q", "-c", EmbedUri(root), "destroy", name}, log);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (ProcessAlive(pid) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (ProcessAlive(pid)) Die("virsh destroy " + name + " left QEMU pid " + std::to_string(pid) + ":\n" + ReadFileOrEmpty(log));
}

// ------------------------------------------------------------------ phases

struct Options {
  int pods = 10;
  int rss_pods = 50;
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

  // Two more embed roots with vmmap's own driver config (console logs to files,
  // no virtlogd): one for this process's C API calls, one for virsh processes.
  const std::string capi_root = work + "/lvc";
  const std::string virsh_root = work + "/lvv";
  for (const std::string& root : {capi_root, virsh_root}) {
    fs::create_directories(root + "/etc");
    fs::copy_file(vmmap_root + "/etc/qemu.conf", root + "/etc/qemu.conf",
                  fs::copy_options::overwrite_existing);
    g.embed_roots.push_back(root);
  }
  fs::create_directories(work + "/xml");
  fs::create_directories(work + "/consoles");
  StartEventLoop();
  g.conn = virConnectOpen(EmbedUri(capi_root).c_str());
  if (g.conn == nullptr) Die("virConnectOpen " + EmbedUri(capi_root) + ": " + LastVirError());
  // (The embedded driver re-reads the variable when it opens; from here on the
  // children, virsh and vmmap serve, keep their own defaults.)
  unsetenv("LIBVIRT_LOG_OUTPUTS");
  const std::string virsh_log = work + "/virsh.log";

  std::vector<double> vm_total, vm_run, vm_create, vm_start;
  std::vector<double> capi_create_xml, capi_define, capi_create, capi_define_create, virsh_create;
  double warm_vmmap = 0, warm_capi = 0, warm_virsh = 0;
  for (int i = -1; i < o.pods; ++i) {
    CheckStop();
    const bool warm = i < 0;
    const std::string tag = warm ? "w" : std::to_string(i);
    const std::string pod_name = "sp" + std::to_string(getpid()) + "-" + tag;

    // vmmap: RunPodSandbox -> CreateContainer -> StartContainer returned.
    const Pod pod = CreatePod(server, pod_name, image, /*start=*/true,
                              std::chrono::seconds(warm ? 180 : 60));
    const std::string xml_path = PersistedXmlPath(vmmap_root);
    if (xml_path.empty()) Die("cannot find the one domain XML under " + vmmap_root + "/etc/qemu");
    std::string xml = ReadFileOrEmpty(xml_path);
    RemovePod(server, pod);
    if (fs::exists(xml_path)) Die("RemovePodSandbox left " + xml_path);

    // The same XML; the console log moves out of vmmap's (now removed) container dir.
    const std::string console_dir = work + "/consoles/" + tag;
    fs::create_directories(console_dir);
    ReplaceAll(xml, state_dir + "/containers/" + pod.container_id, console_dir);
    // (Kernel and initrd stay in vmmap's image store, which outlives the pods.)
    if (xml.find(state_dir + "/containers/") != std::string::npos) {
      Die("domain XML still names a path under " + state_dir + "/containers/");
    }
    const std::string name = XmlName(xml);
    const std::string file = work + "/xml/" + tag + ".xml";
    std::ofstream(file) << xml;

    // libvirt C API, this process: virDomainCreateXML (= virsh create).
    auto t0 = Clock::now();
    virDomainPtr dom = virDomainCreateXML(g.conn, xml.c_str(), 0);
    const double create_xml_ms = Ms(Clock::now() - t0);
    if (dom == nullptr) Die("virDomainCreateXML: " + LastVirError());
    DestroyDomain(dom, /*undefine=*/false);

    // virDomainDefineXML + virDomainCreate (vmmap's own pair of calls).
    t0 = Clock::now();
    dom = virDomainDefineXML(g.conn, xml.c_str());
    const auto t1 = Clock::now();
    if (dom == nullptr) Die("virDomainDefineXML: " + LastVirError());
    if (virDomainCreate(dom) != 0) Die("virDomainCreate: " + LastVirError());
    const auto t2 = Clock::now();
    DestroyDomain(dom, /*undefine=*/true);

    // `virsh create FILE` as a process (its own embedded driver start-up included).
    const ProcResult vc = RunProcess({"virsh", "-q", "-c", EmbedUri(virsh_root), "create", file}, virsh_log);
    if (vc.status != 0) Die("virsh create failed; see " + virsh_log + ":\n" + ReadFileOrEmpty(virsh_log));
    VirshDestroy(virsh_root, name, virsh_log);

    if (warm) {
      warm_vmmap = pod.total_ms;
      warm_capi = create_xml_ms;
      warm_virsh = vc.ms;
      continue;
    }
    vm_total.push_back(pod.total_ms);
    vm_run.push_back(pod.run_ms);
    vm_create.push_back(pod.create_ms);
    vm_start.push_back(pod.start_ms);
    capi_create_xml.push_back(create_xml_ms);
    capi_define.push_back(Ms(t1 - t0));
    capi_create.push_back(Ms(t2 - t1));
    capi_define_create.push_back(Ms(t2 - t0));
    virsh_create.push_back(vc.ms);
    std::cout << "   pod " << std::setw(2) << i << ": vmmap " << Fmt(pod.total_ms) << " ms (run "
              << Fmt(pod.run_ms) << " + create " << Fmt(pod.create_ms) << " + start "
              << Fmt(pod.start_ms) << ")   virDomainCreateXML " << Fmt(create_xml_ms)
              << " ms   define+create " << Fmt(Ms(t2 - t0)) << " ms   virsh create "
              << Fmt(vc.ms) << " ms\n"
              << std::flush;
  }
  std::cout << "   warm-up (fresh roots, QEMU capability probe): vmmap " << Fmt(warm_vmmap)
            << " ms, virDomainCreateXML " << Fmt(warm_capi) << " ms, virsh create "
            << Fmt(warm_virsh) << " ms\n";
  std::cout << "   results (" << o.pods << " pods; p90 = nearest rank):\n";
  PrintRow("vmmap RunPodSandbox+CreateContainer+StartContainer", vm_total);
  PrintRow("  of which RunPodSandbox", vm_run);
  PrintRow("  of which CreateContainer (define)", vm_create);
  PrintRow("  of which StartContainer (virDomainCreate)", vm_start);
  PrintRow("libvirt C API virDomainCreateXML (= virsh create)", capi_create_xml);
  PrintRow("libvirt C API virDomainDefineXML+virDomainCreate", capi_define_create);
  PrintRow("  of which virDomainDefineXML", capi_define);
  PrintRow("  of which virDomainCreate", capi_create);
  PrintRow("`virsh create FILE` process (fork..exit)", virsh_create);
  const Summary v = Summarize(vm_total), c = Summarize(capi_create_xml),
                dc = Summarize(capi_define_create), vs = Summarize(virsh_create);
  std::cout << "   vmmap's own work before the start, median (RunPodSandbox + CreateContainer) - "
               "median virDomainDefineXML: "
            << Fmt(Summarize(vm_run).median + Summarize(vm_create).median - Summarize(capi_define).median)
            << " ms\n";
  std::cout << "   ratio vmmap / virDomainCreateXML:           median " << Fmt(v.median / c.median, 3)
            << "x   p90 " << Fmt(v.p90 / c.p90, 3) << "x   (target <= 1.1x: "
            << (v.median / c.median <= 1.1 ? "met" : "NOT met") << " at the median)\n";
  std::cout << "   ratio vmmap / virDomainDefineXML+Create:    median " << Fmt(v.median / dc.median, 3)
            << "x   p90 " << Fmt(v.p90 / dc.p90, 3) << "x\n";
  std::cout << "   ratio vmmap / `virsh create` process:       median " << Fmt(v.median / vs.median, 3)
            << "x   p90 " << Fmt(v.p90 / vs.p90, 3) << "x\n";
  std::cout << "   after: " << LoadLine() << "\n" << std::flush;

  // Nothing of phase 1 may survive: stop the server, check its root is empty.
  g.server.reset();
  if (!VirshListAll(vmmap_root, virsh_log).empty()) Die("vmmap's embed root still has domains");
  virDomainPtr* doms = nullptr;
  const int left = virConnectListAllDomains(g.conn, &doms, 0);
  for (int i = 0; i < left; ++i) virDomainFree(doms[i]);
  free(doms);
  if (left != 0) Die("the C API root still has domains");
  if (!VirshListAll(virsh_root, virsh_log).empty()) Die("the virsh root still has domains");
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
    pods.push_back(CreatePod(server, name, image, /*start=*/false, std::chrono::seconds(i == 0 ? 180 : 60)));
    create_ms.push_back(pods.back().create_ms);
    if (i == 0) {
      settle();
      after_first = StatusKb(pid, "VmRSS");
    }
  }
  v1::ListContainersResponse listed;
  if (!server.runtime().ListContainers(Context().get(), v1::ListContainersRequest(), &listed).ok() ||
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
            << " kB   (+" << after_first - idle << " kB: first define loads the QEMU capabilities)\n";
  std::cout << "   VmRSS after " << std::setw(2) << n << " pods defined:            " << std::setw(8)
            << after << " kB   (+" << after - idle << " kB over idle)\n";
  std::cout << "   per pod, (after " << n << " - idle) / " << n << ":           " << std::setw(8)
            << Fmt(double(after - idle) / n) << " kB\n";
  std::cout << "   per pod, marginal (after " << n << " - after 1) / " << n - 1 << ": " << std::setw(8)
            << Fmt(double(after - after_first) / (n - 1)) << " kB\n";
  std::cout << "   VmHWM with " << n << " pods:                     " << std::setw(8) << hwm << " kB\n";
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
    } else if (a == "--keep-work-dir") {
      g.keep_work_dir = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: vmmap_start_path_bench [--pods N] [--rss-pods M] [--keep-work-dir]\n";
      return 0;
    } else {
      std::cerr << "usage: vmmap_start_path_bench [--pods N] [--rss-pods M] [--keep-work-dir]\n";
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
            << std::thread::hardware_concurrency() << " CPUs, memlock shim preloaded ("
            << f.shim_so << ")\n";
  std::cout << "   at start: " << LoadLine() << "\n\n";
  StartPathPhase(o);
  RssPhase(o);
  Cleanup();
  std::cout << "\nat end: load average " << LoadAvg() << "; all domains destroyed, "
            << (g.keep_work_dir ? "work dir kept: " + g.work_dir : "work dir removed") << "\n";
  std::cout << std::flush;
  std::_Exit(0);  // the libvirt event-loop thread never returns
}
