// CRI stats cost with N (default 50) real, paused QEMU (TCG) pods:
//
//  1. per-request latency and libvirt calls of vmmap's StatsCollector (one
//     bulk call per refresh) against a Virtlet-style per-domain loop
//     (virDomainGetCPUStats + virDomainMemoryStats + virDomainGetXMLDesc per
//     domain), in one run, with the ratio; plus ListContainerStats over gRPC
//     against the running `vmmap serve`, and what each bulk stat group costs;
//  2. the server's (and libvirtd's) CPU while serving kubelet's polling
//     pattern for DURATION seconds: ListContainerStats + ListPodSandboxStats
//     every 10 s, plus `crictl stats`-style bursts (two calls 1 s apart)
//     between them; from /proc/<pid>/stat, as % of one core.
//
//   build/bench/vmmap_stats_bench [--pods N] [--duration SECONDS] [--requests R]
//   (--help prints this usage; an unknown or malformed argument exits 2
//   before anything starts)
//
// Needs root, libvirt (libvirtd is started through tests/harness/libvirtd.sh,
// which preloads the sandbox's memlock shim), QEMU and the e2e guest's host
// packages. Stops by itself and removes every pod, domain and file it made.
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "runtime_v1.grpc.pb.h"
#include "server/runtime/pod_runtime.h"
#include "server/state/state_store.h"
#include "server/stats/stats_collector.h"
#include "server/virt/libvirt_hypervisor.h"
#include "tests/e2e/harness.h"

namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using Clock = std::chrono::steady_clock;

const std::string kSource = VMMAP_SOURCE_DIR;
// Pod (and so domain) names carry the pid: concurrent runs never touch each
// other's domains.
const std::string kPodPrefix = "stats-bench-" + std::to_string(getpid()) + "-";

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "vmmap_stats_bench: " << message << std::endl;
  std::exit(1);
}

int Run(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Summary {
  double median = 0, mean = 0, min = 0, max = 0;
};
Summary Summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.median = v[v.size() / 2];
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  s.min = v.front();
  s.max = v.back();
  return s;
}
std::string Fmt(const Summary& s) {
  char buf[160];
  snprintf(buf, sizeof buf, "median %8.2f ms  mean %8.2f ms  min %8.2f  max %8.2f", s.median, s.mean,
           s.min, s.max);
  return buf;
}

// utime + stime of a process, in seconds.
double CpuSeconds(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(stat.substr(close + 2));
  std::vector<std::string> fields;
  std::string f;
  while (in >> f) fields.push_back(f);
  // After "pid (comm) ": field 3 is index 0, so utime (14) is 11, stime (15) 12.
  if (fields.size() < 13) return 0;
  return (std::stod(fields[11]) + std::stod(fields[12])) / sysconf(_SC_CLK_TCK);
}

pid_t PidOf(const std::string& comm) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string c = ReadFile(e.path().string() + "/comm");
    if (!c.empty() && c.back() == '\n') c.pop_back();
    if (c == comm) return std::stoi(name);
  }
  return -1;
}

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 30) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

struct Pod {
  std::string sandbox_id, container_id, domain;
  bool paused = false;
  Clock::time_point started;
};

class Bench {
 public:
  Bench(int pods, int duration, int requests)
      : pods_(pods), duration_(duration), requests_(requests) {
    // Under the harness's work dir: CleanUpFixtures() removes it with the rest.
    work_ = vmmap::e2e::GetFixtures().work_dir + "/stats-bench";
  }
  ~Bench() { Cleanup(); }

  void Setup();
  void Phase1();
  void Phase2();
  // Removes every pod, domain, daemon and file the bench made. With
  // `concurrent` (a signal arrived while the main thread may still be using
  // the bench), it frees nothing the main thread could be touching: the
  // server is signalled by pid and the domains are swept on a connection of
  // its own; the process ends right after.
  void Cleanup(bool concurrent = false);

 private:
  void CreatePods();
  static std::vector<std::string> DomainNames(virConnectPtr conn);
  std::vector<std::string> DomainNames() { return DomainNames(conn_); }

  const int pods_, duration_, requests_;
  std::string work_, state_dir_;
  std::unique_ptr<vmmap::e2e::ServerProcess> server_;
  bool cleaned_ = false;
  virConnectPtr conn_ = nullptr;
  std::vector<Pod> pods_list_;
};

void Bench::Setup() {
  // The e2e harness builds the guest bundle and the memlock shims, starts
  // libvirtd (qemu:///system) and runs `vmmap serve`, as the tests do.
  state_dir_ = work_ + "/state";
  fs::create_directories(work_);
  const std::string libvirtd = vmmap::e2e::GetFixtures().work_dir + "/libvirtd";
  if (Run(kSource + "/tests/harness/libvirtd.sh start " + libvirtd + " >/dev/null") != 0) {
    Die("starting libvirtd failed");
  }
  conn_ = virConnectOpen("qemu:///system");
  if (conn_ == nullptr) Die("cannot connect to qemu:///system");
  vmmap::e2e::ServerOptions options;
  options.libvirt_uri = "qemu:///system";
  server_ = std::make_unique<vmmap::e2e::ServerProcess>(state_dir_, options);
  server_->Start();
  if (!server_->running()) Die("vmmap serve did not start; see " + state_dir_ + ".log");
  CreatePods();
}

// Boots the pods a few at a time (2 cores) and pauses each once its guest is
// up, so the measurement runs against N live QEMU processes without N
// spinning TCG guests.
void Bench::CreatePods() {
  v1::PullImageRequest pull;
  pull.mutable_image()->set_image("file://" + vmmap::e2e::GetFixtures().bundle_tar);
  v1::PullImageResponse pulled;
  grpc::Status s = server_->images().PullImage(Ctx(120).get(), pull, &pulled);
  if (!s.ok()) Die("PullImage: " + s.error_message());
  const std::string image = pulled.image_ref();
  const auto t0 = Clock::now();
  constexpr int kBooting = 4;
  int next = 0;
  int paused = 0;
  std::vector<size_t> booting;
  while (paused < pods_) {
    while (next < pods_ && static_cast<int>(booting.size()) < kBooting) {
      const std::string name = kPodPrefix + std::to_string(next);
      v1::RunPodSandboxRequest run;
      v1::PodSandboxConfig& config = *run.mutable_config();
      config.mutable_metadata()->set_name(name);
      config.mutable_metadata()->set_namespace_("bench");
      config.mutable_metadata()->set_uid("uid-" + name + "-" + std::to_string(getpid()));
      (*config.mutable_labels())["app"] = "bench";
      (*config.mutable_annotations())["vmmap.io/vcpus"] = "1";
      v1::LinuxContainerResources* r = config.mutable_linux()->mutable_resources();
      r->set_cpu_period(100000);
      r->set_cpu_quota(100000);
      r->set_cpu_shares(1024);
      r->set_memory_limit_in_bytes(128ll << 20);
      v1::RunPodSandboxResponse ran;
      s = server_->runtime().RunPodSandbox(Ctx().get(), run, &ran);
      if (!s.ok()) Die("RunPodSandbox: " + s.error_message());
      Pod pod;
      pod.sandbox_id = ran.pod_sandbox_id();
      v1::CreateContainerRequest create;
      create.set_pod_sandbox_id(pod.sandbox_id);
      v1::ContainerConfig& c = *create.mutable_config();
      c.mutable_metadata()->set_name("vm");
      c.mutable_image()->set_image(image);
      (*c.mutable_labels())["io.kubernetes.container.name"] = "vm";
      *c.mutable_linux()->mutable_resources() = *r;
      *create.mutable_sandbox_config() = config;
      v1::CreateContainerResponse created;
      pods_list_.push_back(pod);  // so cleanup finds it even if the next steps fail
      s = server_->runtime().CreateContainer(Ctx().get(), create, &created);
      if (!s.ok()) Die("CreateContainer: " + s.error_message());
      pods_list_.back().container_id = created.container_id();
      v1::StartContainerRequest start;
      start.set_container_id(created.container_id());
      v1::StartContainerResponse started;
      s = server_->runtime().StartContainer(Ctx().get(), start, &started);
      if (!s.ok()) Die("StartContainer: " + s.error_message());
      pods_list_.back().started = Clock::now();
      booting.push_back(pods_list_.size() - 1);
      ++next;
    }
    for (auto it = booting.begin(); it != booting.end();) {
      Pod& pod = pods_list_[*it];
      const std::string console =
          ReadFile(state_dir_ + "/containers/" + pod.container_id + "/console.log");
      const bool up = console.find("VMMAP-GUEST-BOOTED") != std::string::npos ||
                      Clock::now() - pod.started > std::chrono::seconds(60);
      if (!up) {
        ++it;
        continue;
      }
      // The domain of this container: the one whose name holds the pod's.
      const std::string name = kPodPrefix + std::to_string(*it);
      for (const std::string& d : DomainNames()) {
        if (d.find("-" + name + "-") != std::string::npos) pod.domain = d;
      }
      if (virDomainPtr dom = virDomainLookupByName(conn_, pod.domain.c_str())) {
        pod.paused = virDomainSuspend(dom) == 0;
        virDomainFree(dom);
      }
      ++paused;
      it = booting.erase(it);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::printf("setup: %d pods booted and paused in %.0f s\n", pods_,
              std::chrono::duration<double>(Clock::now() - t0).count());
}

std::vector<std::string> Bench::DomainNames(virConnectPtr conn) {
  std::vector<std::string> out;
  virDomainPtr* doms = nullptr;
  const int n = virConnectListAllDomains(conn, &doms, 0);
  for (int i = 0; i < n; ++i) {
    if (const char* name = virDomainGetName(doms[i])) out.push_back(name);
    virDomainFree(doms[i]);
  }
  free(doms);
  return out;
}

void Bench::Phase1() {
  std::printf("\n== phase 1: one stats request over %d paused domains (%d requests each) ==\n",
              pods_, requests_);
  // vmmap's collector in this process, on its own connection, reading the
  // server's state (the same records the server serves), with freshness 0 so
  // that every request is a real refresh.
  auto hv = vmmap::virt::LibvirtHypervisor::Open("qemu:///system");
  if (!hv.ok()) Die(std::string(hv.status().message()));
  auto store = vmmap::StateStore::Open(state_dir_ + "/state.db");
  if (!store.ok()) Die(std::string(store.status().message()));
  vmmap::PodRuntime runtime(vmmap::RuntimeOptions{state_dir_, vmmap::NodeConfig()}, hv->get(),
                            store->get(), nullptr);
  vmmap::StatsOptions options;
  options.freshness = std::chrono::milliseconds(0);
  options.fs_mountpoint = "/";
  vmmap::StatsCollector collector(hv->get(), &runtime, nullptr, options);

  uint64_t before = (*hv)->calls();
  auto warm = collector.ListContainerStats({});
  if (!warm.ok() || static_cast<int>(warm->size()) != pods_) Die("warm-up ListContainerStats failed");
  const uint64_t warm_calls = (*hv)->calls() - before;
  // The three ways, interleaved per round so that load from anything else on
  // the machine hits them alike: the collector (a real refresh each time), its
  // bare bulk call alone, and Virtlet's per-domain loop.
  std::vector<double> bulk_ms, bare_ms, loop_ms;
  uint64_t bulk_calls_total = 0, loop_calls = 0;
  for (int i = 0; i < requests_; ++i) {
    before = (*hv)->calls();
    auto t = Clock::now();
    auto list = collector.ListContainerStats({});
    bulk_ms.push_back(Ms(Clock::now() - t));
    bulk_calls_total += (*hv)->calls() - before;
    if (!list.ok()) Die("ListContainerStats: " + std::string(list.status().message()));

    t = Clock::now();
    auto bare = (*hv)->GetAllDomainStats(std::nullopt, options.groups);
    bare_ms.push_back(Ms(Clock::now() - t));
    if (!bare.ok()) Die(std::string(bare.status().message()));

    // Virtlet's way: per domain, three calls (and the listing to find them).
    t = Clock::now();
    virDomainPtr* doms = nullptr;
    const int n = virConnectListAllDomains(conn_, &doms, 0);
    ++loop_calls;
    for (int d = 0; d < n; ++d) {
      const char* name = virDomainGetName(doms[d]);
      if (name == nullptr || std::string(name).find(kPodPrefix) == std::string::npos) {
        virDomainFree(doms[d]);
        continue;
      }
      const int nparams = virDomainGetCPUStats(doms[d], nullptr, 0, -1, 1, 0);
      std::vector<virTypedParameter> params(std::max(nparams, 1));
      if (nparams > 0) {
        virDomainGetCPUStats(doms[d], params.data(), nparams, -1, 1, 0);
        virTypedParamsClear(params.data(), nparams);
      }
      virDomainMemoryStatStruct mem[VIR_DOMAIN_MEMORY_STAT_NR];
      virDomainMemoryStats(doms[d], mem, VIR_DOMAIN_MEMORY_STAT_NR, 0);
      char* xml = virDomainGetXMLDesc(doms[d], 0);
      free(xml);
      loop_calls += 4;  // CPU stats needs two calls (size, then values) + memory + XML
      virDomainFree(doms[d]);
    }
    free(doms);
    loop_ms.push_back(Ms(Clock::now() - t));
  }
  const double bulk_calls = double(bulk_calls_total) / requests_;

  // Over the wire against the running server: requests 600 ms apart (each a
  // refresh), then back-to-back (served from the snapshot).
  std::vector<double> grpc_fresh, grpc_cached;
  for (int i = 0; i < requests_; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    v1::ListContainerStatsResponse r;
    auto t = Clock::now();
    grpc::Status s = server_->runtime().ListContainerStats(Ctx().get(), v1::ListContainerStatsRequest(), &r);
    grpc_fresh.push_back(Ms(Clock::now() - t));
    if (!s.ok() || r.stats_size() != pods_) Die("gRPC ListContainerStats: " + s.error_message());
    t = Clock::now();
    s = server_->runtime().ListContainerStats(Ctx().get(), v1::ListContainerStatsRequest(), &r);
    grpc_cached.push_back(Ms(Clock::now() - t));
  }

  const Summary bulk = Summarize(bulk_ms), loop = Summarize(loop_ms);
  std::printf("vmmap StatsCollector (bulk)   : %s   libvirt calls/request %.1f\n", Fmt(bulk).c_str(),
              bulk_calls);
  std::printf("  (first request after start : %llu calls: 1 bulk + 1 DomainXml per domain, then cached)\n",
              static_cast<unsigned long long>(warm_calls));
  std::printf("  its bulk call alone         : %s\n", Fmt(Summarize(bare_ms)).c_str());
  std::printf("Virtlet-style per-domain loop : %s   libvirt calls/request %.1f\n", Fmt(loop).c_str(),
              double(loop_calls) / requests_);
  std::printf("ratio loop/bulk               : %.1fx latency (median), %.0fx calls\n",
              loop.median / bulk.median, (double(loop_calls) / requests_) / bulk_calls);
  std::printf("gRPC ListContainerStats, refresh      : %s\n", Fmt(Summarize(grpc_fresh)).c_str());
  std::printf("gRPC ListContainerStats, cached (<500ms): %s\n", Fmt(Summarize(grpc_cached)).c_str());

  // What each bulk group costs (one virConnectGetAllDomainStats each).
  std::printf("bulk stat groups, median of %d calls over all domains:\n", requests_);
  const std::vector<std::pair<const char*, unsigned>> groups = {
      {"STATE", vmmap::virt::kStatsState},
      {"CPU_TOTAL", vmmap::virt::kStatsCpuTotal},
      {"BALLOON", vmmap::virt::kStatsBalloon},
      {"INTERFACE", vmmap::virt::kStatsInterface},
      {"BLOCK", vmmap::virt::kStatsBlock},
      {"STATE|CPU_TOTAL|BALLOON|INTERFACE (vmmap)", options.groups},
      {"... |BLOCK", options.groups | vmmap::virt::kStatsBlock}};
  for (const auto& [name, mask] : groups) {
    std::vector<double> ms;
    for (int i = 0; i < requests_; ++i) {
      const auto t = Clock::now();
      auto s = (*hv)->GetAllDomainStats(std::nullopt, mask);
      ms.push_back(Ms(Clock::now() - t));
      if (!s.ok()) Die(std::string(s.status().message()));
    }
    std::printf("  %-42s %8.2f ms\n", name, Summarize(ms).median);
  }
}

void Bench::Phase2() {
  std::printf("\n== phase 2: kubelet polling for %d s (List{Container,PodSandbox}Stats every 10 s, "
              "crictl-stats bursts of 2 calls 1 s apart in between) ==\n",
              duration_);
  const pid_t libvirtd = PidOf("libvirtd");
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let phase 1 settle
  const double server0 = CpuSeconds(server_->pid());
  const double libvirtd0 = libvirtd > 0 ? CpuSeconds(libvirtd) : 0;
  const auto t0 = Clock::now();
  int requests = 0;
  auto list_containers = [&] {
    v1::ListContainerStatsResponse r;
    grpc::Status s = server_->runtime().ListContainerStats(Ctx().get(), v1::ListContainerStatsRequest(), &r);
    if (!s.ok()) Die("ListContainerStats: " + s.error_message());
    ++requests;
  };
  auto list_pods = [&] {
    v1::ListPodSandboxStatsResponse r;
    grpc::Status s = server_->runtime().ListPodSandboxStats(Ctx().get(), v1::ListPodSandboxStatsRequest(), &r);
    if (!s.ok()) Die("ListPodSandboxStats: " + s.error_message());
    ++requests;
  };
  for (int second = 0; second < duration_; ++second) {
    const auto tick = t0 + std::chrono::seconds(second);
    std::this_thread::sleep_until(tick);
    if (second % 10 == 0) {  // kubelet housekeeping
      list_containers();
      list_pods();
    }
    if (second % 10 == 5 || second % 10 == 6) list_containers();  // crictl stats: 2 samples 1 s apart
  }
  std::this_thread::sleep_until(t0 + std::chrono::seconds(duration_));
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double server = CpuSeconds(server_->pid()) - server0;
  const double lv = libvirtd > 0 ? CpuSeconds(libvirtd) - libvirtd0 : 0;
  std::printf("%d requests in %.1f s\n", requests, wall);
  std::printf("vmmap serve CPU: %.2f s = %.3f %% of one core\n", server, 100.0 * server / wall);
  if (libvirtd > 0) {
    std::printf("libvirtd CPU   : %.2f s = %.3f %% of one core (does the per-domain work with "
                "qemu:///system; includes its own housekeeping)\n",
                lv, 100.0 * lv / wall);
  }
}

void Bench::Cleanup(bool concurrent) {
  if (cleaned_) return;
  cleaned_ = true;
  std::printf("\ncleanup: removing %zu pods\n", pods_list_.size());
  if (server_ && server_->running()) {
    for (const Pod& pod : pods_list_) {
      v1::StopPodSandboxRequest stop;
      stop.set_pod_sandbox_id(pod.sandbox_id);
      v1::StopPodSandboxResponse stopped;
      server_->runtime().StopPodSandbox(Ctx().get(), stop, &stopped);
      v1::RemovePodSandboxRequest remove;
      remove.set_pod_sandbox_id(pod.sandbox_id);
      v1::RemovePodSandboxResponse removed;
      server_->runtime().RemovePodSandbox(Ctx().get(), remove, &removed);
    }
  }
  if (!concurrent) {
    server_.reset();  // SIGTERM, wait
  } else if (server_ && server_->pid() > 0) {
    kill(server_->pid(), SIGTERM);
    waitpid(server_->pid(), nullptr, 0);
  }
  // Safety net: any domain of ours the server did not remove.
  virConnectPtr conn = concurrent ? virConnectOpen("qemu:///system") : conn_;
  if (conn != nullptr) {
    int left = 0;
    for (const std::string& name : DomainNames(conn)) {
      if (name.find(kPodPrefix) == std::string::npos) continue;
      if (virDomainPtr dom = virDomainLookupByName(conn, name.c_str())) {
        virDomainDestroy(dom);
        virDomainUndefine(dom);
        virDomainFree(dom);
        ++left;
      }
    }
    if (left > 0) std::printf("cleanup: removed %d leftover domains\n", left);
    virConnectClose(conn);
    if (!concurrent) conn_ = nullptr;
  }
  vmmap::e2e::CleanUpFixtures();  // our libvirtd, the guest, the work dir
}

Bench* g_bench = nullptr;

constexpr char kUsage[] =
    "usage: vmmap_stats_bench [--pods N] [--duration SECONDS] [--requests R]\n"
    "  --pods N            paused QEMU pods to create (default 50)\n"
    "  --duration SECONDS  length of the kubelet-polling phase (default 60)\n"
    "  --requests R        requests per latency measurement (default 10)\n"
    "Needs root; starts libvirtd through tests/harness/libvirtd.sh and removes\n"
    "everything it made when it ends or gets SIGINT/SIGTERM.\n";

// A positive decimal int, or nothing.
bool ParsePositive(const char* text, int* out) {
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value <= 0 || value > 1'000'000) return false;
  *out = static_cast<int>(value);
  return true;
}

// The cleanup runs once, whoever gets there first: the end of main, Die()
// (through atexit), or the signal thread (`concurrent`: main still runs).
std::mutex g_cleanup_mu;
void CleanupOnce(bool concurrent) {
  std::lock_guard<std::mutex> lock(g_cleanup_mu);
  if (g_bench != nullptr) g_bench->Cleanup(concurrent);
  g_bench = nullptr;
}

// SIGINT, SIGTERM and SIGHUP only write a byte to a pipe (async-signal-safe,
// SA_RESTART); one thread waits on the pipe and runs the cleanup, so a signal
// never interrupts anything halfway, the cleanup included: the first one
// cleans up and ends the process, later ones only add bytes nobody reads.
// (The signals are not blocked: children such as libvirtd must still get
// their own SIGTERM.)
int g_signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  const char byte = static_cast<char>(sig);
  [[maybe_unused]] const ssize_t n = write(g_signal_pipe[1], &byte, 1);
}

void HandleSignalsOnOneThread() {
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) Die(std::string("pipe2: ") + strerror(errno));
  std::thread([] {
    char sig = 0;
    while (read(g_signal_pipe[0], &sig, 1) != 1) {
      if (errno != EINTR) return;
    }
    std::printf("\nsignal %d: cleaning up\n", sig);
    CleanupOnce(/*concurrent=*/true);
    std::fflush(stdout);
    _exit(130);
  }).detach();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 50, duration = 60, requests = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    int* target = flag == "--pods"       ? &pods
                  : flag == "--duration" ? &duration
                  : flag == "--requests" ? &requests
                                         : nullptr;
    if (target == nullptr) {
      std::cerr << "vmmap_stats_bench: unknown argument \"" << flag << "\"\n" << kUsage;
      return 2;
    }
    if (i + 1 >= argc || !ParsePositive(argv[i + 1], target)) {
      std::cerr << "vmmap_stats_bench: " << flag << " needs a positive integer, got \""
                << (i + 1 < argc ? argv[i + 1] : "") << "\"\n" << kUsage;
      return 2;
    }
    ++i;
  }
  if (geteuid() != 0) Die("needs root (qemu:///system, cgroups)");
  setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when piped to a file
  HandleSignalsOnOneThread();
  virInitialize();
  Bench bench(pods, duration, requests);
  g_bench = &bench;
  std::atexit([] { CleanupOnce(/*concurrent=*/false); });
  bench.Setup();
  bench.Phase1();
  bench.Phase2();
  CleanupOnce(/*concurrent=*/false);
  return 0;
}
