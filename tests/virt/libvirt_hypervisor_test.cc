// LibvirtHypervisor against libvirt's own test driver (test:///default).
//
// The test driver runs in-process and keeps state while at least one
// connection to test:///default is open; it starts with one running domain
// named "test" that vmmap did not create. Each test opens its own
// connection and uses its own domain names.

#include "server/virt/libvirt_hypervisor.h"

#include <libvirt/libvirt.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmap::virt {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kTestUri[] = "test:///default";

std::string DomainXmlFor(const std::string& name, const std::string& pod_uid = "",
                         const std::string& extra = "") {
  std::string metadata;
  if (!pod_uid.empty()) {
    metadata = "<metadata><vmmap:pod xmlns:vmmap=\"" + std::string(kPodMetadataNamespace) +
               "\" uid=\"" + pod_uid + "\"/></metadata>";
  }
  return "<domain type='test'><name>" + name + "</name>" + metadata +
         "<memory unit='KiB'>65536</memory><vcpu>1</vcpu>"
         "<os><type arch='x86_64'>hvm</type></os>" +
         extra + "</domain>";
}

// absl::Status::message() is an absl::string_view (not std::string_view in
// Debian's abseil); matchers want a std::string.
std::string Msg(const absl::Status& s) { return std::string(s.message()); }

CpuTuneUpdate Shares(uint64_t shares) {
  CpuTuneUpdate u;
  u.shares = shares;
  return u;
}

class LibvirtHypervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LibvirtHypervisor>> h = LibvirtHypervisor::Open(kTestUri);
    ASSERT_TRUE(h.ok()) << h.status();
    hv_ = *std::move(h);
  }

  void Define(const std::string& name, const std::string& pod_uid = "") {
    absl::StatusOr<DomainId> id = hv_->DefineDomain(DomainXmlFor(name, pod_uid));
    ASSERT_TRUE(id.ok()) << id.status();
  }

  PowerState StateOf(std::string_view name) {
    absl::StatusOr<DomainStatus> s = hv_->DomainState(name);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->state : PowerState::kOther;
  }

  std::unique_ptr<LibvirtHypervisor> hv_;
};

TEST_F(LibvirtHypervisorTest, DefineReturnsIdAndDomainCanBeReadBack) {
  absl::StatusOr<DomainId> id = hv_->DefineDomain(DomainXmlFor("vmmap-define", "uid-1"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->name, "vmmap-define");
  EXPECT_EQ(id->uuid.size(), 36u) << id->uuid;

  absl::StatusOr<std::string> xml = hv_->DomainXml("vmmap-define");
  ASSERT_TRUE(xml.ok()) << xml.status();
  EXPECT_THAT(*xml, HasSubstr("<name>vmmap-define</name>"));
  EXPECT_THAT(*xml, HasSubstr(id->uuid));
  EXPECT_THAT(*xml, HasSubstr("uid=\"uid-1\""));

  EXPECT_EQ(StateOf("vmmap-define"), PowerState::kShutoff);

  absl::StatusOr<std::vector<DomainInfo>> all = hv_->ListDomains();
  ASSERT_TRUE(all.ok()) << all.status();
  auto it = std::find_if(all->begin(), all->end(),
                         [](const DomainInfo& d) { return d.name == "vmmap-define"; });
  ASSERT_NE(it, all->end());
  EXPECT_EQ(it->uuid, id->uuid);
  EXPECT_EQ(it->status.state, PowerState::kShutoff);
  EXPECT_THAT(it->metadata, IsEmpty());  // ListDomains does not fetch it
}

TEST_F(LibvirtHypervisorTest, RedefiningWithSameUuidUpdatesInPlace) {
  absl::StatusOr<DomainId> first = hv_->DefineDomain(DomainXmlFor("vmmap-re"));
  ASSERT_TRUE(first.ok()) << first.status();

  // Same name, no uuid: libvirt invents a new uuid and refuses the clash.
  absl::StatusOr<DomainId> clash = hv_->DefineDomain(DomainXmlFor("vmmap-re", "uid-2"));
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kAlreadyExists) << clash.status();

  // Same name and uuid: an update of the existing definition.
  absl::StatusOr<DomainId> second = hv_->DefineDomain(absl::StrReplaceAll(
      DomainXmlFor("vmmap-re", "uid-2"), {{"</name>", "</name><uuid>" + first->uuid + "</uuid>"}}));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->uuid, first->uuid);
  absl::StatusOr<std::string> md = hv_->DomainMetadata("vmmap-re", kPodMetadataNamespace);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(*md, "<pod uid=\"uid-2\"/>");
}

TEST_F(LibvirtHypervisorTest, SchemaViolationIsInvalidArgumentNamingProblem) {
  // Without VIR_DOMAIN_DEFINE_VALIDATE libvirt silently drops <bogus/>.
  absl::StatusOr<DomainId> id = hv_->DefineDomain(DomainXmlFor("vmmap-bad", "", "<bogus/>"));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << id.status();
  EXPECT_THAT(Msg(id.status()), HasSubstr("bogus"));
  EXPECT_THAT(Msg(id.status()), HasSubstr("define domain \"vmmap-bad\""));
  EXPECT_EQ(hv_->DomainState("vmmap-bad").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LibvirtHypervisorTest, MalformedXmlIsInvalidArgument) {
  absl::StatusOr<DomainId> id = hv_->DefineDomain("<domain type='test'><name>");
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << id.status();
}

TEST_F(LibvirtHypervisorTest, BadValueIsInvalidArgument) {
  // Well-formed and schema-valid element, impossible value.
  absl::StatusOr<DomainId> id = hv_->DefineDomain(
      absl::StrReplaceAll(DomainXmlFor("vmmap-badval"), {{"<vcpu>1</vcpu>", "<vcpu>x</vcpu>"}}));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << id.status();
}

TEST_F(LibvirtHypervisorTest, UnknownNameIsNotFoundNamingIt) {
  const std::string name = "vmmap-no-such-domain";
  std::vector<absl::Status> results = {
      hv_->StartDomain(name),
      hv_->ShutdownDomain(name),
      hv_->DestroyDomain(name),
      hv_->UndefineDomain(name),
      hv_->DomainState(name).status(),
      hv_->DomainXml(name).status(),
      hv_->DomainMetadata(name, kPodMetadataNamespace).status(),
      hv_->GetSchedulerParameters(name).status(),
      hv_->SetSchedulerParameters(name, Shares(2), true),
      hv_->SetMemoryHardLimit(name, 1024),
  };
  for (const absl::Status& s : results) {
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
    EXPECT_THAT(Msg(s), HasSubstr("\"" + name + "\""));
  }
}

TEST_F(LibvirtHypervisorTest, Lifecycle) {
  Define("vmmap-life");
  EXPECT_EQ(StateOf("vmmap-life"), PowerState::kShutoff);

  ASSERT_TRUE(hv_->StartDomain("vmmap-life").ok());
  absl::StatusOr<DomainStatus> st = hv_->DomainState("vmmap-life");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, PowerState::kRunning);
  EXPECT_EQ(st->raw_state, VIR_DOMAIN_RUNNING);
  EXPECT_EQ(st->reason, VIR_DOMAIN_RUNNING_BOOTED);

  absl::Status again = hv_->StartDomain("vmmap-life");
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_THAT(Msg(again), HasSubstr("start domain \"vmmap-life\""));

  // The test driver's guest "obeys" ACPI at once, so no polling is needed.
  ASSERT_TRUE(hv_->ShutdownDomain("vmmap-life").ok());
  st = hv_->DomainState("vmmap-life");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, PowerState::kShutoff);
  EXPECT_EQ(st->reason, VIR_DOMAIN_SHUTOFF_SHUTDOWN);

  EXPECT_EQ(hv_->ShutdownDomain("vmmap-life").code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(hv_->StartDomain("vmmap-life").ok());
  ASSERT_TRUE(hv_->DestroyDomain("vmmap-life").ok());
  st = hv_->DomainState("vmmap-life");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, PowerState::kShutoff);
  EXPECT_EQ(st->reason, VIR_DOMAIN_SHUTOFF_DESTROYED);
  EXPECT_EQ(hv_->DestroyDomain("vmmap-life").code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(hv_->UndefineDomain("vmmap-life").ok());
  EXPECT_EQ(hv_->DomainState("vmmap-life").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LibvirtHypervisorTest, UndefiningRunningDomainLeavesItTransient) {
  Define("vmmap-transient");
  ASSERT_TRUE(hv_->StartDomain("vmmap-transient").ok());
  ASSERT_TRUE(hv_->UndefineDomain("vmmap-transient").ok());
  EXPECT_EQ(StateOf("vmmap-transient"), PowerState::kRunning);
  ASSERT_TRUE(hv_->DestroyDomain("vmmap-transient").ok());
  EXPECT_EQ(hv_->DomainState("vmmap-transient").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LibvirtHypervisorTest, MetadataIdentifiesOurDomainsOnly) {
  Define("vmmap-ours", "uid-ours");
  Define("vmmap-foreign");  // no vmmap metadata

  absl::StatusOr<std::vector<DomainInfo>> all = hv_->ListDomainsWithMetadata(kPodMetadataNamespace);
  ASSERT_TRUE(all.ok()) << all.status();
  std::map<std::string, DomainInfo> by_name;
  for (const DomainInfo& d : *all) by_name[d.name] = d;

  ASSERT_EQ(by_name.count("vmmap-ours"), 1u);
  // libvirt hands the element back without prefix or xmlns.
  EXPECT_EQ(by_name["vmmap-ours"].metadata, "<pod uid=\"uid-ours\"/>");
  ASSERT_EQ(by_name.count("vmmap-foreign"), 1u);
  EXPECT_THAT(by_name["vmmap-foreign"].metadata, IsEmpty());
  // The test driver's built-in domain.
  ASSERT_EQ(by_name.count("test"), 1u);
  EXPECT_THAT(by_name["test"].metadata, IsEmpty());
  EXPECT_EQ(by_name["test"].status.state, PowerState::kRunning);

  absl::StatusOr<std::string> md = hv_->DomainMetadata("vmmap-ours", kPodMetadataNamespace);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(*md, "<pod uid=\"uid-ours\"/>");
  md = hv_->DomainMetadata("test", kPodMetadataNamespace);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(*md, IsEmpty());
  // Another namespace is a different element entirely.
  md = hv_->DomainMetadata("vmmap-ours", "https://example.com/other");
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(*md, IsEmpty());
}

TEST_F(LibvirtHypervisorTest, SchedulerParametersOnTestDriver) {
  Define("vmmap-sched");
  ASSERT_TRUE(hv_->StartDomain("vmmap-sched").ok());

  // libvirt 9.0's client library adds VIR_TYPED_PARAM_STRING_OKAY to every
  // virDomainGetSchedulerParametersFlags call, and the test driver rejects
  // that flag, so reading is impossible there; it must say so clearly.
  absl::StatusOr<CpuTuneUpdate> got = hv_->GetSchedulerParameters("vmmap-sched");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnimplemented) << got.status();
  EXPECT_THAT(Msg(got.status()), HasSubstr("get scheduler parameters of domain \"vmmap-sched\""));

  // Writing fails too: the test driver's setter accepts no affect flags at
  // all (not even VIR_DOMAIN_AFFECT_CONFIG), and beyond that knows only
  // "weight". Reported as Unimplemented, naming the operation and domain.
  CpuTuneUpdate update = Shares(512);
  update.period = 100000;
  update.quota = 50000;
  for (bool live : {true, false}) {
    absl::Status s = hv_->SetSchedulerParameters("vmmap-sched", update, live);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
    EXPECT_THAT(Msg(s), HasSubstr("set scheduler parameters of domain "
                                  "\"vmmap-sched\": unsupported flags"));
  }

  // An empty update is a no-op that does not even reach libvirt.
  const uint64_t before = hv_->calls();
  EXPECT_TRUE(hv_->SetSchedulerParameters("vmmap-sched", {}, true).ok());
  EXPECT_EQ(hv_->calls(), before);
}

TEST_F(LibvirtHypervisorTest, MemoryHardLimitPersistsAndAppliesLive) {
  Define("vmmap-mem");
  // Shut off: only the persistent config changes.
  absl::Status s = hv_->SetMemoryHardLimit("vmmap-mem", 131072);
  ASSERT_TRUE(s.ok()) << s;
  absl::StatusOr<std::string> xml = hv_->DomainXml("vmmap-mem");
  ASSERT_TRUE(xml.ok()) << xml.status();
  EXPECT_THAT(*xml, HasSubstr("<hard_limit unit='KiB'>131072</hard_limit>"));

  // Running: live and persistent. (The test driver refuses LIVE|CONFIG in
  // one call; the implementation falls back to two.)
  ASSERT_TRUE(hv_->StartDomain("vmmap-mem").ok());
  s = hv_->SetMemoryHardLimit("vmmap-mem", 262144);
  ASSERT_TRUE(s.ok()) << s;
  xml = hv_->DomainXml("vmmap-mem");  // live XML
  ASSERT_TRUE(xml.ok()) << xml.status();
  EXPECT_THAT(*xml, HasSubstr("<hard_limit unit='KiB'>262144</hard_limit>"));
  ASSERT_TRUE(hv_->DestroyDomain("vmmap-mem").ok());
  xml = hv_->DomainXml("vmmap-mem");  // persistent XML again
  ASSERT_TRUE(xml.ok()) << xml.status();
  EXPECT_THAT(*xml, HasSubstr("<hard_limit unit='KiB'>262144</hard_limit>"));
}

TEST_F(LibvirtHypervisorTest, BulkStatsForAllDomainsIsOneCall) {
  for (const char* name : {"vmmap-s1", "vmmap-s2", "vmmap-s3"}) {
    Define(name, name);
    ASSERT_TRUE(hv_->StartDomain(name).ok());
  }
  Define("vmmap-s-off");  // defined but not running

  const uint64_t before = hv_->calls();
  absl::StatusOr<std::vector<DomainStats>> stats =
      hv_->GetAllDomainStats(std::nullopt, kStatsState | kStatsCpuTotal);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(hv_->calls() - before, 1u);

  std::map<std::string, DomainStats> by_name;
  for (const DomainStats& d : *stats) by_name[d.name] = d;
  for (const char* name : {"test", "vmmap-s1", "vmmap-s2", "vmmap-s3"}) {
    ASSERT_EQ(by_name.count(name), 1u) << name;
    const auto& params = by_name[name].params;
    auto it = params.find("state.state");
    ASSERT_NE(it, params.end()) << name;
    EXPECT_EQ(std::get<int64_t>(it->second), VIR_DOMAIN_RUNNING) << name;
  }
  ASSERT_EQ(by_name.count("vmmap-s-off"), 1u);
  EXPECT_EQ(std::get<int64_t>(by_name["vmmap-s-off"].params.at("state.state")), VIR_DOMAIN_SHUTOFF);
}

TEST_F(LibvirtHypervisorTest, BulkStatsForNamedDomainsIsConstantCalls) {
  for (const char* name : {"vmmap-n1", "vmmap-n2", "vmmap-n3"}) {
    Define(name);
    ASSERT_TRUE(hv_->StartDomain(name).ok());
  }
  const uint64_t before = hv_->calls();
  absl::StatusOr<std::vector<DomainStats>> stats = hv_->GetAllDomainStats(
      std::vector<std::string>{"vmmap-n1", "vmmap-n3", "vmmap-missing"}, kStatsState);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(hv_->calls() - before, 2u);  // list + one bulk stats call
  std::vector<std::string> names;
  for (const DomainStats& d : *stats) names.push_back(d.name);
  EXPECT_THAT(names, UnorderedElementsAre("vmmap-n1", "vmmap-n3"));

  const uint64_t mid = hv_->calls();
  stats = hv_->GetAllDomainStats(std::vector<std::string>{}, kStatsState);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_THAT(*stats, IsEmpty());
  EXPECT_EQ(hv_->calls(), mid);
}

TEST_F(LibvirtHypervisorTest, CallsCountsEachLibvirtCall) {
  Define("vmmap-count");
  const uint64_t before = hv_->calls();
  ASSERT_TRUE(hv_->DomainState("vmmap-count").ok());
  EXPECT_EQ(hv_->calls() - before, 2u);  // lookup + virDomainGetState
}

TEST_F(LibvirtHypervisorTest, PingSucceedsOnLiveConnection) {
  EXPECT_TRUE(hv_->Ping().ok());
  EXPECT_EQ(hv_->reconnects(), 0u);
}

TEST(LibvirtHypervisorOpenTest, UnreachableUriIsUnavailable) {
  absl::StatusOr<std::unique_ptr<LibvirtHypervisor>> h =
      LibvirtHypervisor::Open("test+unix:///default?socket=/nonexistent/sock");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kUnavailable) << h.status();
  EXPECT_THAT(Msg(h.status()), HasSubstr("/nonexistent/sock"));
}

TEST_F(LibvirtHypervisorTest, ConcurrentCallsShareOneConnection) {
  Define("vmmap-conc");
  ASSERT_TRUE(hv_->StartDomain("vmmap-conc").ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!hv_->DomainState("vmmap-conc").ok()) ++failures;
        if (!hv_->ListDomainsWithMetadata(kPodMetadataNamespace).ok()) {
          ++failures;
        }
        if (!hv_->GetAllDomainStats(std::nullopt, kStatsState).ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace vmmap::virt
