// StatsCollector on libvirt's in-process test driver (test:///default) with
// a fake host in a temp dir: a /proc with one "QEMU" per running domain
// (cmdline with -uuid, a cgroup file) and cgroup mounts whose files the test
// writes. Filters, identity, stopped/vanished/restarted domains, single
// flight, freshness and the arithmetic. That these are the files of a real
// domain is what stats_e2e_test shows with real QEMU guests.
#include "server/stats/stats_collector.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/state/state_store.h"
#include "server/virt/libvirt_hypervisor.h"
#include "tests/harness/fake_clock.h"
#include "tests/harness/forwarding_hypervisor.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using virt::Hypervisor;

// Delegates to a real libvirt connection; the domain listing can be held
// until the test opens a gate (so concurrent callers provably overlap), and
// bulk stats calls are counted.
class GatedHypervisor : public ForwardingHypervisor {
 public:
  explicit GatedHypervisor(Hypervisor* inner) : ForwardingHypervisor(inner) {}
  void CloseGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = true;
  }
  int listings() const { return listings_.load(); }
  int bulk_calls() const { return bulk_calls_.load(); }

  absl::StatusOr<std::vector<virt::DomainInfo>> ListDomains() override {
    ++listings_;
    auto list = ForwardingHypervisor::ListDomains();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&gate_open_));
    return list;
  }
  absl::StatusOr<std::vector<virt::DomainStats>> GetAllDomainStats(
      const std::optional<std::vector<std::string>>& names, unsigned groups) override {
    ++bulk_calls_;
    return ForwardingHypervisor::GetAllDomainStats(names, groups);
  }

 private:
  std::atomic<int> listings_{0};
  std::atomic<int> bulk_calls_{0};
  absl::Mutex mu_;
  bool gate_open_ ABSL_GUARDED_BY(mu_) = true;
};

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// What the fake host's cgroup files say about one domain.
struct Figures {
  uint64_t usage_usec = 0;  // cgroup2 cpu.stat of the domain
  uint64_t vcpu0_usec = 0, emulator_usec = 0;
  uint64_t nr_periods = 0, nr_throttled = 0, throttled_ns = 0;  // v1 cpu.stat
  uint64_t memory_usage = 0, rss = 0, cache = 0, inactive_file = 0, limit = 0;
  uint64_t pgfault = 0, pgmajfault = 0;
};

class StatsCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vmmap-stats-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "containers");
    fs::create_directories(dir_ / "proc");
    // This machine's layout: cgroup v1 controllers plus a cgroup2 mount,
    // with libvirt leaving cpuacct at the root (machine-wide: never to be
    // read as a domain's). The root counter is huge so a wrong read shows.
    Write(dir_ / "cg/cpuacct/cpuacct.usage", "999999999999999\n");
    auto store = StateStore::Open((dir_ / "state.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto hv = virt::LibvirtHypervisor::Open("test:///default");
    ASSERT_TRUE(hv.ok()) << hv.status();
    libvirt_ = *std::move(hv);
    hv_ = std::make_unique<GatedHypervisor>(libvirt_.get());
    runtime_ = std::make_unique<PodRuntime>(RuntimeOptions{dir_.string(), NodeConfig()}, hv_.get(),
                                            store_.get(), nullptr);
    MakeCollector(StatsOptions{});
  }
  void TearDown() override {
    stats_.reset();
    for (const std::string& name : domains_) {
      libvirt_->DestroyDomain(name).IgnoreError();
      libvirt_->UndefineDomain(name).IgnoreError();
    }
    fs::remove_all(dir_);
  }

  std::vector<CgroupMount> Mounts() const {
    const std::string cg = (dir_ / "cg").string();
    return {{cg + "/cpu", "/", false, {"cpu"}},
            {cg + "/cpuacct", "/", false, {"cpuacct"}},
            {cg + "/memory", "/", false, {"memory"}},
            {cg + "/unified", "/", true, {}}};
  }

  void MakeCollector(StatsOptions options) {
    options.freshness = std::chrono::milliseconds(300);
    options.fs_mountpoint = "/var/lib/vmmap-test";
    options.clock = &clock_;
    options.cgroups = CgroupFs((dir_ / "proc").string(), Mounts());
    stats_ = std::make_unique<StatsCollector>(hv_.get(), runtime_.get(), nullptr, options);
  }

  std::string Uuid(const std::string& domain) {
    auto list = libvirt_->ListDomains();
    EXPECT_TRUE(list.ok());
    for (const auto& d : *list) {
      if (d.name == domain) return d.uuid;
    }
    ADD_FAILURE() << "no domain " << domain;
    return "";
  }

  // A "QEMU" for `domain`: a /proc entry and the cgroup dirs libvirt makes
  // (this host's hybrid layout). Returns the domain's cgroup path.
  std::string FakeQemu(const std::string& domain, int pid) {
    const std::string cgroup = absl::StrCat("/machine/qemu-", pid, "-", domain, ".libvirt-qemu");
    Write(dir_ / "proc" / std::to_string(pid) / "cmdline",
          std::string("/usr/bin/qemu-system-x86_64\0-name\0guest=x\0-uuid\0", 48) + Uuid(domain) +
              std::string("\0-S\0", 4));
    Write(dir_ / "proc" / std::to_string(pid) / "cgroup",
          absl::StrCat("9:name=systemd:/\n4:memory:", cgroup, "\n2:cpuacct:/\n1:cpu:", cgroup,
                       "/emulator\n0::", cgroup, "/emulator\n"));
    cgroups_[domain] = cgroup;
    return cgroup;
  }

  void SetFigures(const std::string& domain, const Figures& f) {
    const fs::path cg = dir_ / "cg";
    const std::string& path = cgroups_.at(domain);
    Write(cg / ("unified" + path) / "cpu.stat",
          absl::StrCat("usage_usec ", f.usage_usec, "\nuser_usec 1\nsystem_usec 2\nnice_usec 0\n"));
    Write(cg / ("unified" + path) / "vcpu0/cpu.stat",
          absl::StrCat("usage_usec ", f.vcpu0_usec, "\n"));
    Write(cg / ("unified" + path) / "emulator/cpu.stat",
          absl::StrCat("usage_usec ", f.emulator_usec, "\n"));
    Write(cg / ("cpu" + path) / "cpu.stat",
          absl::StrCat("nr_periods ", f.nr_periods, "\nnr_throttled ", f.nr_throttled,
                       "\nthrottled_time ", f.throttled_ns, "\nnr_bursts 0\nburst_time 0\n"));
    Write(cg / ("memory" + path) / "memory.usage_in_bytes", absl::StrCat(f.memory_usage, "\n"));
    Write(cg / ("memory" + path) / "memory.limit_in_bytes",
          absl::StrCat(f.limit == 0 ? 9223372036854771712ull : f.limit, "\n"));
    Write(cg / ("memory" + path) / "memory.stat",
          absl::StrCat("cache 1\nrss 2\ninactive_file 3\npgfault 4\n", "total_cache ", f.cache,
                       "\ntotal_rss ", f.rss, "\ntotal_inactive_file ", f.inactive_file,
                       "\ntotal_pgfault ", f.pgfault, "\ntotal_pgmajfault ", f.pgmajfault, "\n"));
  }

  // libvirt removes a stopped domain's cgroup; the process goes away.
  void RemoveFakeQemu(const std::string& domain, int pid) {
    fs::remove_all(dir_ / "proc" / std::to_string(pid));
    for (const char* c : {"cpu", "memory", "unified"}) {
      fs::remove_all(dir_ / "cg" / (c + cgroups_.at(domain)));
    }
  }

  // A pod: a sandbox row, a container row and a running test-driver domain
  // with a fake QEMU (pid) when started.
  std::string AddPod(const std::string& name, std::map<std::string, std::string> labels,
                     bool start = true, int pid = 0) {
    const std::string domain = "vmmap-stats-" + name + "-" + std::to_string(getpid());
    const std::string xml =
        "<domain type='test'><name>" + domain +
        "</name><memory unit='KiB'>131072</memory><os><type>hvm</type></os></domain>";
    EXPECT_TRUE(libvirt_->DefineDomain(xml).ok());
    if (start) {
      EXPECT_TRUE(libvirt_->StartDomain(domain).ok());
    }
    domains_.push_back(domain);
    if (start) {
      FakeQemu(domain, pid != 0 ? pid : 1000 + static_cast<int>(domains_.size()));
      SetFigures(domain, Figures{});
    }

    SandboxRecord sandbox;
    sandbox.id = "sb-" + name;
    sandbox.config.metadata.name = name;
    sandbox.config.metadata.uid = "uid-" + name;
    sandbox.config.metadata.namespace_name = "ns";
    for (auto& [k, v] : labels) sandbox.config.labels[k] = v;
    sandbox.config.annotations["a"] = "b";
    EXPECT_TRUE(store_->PutSandbox(sandbox).ok());

    ContainerRecord c;
    c.id = "c-" + name;
    c.sandbox_id = sandbox.id;
    c.config.metadata.name = "vm";
    c.config.metadata.attempt = 2;
    for (auto& [k, v] : labels) c.config.labels[k] = v;
    c.domain_name = domain;
    fs::create_directories(dir_ / "containers" / c.id);
    c.console_path = (dir_ / "containers" / c.id / "console.log").string();
    std::ofstream(c.console_path) << std::string(10000, 'x');
    c.state = start ? ContainerState::kRunning : ContainerState::kCreated;
    EXPECT_TRUE(store_->PutContainer(c).ok());
    return domain;
  }

  std::map<std::string, ContainerStatsRecord> List(const ContainerFilter& filter = {}) {
    auto list = stats_->ListContainerStats(filter);
    EXPECT_TRUE(list.ok()) << list.status();
    std::map<std::string, ContainerStatsRecord> out;
    if (list.ok()) {
      for (auto& s : *list) out[s.id] = s;
    }
    return out;
  }
  std::vector<std::string> Ids(const ContainerFilter& filter) {
    std::vector<std::string> ids;
    for (const auto& [id, s] : List(filter)) ids.push_back(id);
    return ids;
  }
  // Past the freshness bound (300 ms) on the collector's clock.
  void MakeStale() { clock_.Advance(std::chrono::milliseconds(301)); }

  FakeClock clock_;
  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<virt::LibvirtHypervisor> libvirt_;
  std::unique_ptr<GatedHypervisor> hv_;
  std::unique_ptr<PodRuntime> runtime_;
  std::unique_ptr<StatsCollector> stats_;
  std::vector<std::string> domains_;
  std::map<std::string, std::string> cgroups_;  // domain → cgroup path
};

TEST_F(StatsCollectorTest, IdentityAndWritableLayer) {
  AddPod("attrs", {{"app", "web"}});
  auto one = stats_->ContainerStats("c-attrs");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->sandbox_id, "sb-attrs");
  EXPECT_EQ(one->metadata.name, "vm");
  EXPECT_EQ(one->metadata.attempt, 2u);
  EXPECT_EQ(one->labels.at("app"), "web");
  EXPECT_GT(one->cpu.timestamp_ns, 0);
  EXPECT_EQ(one->writable_layer.mountpoint, "/var/lib/vmmap-test");
  // The container dir (console log) is the writable layer of a kernel bundle.
  EXPECT_GE(one->writable_layer.used_bytes, 10000u);
  EXPECT_EQ(one->writable_layer.inodes_used, 2u);

  auto pod = stats_->PodStats("sb-attrs");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->metadata.name, "attrs");
  EXPECT_EQ(pod->metadata.uid, "uid-attrs");
  EXPECT_EQ(pod->annotations.at("a"), "b");
  ASSERT_EQ(pod->containers.size(), 1u);
  EXPECT_EQ(pod->containers[0].id, "c-attrs");

  EXPECT_TRUE(absl::IsNotFound(stats_->ContainerStats("nope").status()));
  EXPECT_TRUE(absl::IsNotFound(stats_->PodStats("nope").status()));
}

TEST_F(StatsCollectorTest, FiltersByIdSandboxAndLabels) {
  AddPod("a", {{"app", "web"}, {"tier", "front"}});
  AddPod("b", {{"app", "web"}, {"tier", "back"}});
  AddPod("c", {{"app", "db"}});
  EXPECT_THAT(Ids({}), UnorderedElementsAre("c-a", "c-b", "c-c"));
  ContainerFilter f;
  f.id = "c-b";
  EXPECT_THAT(Ids(f), ElementsAre("c-b"));
  f = {};
  f.sandbox_id = "sb-c";
  EXPECT_THAT(Ids(f), ElementsAre("c-c"));
  f = {};
  f.label_selector["app"] = "web";
  EXPECT_THAT(Ids(f), UnorderedElementsAre("c-a", "c-b"));
  f.label_selector["tier"] = "back";
  EXPECT_THAT(Ids(f), ElementsAre("c-b"));
  f.id = "c-a";  // id and selector disagree
  EXPECT_TRUE(Ids(f).empty());

  SandboxFilter pf;
  pf.label_selector["app"] = "web";
  auto pods = stats_->ListPodStats(pf);
  ASSERT_TRUE(pods.ok());
  std::vector<std::string> ids;
  for (const auto& p : *pods) ids.push_back(p.id);
  EXPECT_THAT(ids, UnorderedElementsAre("sb-a", "sb-b"));
}

TEST_F(StatsCollectorTest, FiguresComeFromTheDomainsOwnCgroup) {
  const std::string domain = AddPod("figures", {});
  Figures f;
  f.usage_usec = 1'000'000;  // 1 s
  f.vcpu0_usec = 700'000;
  f.emulator_usec = 250'000;
  f.nr_periods = 80;
  f.nr_throttled = 7;
  f.throttled_ns = 123'456'789;
  f.memory_usage = 300 << 20;
  f.inactive_file = 40 << 20;
  f.rss = 200 << 20;
  f.cache = 60 << 20;
  f.limit = 512 << 20;
  f.pgfault = 1234;
  f.pgmajfault = 5;
  SetFigures(domain, f);
  auto first = List();
  const ContainerStatsRecord& c = first["c-figures"];
  EXPECT_EQ(c.cpu.usage_core_ns, 1'000'000'000u) << "not the machine-wide cpuacct root";
  EXPECT_FALSE(c.cpu.usage_nano_cores) << "no rate from a single sample";
  EXPECT_EQ(c.cpu.emulator_ns, 250'000'000u);
  EXPECT_THAT(c.cpu.vcpu_ns, ElementsAre(700'000'000u));
  EXPECT_EQ(c.cpu.nr_periods, 80u);
  EXPECT_EQ(c.cpu.nr_throttled, 7u);
  EXPECT_EQ(c.cpu.throttled_ns, 123'456'789u);
  EXPECT_EQ(c.memory.usage_bytes, 300u << 20);
  EXPECT_EQ(c.memory.working_set_bytes, 260u << 20) << "usage − total_inactive_file";
  EXPECT_EQ(c.memory.rss_bytes, 200u << 20);
  EXPECT_EQ(c.memory.cache_bytes, 60u << 20);
  EXPECT_EQ(c.memory.limit_bytes, 512u << 20);
  EXPECT_EQ(c.memory.available_bytes, 252u << 20);
  EXPECT_EQ(c.memory.page_faults, 1234u);
  EXPECT_EQ(c.memory.major_page_faults, 5u);
  EXPECT_FALSE(c.guest_memory) << "balloon figures were not asked for";

  // Half a core over 600 ms on the collector's clock.
  clock_.Advance(std::chrono::milliseconds(600));
  f.usage_usec += 300'000;
  SetFigures(domain, f);
  auto second = List();
  EXPECT_EQ(second["c-figures"].cpu.usage_nano_cores, 500'000'000u);
  EXPECT_EQ(second["c-figures"].cpu.timestamp_ns, c.cpu.timestamp_ns + 600'000'000);

  auto pod = stats_->PodStats("sb-figures");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->cpu.usage_core_ns, 1'300'000'000u);
  EXPECT_EQ(pod->memory.working_set_bytes, 260u << 20);
  EXPECT_TRUE(pod->network.interfaces.empty()) << "no network counters were given";
}

TEST_F(StatsCollectorTest, InactiveFileAboveUsageFloorsTheWorkingSetAtZero) {
  const std::string domain = AddPod("floor", {});
  Figures f;
  f.memory_usage = 10 << 20;
  f.inactive_file = 20 << 20;
  SetFigures(domain, f);
  auto list = List();
  EXPECT_EQ(list["c-floor"].memory.working_set_bytes, 0u);
  EXPECT_FALSE(list["c-floor"].memory.limit_bytes) << "v1's 'no limit' value is no limit";
  EXPECT_FALSE(list["c-floor"].memory.available_bytes);
}

TEST_F(StatsCollectorTest, StoppedVanishedAndUnlocatableDomainsHaveNoFigures) {
  AddPod("live", {});
  const std::string gone = AddPod("gone", {});
  AddPod("stopped", {}, /*start=*/false);
  const std::string lost = AddPod("lost", {});
  // Behind the runtime's back: destroyed and undefined.
  ASSERT_TRUE(libvirt_->DestroyDomain(gone).ok());
  ASSERT_TRUE(libvirt_->UndefineDomain(gone).ok());
  // Running, but its QEMU is nowhere on this host (a remote libvirt).
  fs::remove_all(dir_ / "proc" / "1004");
  auto by_id = List();
  ASSERT_EQ(by_id.size(), 4u);
  EXPECT_TRUE(by_id["c-live"].cpu.usage_core_ns);
  EXPECT_TRUE(by_id["c-live"].memory.working_set_bytes);
  for (const char* id : {"c-gone", "c-stopped", "c-lost"}) {
    EXPECT_FALSE(by_id[id].cpu.usage_core_ns) << id;
    EXPECT_FALSE(by_id[id].memory.working_set_bytes) << id;
    EXPECT_GT(by_id[id].cpu.timestamp_ns, 0) << id;
  }
  auto pods = stats_->ListPodStats({});
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ(pods->size(), 4u);
  (void)lost;
}

TEST_F(StatsCollectorTest, ARestartedDomainIsLocatedAgainInTheSameRefresh) {
  const std::string domain = AddPod("restart", {}, true, 2001);
  Figures f;
  f.usage_usec = 5'000'000;
  SetFigures(domain, f);
  EXPECT_EQ(List()["c-restart"].cpu.usage_core_ns, 5'000'000'000u);
  // Stopped and started again between two refreshes: a new QEMU, a new
  // cgroup, a counter from zero.
  RemoveFakeQemu(domain, 2001);
  FakeQemu(domain, 2002);
  f.usage_usec = 100'000;
  SetFigures(domain, f);
  MakeStale();
  const auto after = List()["c-restart"];
  EXPECT_EQ(after.cpu.usage_core_ns, 100'000'000u);
  EXPECT_FALSE(after.cpu.usage_nano_cores) << "no rate across a counter reset";
}

TEST_F(StatsCollectorTest, ConcurrentRequestsShareOneListing) {
  for (int i = 0; i < 5; ++i) AddPod("p" + std::to_string(i), {});
  List();
  MakeStale();
  // The refresh is held inside the listing until every caller has started;
  // the clock stands still, so a caller that arrives after it finished is
  // served from the cache. Either way: one libvirt call, nothing else.
  hv_->CloseGate();
  const uint64_t calls_before = hv_->calls();
  const int listings_before = hv_->listings();
  std::vector<std::thread> threads;
  std::atomic<int> started{0};
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      ++started;
      if (i % 4 == 3) {
        if (stats_->ListPodStats({}).ok()) ++ok;
      } else if (i % 4 == 2) {
        if (stats_->ContainerStats("c-p1").ok()) ++ok;
      } else if (stats_->ListContainerStats({}).ok()) {
        ++ok;
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while ((started.load() < 16 || hv_->listings() == listings_before) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  hv_->OpenGate();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16);
  EXPECT_EQ(hv_->listings() - listings_before, 1);
  EXPECT_EQ(hv_->calls() - calls_before, 1u) << "libvirt API calls for 16 concurrent requests";
  EXPECT_EQ(hv_->bulk_calls(), 0)
      << "no bulk stats (QMP) call unless balloon figures are asked for";
}

TEST_F(StatsCollectorTest, FreshnessBoundsTheCache) {
  AddPod("fresh", {});
  const auto first = List();
  const uint64_t calls = hv_->calls();
  clock_.Advance(std::chrono::milliseconds(299));  // within the 300 ms bound
  const auto cached = List();
  EXPECT_EQ(hv_->calls(), calls) << "a request within the freshness bound asked libvirt";
  EXPECT_EQ(cached.at("c-fresh").cpu.timestamp_ns, first.at("c-fresh").cpu.timestamp_ns);
  clock_.Advance(std::chrono::milliseconds(1));  // at the bound: stale
  const auto later = List();
  EXPECT_EQ(hv_->calls(), calls + 1) << "one libvirt call per refresh, nothing per domain";
  EXPECT_EQ(later.at("c-fresh").cpu.timestamp_ns,
            first.at("c-fresh").cpu.timestamp_ns + 300'000'000);
}

TEST_F(StatsCollectorTest, BalloonFiguresOnlyWhenAskedAndAtTheirOwnRate) {
  StatsOptions options;
  options.guest_memory_interval = std::chrono::seconds(10);
  MakeCollector(options);
  AddPod("guest", {});
  List();
  EXPECT_EQ(hv_->bulk_calls(), 1);
  for (int i = 0; i < 5; ++i) {  // 5 refreshes within 10 s
    MakeStale();
    clock_.Advance(std::chrono::seconds(1));
    List();
  }
  EXPECT_EQ(hv_->bulk_calls(), 1) << "balloon figures read more often than every 10 s";
  clock_.Advance(std::chrono::seconds(5));
  List();
  EXPECT_EQ(hv_->bulk_calls(), 2);
}

TEST_F(StatsCollectorTest, PodNetworkCountersComeFromTheGivenSource) {
  StatsOptions options;
  options.network_counters =
      [](const SandboxRecord& sandbox) -> absl::StatusOr<std::vector<InterfaceStats>> {
    if (sandbox.id == "sb-broken") return absl::UnavailableError("netns gone");
    return std::vector<InterfaceStats>{{"eth0", 111, 1, 222, 2}};
  };
  MakeCollector(options);
  AddPod("net", {});
  AddPod("broken", {});
  auto pods = stats_->ListPodStats({});
  ASSERT_TRUE(pods.ok()) << pods.status();
  std::map<std::string, PodStatsRecord> by_id;
  for (auto& p : *pods) by_id[p.id] = p;
  ASSERT_EQ(by_id["sb-net"].network.interfaces.size(), 1u);
  EXPECT_EQ(by_id["sb-net"].network.interfaces[0].name, "eth0");
  EXPECT_EQ(by_id["sb-net"].network.interfaces[0].tx_bytes, 222u);
  EXPECT_TRUE(by_id["sb-broken"].network.interfaces.empty()) << "an error must not fail the list";
}

}  // namespace
}  // namespace vmmap
