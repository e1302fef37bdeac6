// What a stats refresh costs at 10, 50 and 100 running domains, vmmap's way
// against the design it replaced, in one run, side by side:
//
//  * cgroup (vmmap now): DomainSampler::Sample(): ONE libvirt call (the
//    domain list) + each domain's cgroup files (CPU total, per vCPU,
//    emulator, throttling; memory usage, stat, limit);
//  * bulk (the baseline, kept here): one virConnectGetAllDomainStats with
//    STATE | CPU_TOTAL | BALLOON | INTERFACE, as the collector did before
//    issue 11 (libvirt then sends QMP commands to every QEMU).
//
// Domains: real QEMU processes (TCG) of the embedded driver in this process
// (qemu:///embed, the product's default), tiny and without a disk (32 MiB,
// 1 vCPU, SeaBIOS finds nothing to boot), paused once started so that 100
// guests do not load the 2 cores the refreshes are timed on (a paused QEMU
// still has its cgroup files and answers QMP). Real processes because
// the cost under test is QEMU's QMP answers and the kernel's cgroup files;
// libvirt's test driver has neither. The guests' own work does not matter
// to either path.
//
// Also printed: the refresh's own CPU time (thread CPU clock) and, timed
// apart, its one libvirt call (the domain list) alone.
//
//   build/bench/vmmap_stats_bench [--domains 10,50,100] [--requests R]
//
// --help prints this usage; an unknown or malformed argument exits 2 before
// anything starts. Needs root. Everything it makes (domains, their cgroup
// directories, the work dir) is removed at the end, on failure, and on
// SIGINT/SIGTERM/SIGHUP.
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/stats/domain_sampler.h"
#include "server/virt/libvirt_hypervisor.h"

namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

// Short: libvirt names a domain's cgroup "qemu-ID-" + the first 20 characters
// of its name, and the leftover sweep below finds the directories by prefix.
const std::string kPrefix = "vsb" + std::to_string(getpid()) + "-";
const std::string kWork = "/var/tmp/vmmap-stats-bench-" + std::to_string(getpid());
const std::string kUri = "qemu:///embed?root=" + kWork + "/libvirt";

constexpr char kUsage[] =
    "usage: vmmap_stats_bench [--domains 10,50,100] [--requests R]\n"
    "  --domains LIST  running domain counts to measure at, ascending (default 10,50,100)\n"
    "  --requests R    refreshes per measurement and design (default 20)\n"
    "Needs root; runs tiny QEMU domains on qemu:///embed and removes them, their cgroup\n"
    "directories and its work dir when it ends or gets SIGINT/SIGTERM/SIGHUP.\n";

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// CPU time of the calling thread, ms: the cgroup design does all its work on
// the caller's thread, so this is its cost whatever else loads the machine.
double ThreadCpuMs() {
  struct timespec ts {};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string DomainXml(int i) {
  return "<domain type='qemu'><name>" + kPrefix + std::to_string(i) +
         "</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
         "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
         "<features><acpi/><apic/></features>"
         "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>";
}

// Every cgroup directory of ours libvirt left behind (it removes them when a
// domain stops; a killed run may not get that far).
int RemoveOurCgroupDirs() {
  int removed = 0;
  std::error_code ec;
  for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    std::vector<fs::path> ours;
    for (auto it = fs::recursive_directory_iterator(controller.path(), ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) &&
          it->path().filename().string().find(kPrefix) != std::string::npos) {
        ours.push_back(it->path());
        it.disable_recursion_pending();
      }
    }
    for (const fs::path& dir : ours) {
      std::vector<fs::path> children;
      for (const auto& c : fs::directory_iterator(dir, ec)) {
        if (c.is_directory(ec)) children.push_back(c.path());
      }
      for (const fs::path& c : children) ::rmdir(c.c_str());
      if (::rmdir(dir.c_str()) == 0) ++removed;
    }
  }
  return removed;
}

// Creating domains and cleaning up never overlap: the signal thread takes
// this before it sweeps, so no domain is started behind the sweep.
std::mutex g_lifecycle_mu;
bool g_stopping = false;  // guarded by g_lifecycle_mu

// Destroys every domain of ours on a connection of its own (safe from any
// thread), removes leftover cgroup dirs and the work dir.
void Cleanup() {
  std::lock_guard<std::mutex> lock(g_lifecycle_mu);
  g_stopping = true;
  int domains = 0;
  if (virConnectPtr conn = virConnectOpen(kUri.c_str())) {
    virDomainPtr* doms = nullptr;
    const int n = virConnectListAllDomains(conn, &doms, 0);
    for (int i = 0; i < n; ++i) {
      const char* name = virDomainGetName(doms[i]);
      if (name != nullptr && std::string(name).rfind(kPrefix, 0) == 0) {
        virDomainDestroy(doms[i]);
        virDomainUndefine(doms[i]);
        ++domains;
      }
      virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(conn);
  }
  const int dirs = RemoveOurCgroupDirs();
  std::error_code ec;
  fs::remove_all(kWork, ec);
  std::printf("cleanup: %d domains destroyed, %d leftover cgroup dirs removed, %s removed\n",
              domains, dirs, kWork.c_str());
}

std::once_flag g_cleanup_once;
void CleanupOnce() { std::call_once(g_cleanup_once, Cleanup); }

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "vmmap_stats_bench: " << message << std::endl;
  CleanupOnce();
  std::exit(1);
}

// Signals only write a byte to a pipe; one thread runs the cleanup, so a
// signal never interrupts it halfway, and later signals change nothing.
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
    CleanupOnce();
    std::fflush(stdout);
    _exit(130);
  }).detach();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

bool ParseArgs(int argc, char** argv, std::vector<int>* counts, int* requests) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (flag != "--requests" && flag != "--domains") {
      std::cerr << "vmmap_stats_bench: unknown argument \"" << flag << "\"\n" << kUsage;
      return false;
    }
    if (i + 1 >= argc) {
      std::cerr << "vmmap_stats_bench: " << flag << " needs a value\n" << kUsage;
      return false;
    }
    const std::string value = argv[++i];
    if (flag == "--requests") {
      if (!absl::SimpleAtoi(value, requests) || *requests <= 0 || *requests > 100000) {
        std::cerr << "vmmap_stats_bench: --requests needs a positive integer, got \"" << value
                  << "\"\n";
        return false;
      }
    } else if (flag == "--domains") {
      counts->clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(part, &n) || n <= 0 || n > 500 ||
            (!counts->empty() && n <= counts->back())) {
          std::cerr << "vmmap_stats_bench: --domains needs ascending counts in 1..500, got \""
                    << value << "\"\n";
          return false;
        }
        counts->push_back(n);
      }
    } else {
      std::cerr << "vmmap_stats_bench: unknown argument \"" << flag << "\"\n" << kUsage;
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> counts = {10, 50, 100};
  int requests = 20;
  if (!ParseArgs(argc, argv, &counts, &requests)) return 2;
  if (geteuid() != 0) {
    std::cerr << "vmmap_stats_bench: needs root (QEMU cgroups)\n";
    return 2;
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  HandleSignalsOnOneThread();
  std::atexit(CleanupOnce);

  fs::create_directories(kWork + "/libvirt/etc");
  // No virtlogd: QEMU writes its own log files (as `vmmap serve` configures).
  std::ofstream(kWork + "/libvirt/etc/qemu.conf") << "stdio_handler = \"file\"\n";
  auto hv = vmmap::virt::LibvirtHypervisor::Open(kUri);
  if (!hv.ok()) Die(std::string(hv.status().message()));
  vmmap::DomainSampler sampler(hv->get(), vmmap::CgroupFs::Host(), vmmap::Clock::Real());
  // The bench's own connection, to pause the guests (the product never does).
  virConnectPtr pauser = virConnectOpen(kUri.c_str());
  if (pauser == nullptr) Die("cannot open a second connection to " + kUri);
  const unsigned baseline_groups = vmmap::virt::kStatsState | vmmap::virt::kStatsCpuTotal |
                                   vmmap::virt::kStatsBalloon | vmmap::virt::kStatsInterface;

  std::printf("# stats refresh, %d requests per design and count, %u CPUs, load %s", requests,
              std::thread::hardware_concurrency(), [] {
                std::ifstream in("/proc/loadavg");
                std::string a, b, c;
                in >> a >> b >> c;
                static std::string s;
                s = a + " " + b + " " + c + "\n";
                return s.c_str();
              }());
  std::printf("%8s  %-44s %-36s %s\n", "domains", "cgroup files (vmmap), median",
              "bulk call (baseline), median", "ratio");
  int running = 0;
  for (int target : counts) {
    while (running < target) {
      std::lock_guard<std::mutex> lock(g_lifecycle_mu);
      if (g_stopping) return 130;
      auto id = (*hv)->DefineDomain(DomainXml(running));
      if (!id.ok()) Die(std::string(id.status().message()));
      absl::Status started = (*hv)->StartDomain(id->name);
      if (!started.ok()) Die(std::string(started.message()));
      ++running;
      virDomainPtr dom = virDomainLookupByName(pauser, id->name.c_str());
      const bool paused = dom != nullptr && virDomainSuspend(dom) == 0;
      if (dom != nullptr) virDomainFree(dom);
      if (!paused) Die("cannot pause " + id->name);
    }
    // First refresh at this count locates the new domains (one /proc pass).
    auto t = SteadyClock::now();
    auto first = sampler.Sample();
    const double locate_ms = Ms(SteadyClock::now() - t);
    if (!first.ok()) Die(std::string(first.status().message()));
    int with_figures = 0;
    for (const auto& [name, s] : *first) {
      if (name.rfind(kPrefix, 0) == 0 && s.cgroup && s.cgroup->cpu_ns && s.cgroup->memory.usage) {
        ++with_figures;
      }
    }
    if (with_figures != target) {
      Die("only " + std::to_string(with_figures) + " of " + std::to_string(target) +
          " domains have cgroup figures");
    }
    std::vector<double> cgroup_ms, cgroup_cpu_ms, list_ms, bulk_ms;
    uint64_t cgroup_calls = 0, bulk_calls = 0;
    for (int i = 0; i < requests; ++i) {  // interleaved: load hits both alike
      uint64_t before = (*hv)->calls();
      const double cpu0 = ThreadCpuMs();
      t = SteadyClock::now();
      auto s = sampler.Sample();
      cgroup_ms.push_back(Ms(SteadyClock::now() - t));
      cgroup_cpu_ms.push_back(ThreadCpuMs() - cpu0);
      cgroup_calls += (*hv)->calls() - before;
      if (!s.ok()) Die(std::string(s.status().message()));
      t = SteadyClock::now();
      if (!(*hv)->ListDomains().ok()) Die("ListDomains failed");
      list_ms.push_back(Ms(SteadyClock::now() - t));
      before = (*hv)->calls();
      t = SteadyClock::now();
      auto b = (*hv)->GetAllDomainStats(std::nullopt, baseline_groups);
      bulk_ms.push_back(Ms(SteadyClock::now() - t));
      bulk_calls += (*hv)->calls() - before;
      if (!b.ok()) Die(std::string(b.status().message()));
    }
    const double c = Median(cgroup_ms), b = Median(bulk_ms);
    char left[96], right[64];
    std::snprintf(left, sizeof left, "%7.2f ms (CPU %.2f ms), %.0f libvirt call", c,
                  Median(cgroup_cpu_ms), double(cgroup_calls) / requests);
    std::snprintf(right, sizeof right, "%8.2f ms, %.0f libvirt call", b,
                  double(bulk_calls) / requests);
    std::printf(
        "%8d  %-44s %-36s %.1fx faster  (of it the listing call alone %.2f ms; first refresh, "
        "locating: %.2f ms)\n",
        target, left, right, b / c, Median(list_ms), locate_ms);
  }
  virConnectClose(pauser);
  hv->reset();
  CleanupOnce();
  return 0;
}
