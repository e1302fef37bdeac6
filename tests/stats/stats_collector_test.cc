// StatsCollector against libvirt's in-process test driver (test:///default):
// filters, attributes, vanished domains, single flight, freshness and the
// arithmetic. The test driver reports only the STATE group, so a thin
// decorator adds the QEMU-only keys (cpu.time, balloon.*, net.*) to what the
// real bulk call returned.
#include "server/stats/stats_collector.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "server/runtime/ids.h"
#include "server/state/state_store.h"
#include "server/virt/libvirt_hypervisor.h"
#include "tests/harness/fake_clock.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using virt::Hypervisor;

// Delegates everything to a real libvirt connection; GetAllDomainStats
// additionally merges scripted keys and can be held until the test opens a
// gate (so that concurrent callers provably overlap, however slow the machine).
class ScriptedHypervisor : public Hypervisor {
 public:
  explicit ScriptedHypervisor(Hypervisor* inner) : inner_(inner) {}

  using Extra = std::function<std::map<std::string, virt::TypedValue>(const std::string& name)>;
  void set_extra(Extra extra) {
    absl::MutexLock lock(&mu_);
    extra_ = std::move(extra);
  }
  void CloseGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = true;
  }
  int bulk_calls() const { return bulk_calls_.load(); }

  absl::StatusOr<std::vector<virt::DomainStats>> GetAllDomainStats(
      const std::optional<std::vector<std::string>>& names, unsigned groups) override {
    ++bulk_calls_;
    auto stats = inner_->GetAllDomainStats(names, groups);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&gate_open_));
    if (!stats.ok()) return stats;
    if (extra_) {
      for (virt::DomainStats& d : *stats) {
        for (auto& [k, v] : extra_(d.name)) d.params[k] = v;
      }
    }
    return stats;
  }

  absl::StatusOr<virt::DomainId> DefineDomain(std::string_view xml) override { return inner_->DefineDomain(xml); }
  absl::Status StartDomain(std::string_view n) override { return inner_->StartDomain(n); }
  absl::Status ShutdownDomain(std::string_view n) override { return inner_->ShutdownDomain(n); }
  absl::Status DestroyDomain(std::string_view n) override { return inner_->DestroyDomain(n); }
  absl::Status UndefineDomain(std::string_view n) override { return inner_->UndefineDomain(n); }
  absl::StatusOr<virt::DomainStatus> DomainState(std::string_view n) override { return inner_->DomainState(n); }
  absl::StatusOr<std::string> DomainXml(std::string_view n) override { return inner_->DomainXml(n); }
  absl::StatusOr<std::vector<virt::DomainInfo>> ListDomains() override { return inner_->ListDomains(); }
  absl::StatusOr<std::vector<virt::DomainInfo>> ListDomainsWithMetadata(std::string_view ns) override {
    return inner_->ListDomainsWithMetadata(ns);
  }
  absl::StatusOr<std::string> DomainMetadata(std::string_view n, std::string_view ns) override {
    return inner_->DomainMetadata(n, ns);
  }
  absl::Status SetSchedulerParameters(std::string_view n, const virt::CpuTuneUpdate& u, bool live) override {
    return inner_->SetSchedulerParameters(n, u, live);
  }
  absl::StatusOr<virt::CpuTuneUpdate> GetSchedulerParameters(std::string_view n) override {
    return inner_->GetSchedulerParameters(n);
  }
  absl::Status SetMemoryHardLimit(std::string_view n, uint64_t kib) override {
    return inner_->SetMemoryHardLimit(n, kib);
  }
  absl::Status Ping() override { return inner_->Ping(); }
  uint64_t calls() const override { return inner_->calls(); }

 private:
  Hypervisor* const inner_;
  std::atomic<int> bulk_calls_{0};
  absl::Mutex mu_;
  Extra extra_ ABSL_GUARDED_BY(mu_);
  bool gate_open_ ABSL_GUARDED_BY(mu_) = true;
};

constexpr uint64_t kHardLimitKib = 262144;

class StatsCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vmmap-stats-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "containers");
    auto store = StateStore::Open((dir_ / "state.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto hv = virt::LibvirtHypervisor::Open("test:///default");
    ASSERT_TRUE(hv.ok()) << hv.status();
    libvirt_ = *std::move(hv);
    hv_ = std::make_unique<ScriptedHypervisor>(libvirt_.get());
    runtime_ = std::make_unique<PodRuntime>(RuntimeOptions{dir_.string(), NodeConfig()}, hv_.get(),
                                            store_.get(), nullptr);
    StatsOptions options;
    options.freshness = std::chrono::milliseconds(300);
    options.fs_mountpoint = "/var/lib/vmmap-test";
    options.clock = &clock_;
    stats_ = std::make_unique<StatsCollector>(hv_.get(), runtime_.get(), nullptr, options);
  }
  void TearDown() override {
    for (const std::string& name : domains_) {
      libvirt_->DestroyDomain(name).IgnoreError();
      libvirt_->UndefineDomain(name).IgnoreError();
    }
    fs::remove_all(dir_);
  }

  // A pod: a sandbox row, a container row and a running test-driver domain.
  std::string AddPod(const std::string& name, std::map<std::string, std::string> labels,
                     bool start = true) {
    const std::string domain = "vmmap-stats-" + name + "-" + std::to_string(getpid());
    const std::string xml =
        "<domain type='test'><name>" + domain + "</name><memory unit='KiB'>131072</memory>"
        "<memtune><hard_limit unit='KiB'>" + std::to_string(kHardLimitKib) +
        "</hard_limit></memtune><os><type>hvm</type></os></domain>";
    EXPECT_TRUE(libvirt_->DefineDomain(xml).ok());
    if (start) EXPECT_TRUE(libvirt_->StartDomain(domain).ok());
    domains_.push_back(domain);

    SandboxRecord sandbox;
    sandbox.id = "sb-" + name;
    sandbox.config.metadata.name = name;
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
    return c.id;
  }

  std::vector<v1::ContainerStats> List(const v1::ContainerStatsFilter& filter = {}) {
    auto list = stats_->ListContainerStats(filter);
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? *list : std::vector<v1::ContainerStats>{};
  }
  // Past the freshness bound (300 ms) on the collector's clock.
  void MakeStale() { clock_.Advance(std::chrono::milliseconds(301)); }

  FakeClock clock_;
  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<virt::LibvirtHypervisor> libvirt_;
  std::unique_ptr<ScriptedHypervisor> hv_;
  std::unique_ptr<PodRuntime> runtime_;
  std::unique_ptr<StatsCollector> stats_;
  std::vector<std::string> domains_;
};

std::vector<std::string> Ids(const std::vector<v1::ContainerStats>& list) {
  std::vector<std::string> ids;
  for (const auto& s : list) ids.push_back(s.attributes().id());
  return ids;
}

TEST_F(StatsCollectorTest, AttributesAndMetadataAreNeverNil) {
  AddPod("attrs", {{"app", "web"}});
  // A container whose config is empty still gets attributes and metadata.
  ContainerRecord bare;
  bare.id = "c-bare";
  bare.sandbox_id = "sb-attrs";
  bare.domain_name = "no-such-domain";
  ASSERT_TRUE(store_->PutContainer(bare).ok());
  for (const v1::ContainerStats& s : List()) {
    EXPECT_TRUE(s.has_attributes());
    EXPECT_TRUE(s.attributes().has_metadata()) << s.attributes().id();
    EXPECT_TRUE(s.has_cpu());
    EXPECT_TRUE(s.has_memory());
    EXPECT_GT(s.cpu().timestamp(), 0);
    EXPECT_TRUE(s.has_writable_layer());
    EXPECT_EQ(s.writable_layer().fs_id().mountpoint(), "/var/lib/vmmap-test");
  }
  auto one = stats_->ContainerStats("c-attrs");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->attributes().metadata().name(), "vm");
  EXPECT_EQ(one->attributes().metadata().attempt(), 2u);
  EXPECT_EQ(one->attributes().labels().at("app"), "web");
  // The container dir (console log) is the writable layer of a kernel bundle.
  EXPECT_GE(one->writable_layer().used_bytes().value(), 10000u);
  EXPECT_EQ(one->writable_layer().inodes_used().value(), 2u);

  auto pod = stats_->PodSandboxStats("sb-attrs");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_TRUE(pod->attributes().has_metadata());
  EXPECT_EQ(pod->attributes().metadata().name(), "attrs");
  EXPECT_EQ(pod->attributes().annotations().at("a"), "b");
  EXPECT_EQ(pod->linux().containers_size(), 2);
  EXPECT_TRUE(pod->linux().has_network());

  EXPECT_TRUE(absl::IsNotFound(stats_->ContainerStats("nope").status()));
  EXPECT_TRUE(absl::IsNotFound(stats_->PodSandboxStats("nope").status()));
}

TEST_F(StatsCollectorTest, FiltersByIdSandboxAndLabels) {
  AddPod("a", {{"app", "web"}, {"tier", "front"}});
  AddPod("b", {{"app", "web"}, {"tier", "back"}});
  AddPod("c", {{"app", "db"}});
  EXPECT_THAT(Ids(List()), ::testing::UnorderedElementsAre("c-a", "c-b", "c-c"));
  v1::ContainerStatsFilter f;
  f.set_id("c-b");
  EXPECT_THAT(Ids(List(f)), ::testing::ElementsAre("c-b"));
  f.Clear();
  f.set_pod_sandbox_id("sb-c");
  EXPECT_THAT(Ids(List(f)), ::testing::ElementsAre("c-c"));
  f.Clear();
  (*f.mutable_label_selector())["app"] = "web";
  EXPECT_THAT(Ids(List(f)), ::testing::UnorderedElementsAre("c-a", "c-b"));
  (*f.mutable_label_selector())["tier"] = "back";
  EXPECT_THAT(Ids(List(f)), ::testing::ElementsAre("c-b"));
  f.set_id("c-a");  // id and selector disagree
  EXPECT_TRUE(List(f).empty());

  v1::PodSandboxStatsFilter pf;
  (*pf.mutable_label_selector())["app"] = "web";
  auto pods = stats_->ListPodSandboxStats(pf);
  ASSERT_TRUE(pods.ok());
  std::vector<std::string> ids;
  for (const auto& p : *pods) ids.push_back(p.attributes().id());
  EXPECT_THAT(ids, ::testing::UnorderedElementsAre("sb-a", "sb-b"));
  pf.Clear();
  pf.set_id("sb-c");
  pods = stats_->ListPodSandboxStats(pf);
  ASSERT_TRUE(pods.ok());
  ASSERT_EQ(pods->size(), 1u);
  ASSERT_EQ(pods->front().linux().containers_size(), 1);
  EXPECT_EQ(pods->front().linux().containers(0).attributes().id(), "c-c");
}

TEST_F(StatsCollectorTest, VanishedAndStoppedDomainsDoNotFailTheList) {
  AddPod("live", {});
  AddPod("gone", {});
  AddPod("stopped", {}, /*start=*/false);
  hv_->set_extra([](const std::string&) {
    return std::map<std::string, virt::TypedValue>{{"cpu.time", uint64_t{5}},
                                                   {"balloon.rss", uint64_t{1000}}};
  });
  // Behind the runtime's back.
  ASSERT_TRUE(libvirt_->DestroyDomain(domains_[1]).ok());
  ASSERT_TRUE(libvirt_->UndefineDomain(domains_[1]).ok());
  std::map<std::string, v1::ContainerStats> by_id;
  for (auto& s : List()) by_id[s.attributes().id()] = s;
  ASSERT_EQ(by_id.size(), 3u);
  EXPECT_TRUE(by_id["c-live"].cpu().has_usage_core_nano_seconds());
  EXPECT_EQ(by_id["c-live"].memory().working_set_bytes().value(), 1000u * 1024);
  for (const char* id : {"c-gone", "c-stopped"}) {
    EXPECT_FALSE(by_id[id].cpu().has_usage_core_nano_seconds()) << id;
    EXPECT_FALSE(by_id[id].memory().has_working_set_bytes()) << id;
    EXPECT_TRUE(by_id[id].attributes().has_metadata()) << id;
    EXPECT_GT(by_id[id].cpu().timestamp(), 0) << id;
  }
  auto pods = stats_->ListPodSandboxStats({});
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ(pods->size(), 3u);
}

TEST_F(StatsCollectorTest, ConcurrentRequestsShareOneBulkCall) {
  for (int i = 0; i < 5; ++i) AddPod("p" + std::to_string(i), {});
  List();  // warm: hard limits are read once per domain, then cached
  MakeStale();
  // The first refresh is held inside libvirt until every caller has started;
  // the clock stands still, so a caller that arrives after it finished is
  // served from the cache. Either way: one bulk call, nothing else.
  hv_->CloseGate();
  const uint64_t calls_before = hv_->calls();
  const int bulk_before = hv_->bulk_calls();
  std::vector<std::thread> threads;
  std::atomic<int> started{0};
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      ++started;
      if (i % 4 == 3) {
        if (stats_->ListPodSandboxStats({}).ok()) ++ok;
      } else if (i % 4 == 2) {
        if (stats_->ContainerStats("c-p1").ok()) ++ok;
      } else if (stats_->ListContainerStats({}).ok()) {
        ++ok;
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while ((started.load() < 16 || hv_->bulk_calls() == bulk_before) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  hv_->OpenGate();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16);
  EXPECT_EQ(hv_->bulk_calls() - bulk_before, 1);
  EXPECT_EQ(hv_->calls() - calls_before, 1u) << "libvirt API calls for 16 concurrent requests";
}

TEST_F(StatsCollectorTest, FreshnessBoundsTheCacheAndTimestampsAdvance) {
  AddPod("fresh", {});
  const auto first = List();
  const uint64_t calls = hv_->calls();
  clock_.Advance(std::chrono::milliseconds(299));  // within the 300 ms bound
  const auto cached = List();
  EXPECT_EQ(hv_->calls(), calls) << "a second request within the freshness bound asked libvirt";
  EXPECT_EQ(cached[0].cpu().timestamp(), first[0].cpu().timestamp());
  clock_.Advance(std::chrono::milliseconds(1));  // at the bound: stale
  const auto later = List();
  EXPECT_EQ(hv_->calls(), calls + 1) << "one bulk call per refresh, nothing per domain";
  EXPECT_EQ(later[0].cpu().timestamp(), first[0].cpu().timestamp() + 300'000'000);
}

TEST_F(StatsCollectorTest, CpuRateMemoryFaultsAndNetwork) {
  AddPod("figures", {});
  // A domain burning exactly half a core since t0, on the collector's clock.
  const absl::Time t0 = clock_.WallNow();
  hv_->set_extra([this, t0](const std::string&) {
    const uint64_t cpu =
        static_cast<uint64_t>(absl::ToInt64Nanoseconds(clock_.WallNow() - t0) / 2) + 1'000'000'000;
    return std::map<std::string, virt::TypedValue>{
        {"cpu.time", cpu},
        {"balloon.rss", uint64_t{100000}},
        {"balloon.minor_fault", uint64_t{1234}},
        {"balloon.major_fault", uint64_t{56}},
        {"net.count", uint64_t{1}},
        {"net.0.name", std::string("vnet0")},
        {"net.0.rx.bytes", uint64_t{111}},
        {"net.0.rx.errs", uint64_t{1}},
        {"net.0.tx.bytes", uint64_t{222}},
        {"net.0.tx.errs", uint64_t{2}}};
  });
  auto first = List();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(first[0].cpu().has_usage_core_nano_seconds());
  EXPECT_FALSE(first[0].cpu().has_usage_nano_cores()) << "no rate from a single sample";
  clock_.Advance(std::chrono::milliseconds(600));
  auto second = List();
  ASSERT_EQ(second.size(), 1u);
  ASSERT_TRUE(second[0].cpu().has_usage_nano_cores());
  EXPECT_EQ(second[0].cpu().usage_nano_cores().value(), 500'000'000u);
  EXPECT_EQ(second[0].cpu().usage_core_nano_seconds().value(), 1'300'000'000u);
  const auto& m = second[0].memory();
  EXPECT_EQ(m.working_set_bytes().value(), 100000u * 1024);
  EXPECT_EQ(m.usage_bytes().value(), 100000u * 1024);
  EXPECT_EQ(m.rss_bytes().value(), 100000u * 1024);
  EXPECT_EQ(m.available_bytes().value(), (kHardLimitKib - 100000u) * 1024);
  EXPECT_EQ(m.page_faults().value(), 1234u);
  EXPECT_EQ(m.major_page_faults().value(), 56u);

  auto pod = stats_->PodSandboxStats("sb-figures");
  ASSERT_TRUE(pod.ok());
  const auto& linux_stats = pod->linux();
  EXPECT_EQ(linux_stats.cpu().usage_core_nano_seconds().value(),
            second[0].cpu().usage_core_nano_seconds().value());
  EXPECT_EQ(linux_stats.memory().working_set_bytes().value(), 100000u * 1024);
  ASSERT_EQ(linux_stats.network().interfaces_size(), 1);
  EXPECT_EQ(linux_stats.network().interfaces(0).name(), "vnet0");
  EXPECT_EQ(linux_stats.network().interfaces(0).rx_bytes().value(), 111u);
  EXPECT_EQ(linux_stats.network().interfaces(0).rx_errors().value(), 1u);
  EXPECT_EQ(linux_stats.network().interfaces(0).tx_bytes().value(), 222u);
  EXPECT_EQ(linux_stats.network().interfaces(0).tx_errors().value(), 2u);
  EXPECT_EQ(linux_stats.network().default_interface().name(), "vnet0");
}

TEST(ParseDomainStatsTest, ShutOffDomainsHaveNoFigures) {
  virt::DomainStats d{"x", {{"state.state", int64_t{5}}, {"cpu.time", uint64_t{7}}}};
  EXPECT_FALSE(ParseDomainStats(d).active);
  EXPECT_FALSE(ParseDomainStats(d).cpu_time_ns);
  d.params["state.state"] = int64_t{3};  // paused still has a QEMU process
  EXPECT_TRUE(ParseDomainStats(d).active);
  EXPECT_EQ(*ParseDomainStats(d).cpu_time_ns, 7u);
}

}  // namespace
}  // namespace vmmap
