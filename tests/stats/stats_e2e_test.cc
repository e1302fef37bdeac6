// CRI stats end to end: real `vmmap serve`, real QEMU (TCG) guests. What the
// stats say is checked against what the host sees: the domain cgroup's
// cpuacct counter, the memory cgroup's limit, and `virsh domstats`.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
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

constexpr int64_t kMiB = 1 << 20;

// Creates and starts a 1-vCPU pod running the test guest with `args` on its
// kernel command line.
Pod RunPod(ServerProcess& server, const std::string& name, const std::string& image,
           int64_t cpu_milli, int64_t memory, const std::vector<std::string>& args,
           const std::map<std::string, std::string>& annotations = {}) {
  Pod pod = CreatePod(server, PodRequest{name, image, cpu_milli, memory, 1, args, annotations});
  grpc::Status s = StartContainer(server, pod.container_id);
  EXPECT_TRUE(s.ok()) << s.error_message() << "\n" << server.log();
  return pod;
}

// Removes its pods when it goes out of scope, also when an ASSERT returns
// early: embedded-driver VMs outlive the server process otherwise.
class PodsGuard {
 public:
  explicit PodsGuard(ServerProcess& server) : server_(server) {}
  ~PodsGuard() {
    if (!server_.running()) return;
    for (const Pod& pod : pods_) RemovePod(server_, pod);
  }
  const Pod& Add(Pod pod) {
    pods_.push_back(std::move(pod));
    return pods_.back();
  }

 private:
  ServerProcess& server_;
  std::vector<Pod> pods_;
};

// The console log's last `n` bytes (the head is the kernel's boot chatter).
std::string Tail(const std::string& text, size_t n = 2000) {
  return text.size() > n ? text.substr(text.size() - n) : text;
}

std::string Console(ServerProcess& server, const Pod& pod) {
  return ReadFileOrEmpty(server.state_dir() + "/containers/" + pod.container_id + "/console.log");
}

std::map<std::string, v1::ContainerStats> ListStats(ServerProcess& server,
                                                    const v1::ContainerStatsFilter& filter = {}) {
  v1::ListContainerStatsRequest request;
  *request.mutable_filter() = filter;
  v1::ListContainerStatsResponse response;
  grpc::Status s = server.runtime().ListContainerStats(Context().get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::map<std::string, v1::ContainerStats> out;
  for (const auto& st : response.stats()) out[st.attributes().id()] = st;
  return out;
}

// The domain cgroup's CPU counter in ns: cpuacct.usage where libvirt placed
// the domain in the cpuacct hierarchy, otherwise the cgroup2 (unified) mount's
// cpu.stat usage_usec of the same domain cgroup (this sandbox's libvirt leaves
// cpuacct at the root). Both are the kernel's accounting of all the domain's
// threads (vCPUs and emulator). Empty `source` if neither exists.
struct CgroupCpu {
  std::string source;
  int64_t nanos = 0;
};
CgroupCpu ReadDomainCpu(const std::string& pod_name) {
  CgroupCpu out;
  const std::string cpuacct = DomainCgroup("cpuacct", pod_name);
  if (!cpuacct.empty()) {
    out.source = cpuacct + "/cpuacct.usage";
    out.nanos = ReadCgroupInt(out.source);
    return out;
  }
  const std::string unified = DomainCgroup("unified", pod_name);
  if (unified.empty()) return out;
  out.source = unified + "/cpu.stat";
  std::istringstream in(ReadFileOrEmpty(out.source));
  std::string key;
  int64_t value = 0;
  while (in >> key >> value) {
    if (key == "usage_usec") out.nanos = value * 1000;
  }
  return out;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

void ExpectAttributes(const v1::ContainerStats& s) {
  EXPECT_TRUE(s.has_attributes());
  EXPECT_TRUE(s.attributes().has_metadata());
  EXPECT_EQ(s.attributes().metadata().name(), "vm");
  EXPECT_TRUE(s.has_cpu());
  EXPECT_TRUE(s.has_memory());
  EXPECT_TRUE(s.has_writable_layer());
  EXPECT_FALSE(s.writable_layer().fs_id().mountpoint().empty());
  EXPECT_GT(s.writable_layer().used_bytes().value(), 0u);  // the console log at least
}

// Three guests at once on the embedded driver: one spinning under a 500m
// limit, one idle, one that allocates 200 MiB some seconds after boot.
TEST(StatsE2eTest, CpuMemoryAndAttributesOfRealGuests) {
  const std::string state_dir = GetFixtures().work_dir + "/stats-embed";
  fs::remove_all(state_dir);
  ServerProcess server(state_dir, ServerOptions{});
  server.Start();
  const std::string image = PullBundle(server);

  PodsGuard guard(server);
  // Pod names carry the test's pid: libvirt names cgroups after domains, and
  // domains after pods, so two runs on one host must not share names.
  const std::string suffix = std::to_string(getpid());
  // 10m for the emulator leaves 490m for the single vCPU (global ceiling 500m).
  const Pod spin = guard.Add(RunPod(server, "stats-spin-" + suffix, image, 500, 256 * kMiB, {"vmmap.spin=1"},
                                    {{"vmmap.io/emulator-cpu", "10"}}));
  const Pod idle = guard.Add(RunPod(server, "stats-idle-" + suffix, image, 500, 256 * kMiB, {}));
  const Pod alloc = guard.Add(RunPod(server, "stats-alloc-" + suffix, image, 1000, 512 * kMiB,
                                     {"vmmap.alloc=200", "vmmap.alloc_at=30"}));
  const std::vector<Pod> pods = {spin, idle, alloc};
  for (const Pod& pod : pods) {
    ASSERT_TRUE(WaitFor([&] { return Console(server, pod).find("VMMAP-NPROC=") != std::string::npos; },
                        std::chrono::seconds(120)))
        << pod.name << " did not boot; console:\n" << Tail(Console(server, pod)) << "\n" << server.log();
  }
  ASSERT_TRUE(WaitFor([&] { return Console(server, spin).find("VMMAP-SPINNING=") != std::string::npos; },
                      std::chrono::seconds(30)))
      << Tail(Console(server, spin));

  // Memory baseline of the allocating guest, before it allocates.
  auto baseline = ListStats(server);
  ASSERT_EQ(baseline.size(), 3u);
  ASSERT_EQ(Console(server, alloc).find("VMMAP-ALLOCATED"), std::string::npos)
      << "the guest allocated before the baseline was taken; raise vmmap.alloc_at";
  ASSERT_TRUE(baseline[alloc.container_id].memory().has_working_set_bytes());
  const uint64_t ws_before = baseline[alloc.container_id].memory().working_set_bytes().value();

  // Attributes and filters over the wire.
  for (const auto& [id, s] : baseline) ExpectAttributes(s);
  v1::ContainerStatsFilter by_label;
  (*by_label.mutable_label_selector())["pod"] = idle.name;
  EXPECT_THAT(ListStats(server, by_label), ::testing::ElementsAre(::testing::Key(idle.container_id)));
  v1::ContainerStatsFilter by_sandbox;
  by_sandbox.set_pod_sandbox_id(spin.sandbox_id);
  EXPECT_THAT(ListStats(server, by_sandbox), ::testing::ElementsAre(::testing::Key(spin.container_id)));
  v1::ListPodSandboxStatsRequest pod_request;
  v1::ListPodSandboxStatsResponse pod_response;
  ASSERT_TRUE(server.runtime().ListPodSandboxStats(Context().get(), pod_request, &pod_response).ok());
  EXPECT_EQ(pod_response.stats_size(), 3);
  for (const auto& p : pod_response.stats()) {
    EXPECT_TRUE(p.attributes().has_metadata());
    ASSERT_EQ(p.linux().containers_size(), 1);
    EXPECT_TRUE(p.linux().cpu().has_usage_core_nano_seconds());
    EXPECT_TRUE(p.linux().memory().has_working_set_bytes());
  }

  // CPU: let the spinner run ~10 s, then sample over 3 s, next to the domain
  // cgroup's own cpuacct counter.
  std::this_thread::sleep_for(std::chrono::seconds(10));
  ASSERT_FALSE(ReadDomainCpu(spin.name).source.empty()) << "no CPU accounting cgroup for the spinning pod";
  auto a = ListStats(server);
  const CgroupCpu cg_a = ReadDomainCpu(spin.name);
  const auto wall_a = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  auto b = ListStats(server);
  const CgroupCpu cg_b = ReadDomainCpu(spin.name);
  const auto wall_b = std::chrono::steady_clock::now();

  const v1::CpuUsage& ca = a[spin.container_id].cpu();
  const v1::CpuUsage& cb = b[spin.container_id].cpu();
  ASSERT_GT(cb.timestamp(), ca.timestamp());
  ASSERT_TRUE(cb.has_usage_nano_cores());
  const double cri_rate = static_cast<double>(cb.usage_core_nano_seconds().value() -
                                              ca.usage_core_nano_seconds().value()) /
                          static_cast<double>(cb.timestamp() - ca.timestamp());
  const double cg_rate = static_cast<double>(cg_b.nanos - cg_a.nanos) / 1e9 / Seconds(wall_b - wall_a);
  const double nano_cores = static_cast<double>(cb.usage_nano_cores().value()) / 1e9;
  std::cout << "spinning guest: usage_nano_cores=" << nano_cores << " cores, CRI counter rate="
            << cri_rate << ", cgroup rate=" << cg_rate << " (" << cg_b.source << ")" << std::endl;
  EXPECT_NEAR(nano_cores, 0.5, 0.05);
  EXPECT_NEAR(cri_rate, cg_rate, cg_rate * 0.03);
  EXPECT_NEAR(nano_cores, cg_rate, cg_rate * 0.03);

  // The idle guest: close to nothing once booted.
  ASSERT_TRUE(b[idle.container_id].cpu().has_usage_nano_cores());
  const double idle_cores = b[idle.container_id].cpu().usage_nano_cores().value() / 1e9;
  std::cout << "idle guest: usage_nano_cores=" << idle_cores << " cores" << std::endl;
  EXPECT_LT(idle_cores, 0.1);

  // Pod stats equal the VM's.
  v1::PodSandboxStatsRequest one_pod;
  one_pod.set_pod_sandbox_id(spin.sandbox_id);
  v1::PodSandboxStatsResponse one_pod_response;
  ASSERT_TRUE(server.runtime().PodSandboxStats(Context().get(), one_pod, &one_pod_response).ok());
  EXPECT_EQ(one_pod_response.stats().linux().cpu().usage_core_nano_seconds().value(),
            one_pod_response.stats().linux().containers(0).cpu().usage_core_nano_seconds().value());

  // Memory: the allocation shows in the working set; available = hard_limit − ws.
  ASSERT_TRUE(WaitFor([&] { return Console(server, alloc).find("VMMAP-ALLOCATED=") != std::string::npos; },
                      std::chrono::seconds(120)))
      << Tail(Console(server, alloc));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  v1::ContainerStatsRequest one;
  one.set_container_id(alloc.container_id);
  v1::ContainerStatsResponse after;
  ASSERT_TRUE(server.runtime().ContainerStats(Context().get(), one, &after).ok());
  const v1::MemoryUsage& m = after.stats().memory();
  const uint64_t ws_after = m.working_set_bytes().value();
  std::cout << "allocating guest: working set " << ws_before / kMiB << " MiB -> " << ws_after / kMiB
            << " MiB; page_faults=" << m.page_faults().value()
            << " major=" << m.major_page_faults().value() << std::endl;
  EXPECT_GE(ws_after, ws_before + 150 * kMiB);
  EXPECT_EQ(m.usage_bytes().value(), ws_after);
  EXPECT_EQ(m.rss_bytes().value(), ws_after);
  const std::string memcg = DomainCgroup("memory", alloc.name);
  ASSERT_FALSE(memcg.empty());
  ASSERT_TRUE(m.has_available_bytes());
  EXPECT_EQ(static_cast<int64_t>(m.available_bytes().value() + ws_after),
            ReadCgroupInt(memcg + "/memory.limit_in_bytes"));
  if (m.has_page_faults()) {
    EXPECT_GT(m.page_faults().value(), 0u);
  }

  // A stopped guest still has an entry (no figures); the list does not fail.
  v1::StopContainerRequest stop;
  stop.set_container_id(idle.container_id);
  stop.set_timeout(0);
  v1::StopContainerResponse stopped;
  ASSERT_TRUE(server.runtime().StopContainer(Context(std::chrono::seconds(30)).get(), stop, &stopped).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  auto final_list = ListStats(server);
  ASSERT_EQ(final_list.size(), 3u);
  EXPECT_FALSE(final_list[idle.container_id].cpu().has_usage_core_nano_seconds());
  EXPECT_TRUE(final_list[idle.container_id].attributes().has_metadata());
  EXPECT_TRUE(final_list[spin.container_id].cpu().has_usage_core_nano_seconds());

  if (HasFailure()) std::cerr << "--- vmmap serve log ---\n" << server.log();
}

struct DomStats {
  uint64_t cpu_time = 0;
  uint64_t rss_kib = 0;
};

DomStats VirshDomstats(const std::string& domain) {
  std::istringstream in(Shell("virsh -q -c qemu:///system domstats --cpu-total --balloon " + domain));
  DomStats out;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    key.erase(0, key.find_first_not_of(" \t"));
    const std::string value = line.substr(eq + 1);
    if (key == "cpu.time") out.cpu_time = std::stoull(value);
    if (key == "balloon.rss") out.rss_kib = std::stoull(value);
  }
  return out;
}

// With libvirtd, virsh can look at the same domain: the CRI figures must lie
// between two virsh readings taken just before and just after.
TEST(StatsE2eTest, MatchesVirshDomstatsUnderLibvirtd) {
  const Fixtures& f = GetFixtures();
  const std::string libvirtd_dir = f.work_dir + "/libvirtd";
  ASSERT_EQ(ShellStatus(std::string(VMMAP_SOURCE_DIR) + "/tests/harness/libvirtd.sh start " +
                        libvirtd_dir + " >/dev/null"),
            0);
  // Stops the daemons (only if this test started them) after everything else.
  struct StopLibvirtd {
    std::string dir;
    ~StopLibvirtd() {
      ShellStatus(std::string(VMMAP_SOURCE_DIR) + "/tests/harness/libvirtd.sh stop " + dir +
                  " >/dev/null");
    }
  } stop_libvirtd{libvirtd_dir};
  const std::string state_dir = f.work_dir + "/stats-system";
  fs::remove_all(state_dir);
  ServerOptions options;
  options.libvirt_uri = "qemu:///system";
  ServerProcess server(state_dir, options);
  server.Start();
  const std::string image = PullBundle(server);
  const std::string name = "stats-virsh-" + std::to_string(getpid());
  PodsGuard guard(server);
  const Pod pod = guard.Add(RunPod(server, name, image, 500, 256 * kMiB, {}));
  ASSERT_TRUE(WaitFor([&] { return Console(server, pod).find("VMMAP-NPROC=") != std::string::npos; },
                      std::chrono::seconds(120)))
      << Tail(Console(server, pod));
  std::string domain = Shell("virsh -q -c qemu:///system list --name | grep -- '-" + name + "-' || true");
  domain.erase(domain.find_last_not_of(" \n") + 1);
  ASSERT_FALSE(domain.empty());

  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // past the freshness bound
    const DomStats before = VirshDomstats(domain);
    auto stats = ListStats(server);
    const DomStats after = VirshDomstats(domain);
    const v1::ContainerStats& s = stats[pod.container_id];
    ASSERT_TRUE(s.cpu().has_usage_core_nano_seconds());
    const uint64_t cpu = s.cpu().usage_core_nano_seconds().value();
    const uint64_t ws = s.memory().working_set_bytes().value();
    std::cout << "virsh cpu.time " << before.cpu_time << " <= CRI " << cpu << " <= " << after.cpu_time
              << "; balloon.rss " << before.rss_kib << "/" << after.rss_kib << " KiB vs CRI "
              << ws / 1024 << " KiB" << std::endl;
    EXPECT_LE(before.cpu_time, cpu);
    EXPECT_LE(cpu, after.cpu_time);
    const uint64_t lo = std::min(before.rss_kib, after.rss_kib) * 1024;
    const uint64_t hi = std::max(before.rss_kib, after.rss_kib) * 1024;
    EXPECT_GE(ws + 2 * kMiB, lo);
    EXPECT_LE(ws, hi + 2 * kMiB);
  }

  if (HasFailure()) std::cerr << "--- vmmap serve log ---\n" << server.log();
}

}  // namespace
}  // namespace vmmap::e2e
