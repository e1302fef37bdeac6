// CRI stats end to end: real `vmmap serve`, real QEMU (TCG) guests. What the
// stats say is checked against what the host sees: the domain cgroup's CPU
// counter, the memory cgroup's usage, inactive file pages and limit, and
// `virsh domstats`.
//
// No claim depends on the machine's speed: guests act on their kernel command
// line and the tests wait for the console line that says they did; CPU claims
// compare two counters over the same window (whatever the guest got), and the
// limit is an upper bound, never an expected figure.
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
// Far above what any machine of this kind needs to boot a TCG guest.
constexpr std::chrono::minutes kBootDeadline{5};
constexpr std::chrono::minutes kEventDeadline{2};
// How long CPU rates are measured over (a window, not a wait for something).
constexpr std::chrono::seconds kCpuWindow{10};
// The server serves a cached snapshot for up to 500 ms (StatsOptions); a sleep
// of this length guarantees the next request refreshes.
constexpr std::chrono::milliseconds kPastFreshness{700};

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

// Three guests at once on the embedded driver, booted once for the suite:
// one spinning under a 500m limit, one idle, one that allocates 200 MiB as
// soon as it boots (the idle one, of the same size, is its baseline).
class StatsE2eTest : public ::testing::Test {
 protected:
  struct Guests {
    std::unique_ptr<ServerProcess> server;
    std::unique_ptr<PodsGuard> guard;
    Pod spin, idle, alloc;
    bool ready = false;
  };

  static void SetUpTestSuite() {
    guests_ = new Guests;
    Guests& g = *guests_;
    const std::string state_dir = GetFixtures().work_dir + "/stats-embed";
    fs::remove_all(state_dir);
    g.server = std::make_unique<ServerProcess>(state_dir, ServerOptions{});
    g.server->Start();
    ServerProcess& server = *g.server;
    const std::string image = PullBundle(server);
    g.guard = std::make_unique<PodsGuard>(server);
    // Pod names carry the test's pid: libvirt names cgroups after domains, and
    // domains after pods, so two runs on one host must not share names.
    const std::string suffix = std::to_string(getpid());
    // 10m for the emulator leaves 490m for the single vCPU (global ceiling 500m).
    g.spin = g.guard->Add(RunPod(server, "stats-spin-" + suffix, image, 500, 256 * kMiB,
                                 {"vmmap.spin=1"}, {{"vmmap.io/emulator-cpu", "10"}}));
    g.idle = g.guard->Add(RunPod(server, "stats-idle-" + suffix, image, 1000, 512 * kMiB, {}));
    g.alloc = g.guard->Add(
        RunPod(server, "stats-alloc-" + suffix, image, 1000, 512 * kMiB, {"vmmap.alloc=200"}));
    for (const auto& [pod, marker] :
         {std::pair{&g.spin, "VMMAP-SPINNING="}, std::pair{&g.idle, "VMMAP-NPROC="},
          std::pair{&g.alloc, "VMMAP-ALLOCATED="}}) {
      ASSERT_TRUE(WaitFor([&] { return Console(server, *pod).find(marker) != std::string::npos; },
                          kBootDeadline))
          << pod->name << " did not print " << marker << "; console:\n"
          << Tail(Console(server, *pod)) << "\n"
          << server.log();
    }
    g.ready = true;
  }

  static void TearDownTestSuite() {
    if (guests_ == nullptr) return;
    guests_->guard.reset();  // removes the pods while the server runs
    guests_->server.reset();
    delete guests_;
    guests_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(guests_ != nullptr && guests_->ready) << "the suite's guests did not come up";
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- vmmap serve log ---\n" << server().log();
  }

  static ServerProcess& server() { return *guests_->server; }
  static const Pod& spin() { return guests_->spin; }
  static const Pod& idle() { return guests_->idle; }
  static const Pod& alloc() { return guests_->alloc; }

  // A list taken by a refresh that started after this call did (the server
  // caches a snapshot briefly): polls until the snapshot's timestamp moves.
  static std::map<std::string, v1::ContainerStats> FreshStats() {
    const int64_t seen = ListStats(server())[spin().container_id].cpu().timestamp();
    std::map<std::string, v1::ContainerStats> out;
    EXPECT_TRUE(WaitFor(
        [&] {
          out = ListStats(server());
          return out[spin().container_id].cpu().timestamp() != seen;
        },
        kEventDeadline));
    return out;
  }

  static Guests* guests_;
};

StatsE2eTest::Guests* StatsE2eTest::guests_ = nullptr;

TEST_F(StatsE2eTest, AttributesAndFiltersOverTheWire) {
  auto all = ListStats(server());
  ASSERT_EQ(all.size(), 3u);
  for (const auto& [id, s] : all) ExpectAttributes(s);
  v1::ContainerStatsFilter by_label;
  (*by_label.mutable_label_selector())["pod"] = idle().name;
  EXPECT_THAT(ListStats(server(), by_label),
              ::testing::ElementsAre(::testing::Key(idle().container_id)));
  v1::ContainerStatsFilter by_sandbox;
  by_sandbox.set_pod_sandbox_id(spin().sandbox_id);
  EXPECT_THAT(ListStats(server(), by_sandbox),
              ::testing::ElementsAre(::testing::Key(spin().container_id)));
  v1::ListPodSandboxStatsRequest pod_request;
  v1::ListPodSandboxStatsResponse pod_response;
  ASSERT_TRUE(
      server().runtime().ListPodSandboxStats(Context().get(), pod_request, &pod_response).ok());
  EXPECT_EQ(pod_response.stats_size(), 3);
  for (const auto& p : pod_response.stats()) {
    EXPECT_TRUE(p.attributes().has_metadata());
    ASSERT_EQ(p.linux().containers_size(), 1);
    EXPECT_TRUE(p.linux().cpu().has_usage_core_nano_seconds());
    EXPECT_TRUE(p.linux().memory().has_working_set_bytes());
  }
}

// The CRI counter runs at the rate of the domain cgroup's own counter over the
// same window, usage_nano_cores is that rate, and it stays under the 500m
// limit. How much CPU the guest gets depends on the machine's load; none of
// these claims do.
TEST_F(StatsE2eTest, SpinningGuestCpuMatchesTheCgroupAndStaysUnderItsLimit) {
  ASSERT_FALSE(ReadDomainCpu(spin().name).source.empty())
      << "no CPU accounting cgroup for the spinning pod";
  auto a = FreshStats();
  const CgroupCpu cg_a = ReadDomainCpu(spin().name);
  const auto wall_a = std::chrono::steady_clock::now();
  // The measuring window: long, so that the few milliseconds between a CRI
  // refresh and the cgroup read next to it weigh little.
  std::this_thread::sleep_for(kCpuWindow);
  // The window is far past the server's freshness bound, so this refreshes,
  // and nothing else asked in between: a and b are consecutive snapshots.
  auto b = ListStats(server());
  const CgroupCpu cg_b = ReadDomainCpu(spin().name);
  const auto wall_b = std::chrono::steady_clock::now();

  const v1::CpuUsage& ca = a[spin().container_id].cpu();
  const v1::CpuUsage& cb = b[spin().container_id].cpu();
  ASSERT_GT(cb.timestamp(), ca.timestamp());
  ASSERT_TRUE(cb.has_usage_nano_cores());
  const double cri_rate = static_cast<double>(cb.usage_core_nano_seconds().value() -
                                              ca.usage_core_nano_seconds().value()) /
                          static_cast<double>(cb.timestamp() - ca.timestamp());
  const double cg_rate =
      static_cast<double>(cg_b.nanos - cg_a.nanos) / 1e9 / Seconds(wall_b - wall_a);
  const double nano_cores = static_cast<double>(cb.usage_nano_cores().value()) / 1e9;
  std::cout << "spinning guest: usage_nano_cores=" << nano_cores
            << " cores, CRI counter rate=" << cri_rate << ", cgroup rate=" << cg_rate << " ("
            << cg_b.source << ")" << std::endl;
  EXPECT_NEAR(cri_rate, cg_rate, cg_rate * 0.05 + 0.005);
  // a and b are consecutive snapshots, so the rate is exactly theirs.
  EXPECT_NEAR(nano_cores, cri_rate, 0.001);
  EXPECT_LE(nano_cores, 0.5 * 1.05) << "the 500m ceiling did not hold";
  EXPECT_GT(nano_cores, 0.02) << "a spinning guest shows no CPU use";
}

TEST_F(StatsE2eTest, IdleGuestUsesLittleCpu) {
  FreshStats();  // the window starts with this snapshot...
  std::this_thread::sleep_for(kCpuWindow);
  auto b = ListStats(server());  // ...and ends with the next one (the window is past freshness)
  ASSERT_TRUE(b[idle().container_id].cpu().has_usage_nano_cores());
  const double idle_cores = b[idle().container_id].cpu().usage_nano_cores().value() / 1e9;
  std::cout << "idle guest: usage_nano_cores=" << idle_cores << " cores" << std::endl;
  // Its limit is 1 core; a guest doing anything but idle would be near it.
  EXPECT_LT(idle_cores, 0.2);
}

TEST_F(StatsE2eTest, PodStatsAreTheVmsStats) {
  v1::PodSandboxStatsRequest one_pod;
  one_pod.set_pod_sandbox_id(spin().sandbox_id);
  v1::PodSandboxStatsResponse one_pod_response;
  ASSERT_TRUE(server().runtime().PodSandboxStats(Context().get(), one_pod, &one_pod_response).ok());
  const v1::LinuxPodSandboxStats& pod = one_pod_response.stats().linux();
  ASSERT_EQ(pod.containers_size(), 1);
  EXPECT_EQ(pod.cpu().usage_core_nano_seconds().value(),
            pod.containers(0).cpu().usage_core_nano_seconds().value());
  EXPECT_EQ(pod.memory().working_set_bytes().value(),
            pod.containers(0).memory().working_set_bytes().value());
}

// The allocating guest wrote 200 MiB into a tmpfs (its console said so); the
// idle guest of the same size is the baseline.
TEST_F(StatsE2eTest, AllocationShowsInTheWorkingSet) {
  auto stats = FreshStats();
  const v1::MemoryUsage& m = stats[alloc().container_id].memory();
  const v1::MemoryUsage& baseline = stats[idle().container_id].memory();
  ASSERT_TRUE(m.has_working_set_bytes());
  ASSERT_TRUE(baseline.has_working_set_bytes());
  const uint64_t ws = m.working_set_bytes().value();
  const uint64_t ws_idle = baseline.working_set_bytes().value();
  std::cout << "working set: idle guest " << ws_idle / kMiB << " MiB, allocating guest "
            << ws / kMiB << " MiB; page_faults=" << m.page_faults().value()
            << " major=" << m.major_page_faults().value() << std::endl;
  EXPECT_GE(ws, ws_idle + 150 * kMiB);
  EXPECT_GE(m.usage_bytes().value(), ws);
  EXPECT_GT(m.rss_bytes().value(), 150 * kMiB) << "guest RAM is QEMU's anonymous memory";
  const std::string memcg = DomainCgroup("memory", alloc().name);
  ASSERT_FALSE(memcg.empty());
  ASSERT_TRUE(m.has_available_bytes());
  EXPECT_EQ(static_cast<int64_t>(m.available_bytes().value() + ws),
            ReadCgroupInt(memcg + "/memory.limit_in_bytes"));
  ASSERT_TRUE(m.has_page_faults());
  EXPECT_GT(m.page_faults().value(), 0u);
}

// usage − total_inactive_file of the domain's own memory cgroup (cAdvisor's
// working set), read just before and just after a refresh: the CRI figure
// lies between them, give or take what a settled guest moves meanwhile.
TEST_F(StatsE2eTest, WorkingSetIsTheDomainCgroupsAsCadvisorComputesIt) {
  const std::string memcg = DomainCgroup("memory", alloc().name);
  ASSERT_FALSE(memcg.empty());
  auto cgroup_ws = [&] {
    const int64_t usage = ReadCgroupInt(memcg + "/memory.usage_in_bytes");
    std::istringstream in(ReadFileOrEmpty(memcg + "/memory.stat"));
    std::string key;
    int64_t value = 0, inactive_file = 0;
    while (in >> key >> value) {
      if (key == "total_inactive_file") inactive_file = value;
    }
    return std::max<int64_t>(usage - inactive_file, 0);
  };
  std::this_thread::sleep_for(kPastFreshness);  // so the next list is a fresh refresh
  const int64_t before = cgroup_ws();
  auto stats = ListStats(server());
  const int64_t after = cgroup_ws();
  const int64_t ws =
      static_cast<int64_t>(stats[alloc().container_id].memory().working_set_bytes().value());
  std::cout << "working set: cgroup " << before / kMiB << ".." << after / kMiB << " MiB, CRI "
            << ws / kMiB << " MiB" << std::endl;
  EXPECT_GE(ws + 4 * kMiB, std::min(before, after));
  EXPECT_LE(ws, std::max(before, after) + 4 * kMiB);
}

// Last: it stops a guest. A stopped guest still has an entry (no figures);
// the list does not fail.
TEST_F(StatsE2eTest, StoppedGuestKeepsAnEntryWithoutFigures) {
  v1::StopContainerRequest stop;
  stop.set_container_id(idle().container_id);
  stop.set_timeout(0);
  v1::StopContainerResponse stopped;
  ASSERT_TRUE(server().runtime().StopContainer(Context().get(), stop, &stopped).ok());
  std::map<std::string, v1::ContainerStats> list;
  EXPECT_TRUE(WaitFor(
      [&] {
        list = ListStats(server());
        return !list[idle().container_id].cpu().has_usage_core_nano_seconds();
      },
      kEventDeadline))
      << "the stopped guest still reports CPU figures";
  ASSERT_EQ(list.size(), 3u);
  EXPECT_FALSE(list[idle().container_id].memory().has_working_set_bytes());
  EXPECT_TRUE(list[idle().container_id].attributes().has_metadata());
  EXPECT_TRUE(list[spin().container_id].cpu().has_usage_core_nano_seconds());
}

struct DomStats {
  uint64_t cpu_time = 0;
};

DomStats VirshDomstats(const std::string& domain) {
  std::istringstream in(Shell("virsh -q -c qemu:///system domstats --cpu-total " + domain));
  DomStats out;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    key.erase(0, key.find_first_not_of(" \t"));
    const std::string value = line.substr(eq + 1);
    if (key == "cpu.time") out.cpu_time = std::stoull(value);
  }
  return out;
}

// With libvirtd, virsh can look at the same domain: the CRI CPU counter (read
// from the domain's cgroup by vmmap) must lie between two readings libvirt
// takes just before and just after.
TEST(StatsVirshTest, MatchesVirshDomstatsUnderLibvirtd) {
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
  ASSERT_TRUE(
      WaitFor([&] { return Console(server, pod).find("VMMAP-NPROC=") != std::string::npos; },
              kBootDeadline))
      << Tail(Console(server, pod));
  std::string domain =
      Shell("virsh -q -c qemu:///system list --name | grep -- '-" + name + "-' || true");
  domain.erase(domain.find_last_not_of(" \n") + 1);
  ASSERT_FALSE(domain.empty());

  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(kPastFreshness);  // so the next list is a fresh refresh
    const DomStats before = VirshDomstats(domain);
    auto stats = ListStats(server);
    const DomStats after = VirshDomstats(domain);
    const v1::ContainerStats& s = stats[pod.container_id];
    ASSERT_TRUE(s.cpu().has_usage_core_nano_seconds());
    const uint64_t cpu = s.cpu().usage_core_nano_seconds().value();
    std::cout << "virsh cpu.time " << before.cpu_time << " <= CRI " << cpu
              << " <= " << after.cpu_time << std::endl;
    EXPECT_LE(before.cpu_time, cpu);
    EXPECT_LE(cpu, after.cpu_time);
    EXPECT_TRUE(s.memory().has_working_set_bytes());
  }

  if (HasFailure()) std::cerr << "--- vmmap serve log ---\n" << server.log();
}

}  // namespace
}  // namespace vmmap::e2e
