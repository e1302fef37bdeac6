// Stats records → CRI messages: attributes and metadata never nil, unknown
// figures unset (not zero), pod network and containers carried over.
#include "server/cri/stats_convert.h"

#include <gtest/gtest.h>

namespace vmmap {
namespace {

TEST(StatsConvertTest, ContainerStatsKeepUnknownFiguresUnset) {
  ContainerStatsRecord r;
  r.id = "c1";
  r.metadata.name = "vm";
  r.metadata.attempt = 3;
  r.labels["app"] = "web";
  r.cpu.timestamp_ns = 42;
  r.cpu.usage_core_ns = 7;
  r.memory.timestamp_ns = 42;
  r.memory.working_set_bytes = 100;
  r.memory.available_bytes = 0;  // known to be zero: set
  r.writable_layer = {43, "/var/lib/vmmap", 4096, 2};
  const runtime::v1::ContainerStats s = ToCri(r);
  EXPECT_EQ(s.attributes().id(), "c1");
  EXPECT_EQ(s.attributes().metadata().name(), "vm");
  EXPECT_EQ(s.attributes().metadata().attempt(), 3u);
  EXPECT_EQ(s.attributes().labels().at("app"), "web");
  EXPECT_EQ(s.cpu().timestamp(), 42);
  EXPECT_EQ(s.cpu().usage_core_nano_seconds().value(), 7u);
  EXPECT_FALSE(s.cpu().has_usage_nano_cores());
  EXPECT_EQ(s.memory().working_set_bytes().value(), 100u);
  EXPECT_TRUE(s.memory().has_available_bytes());
  EXPECT_FALSE(s.memory().has_rss_bytes());
  EXPECT_EQ(s.writable_layer().fs_id().mountpoint(), "/var/lib/vmmap");
  EXPECT_EQ(s.writable_layer().used_bytes().value(), 4096u);

  ContainerStatsRecord empty;  // a stopped domain of a bare record
  const runtime::v1::ContainerStats e = ToCri(empty);
  EXPECT_TRUE(e.has_attributes());
  EXPECT_TRUE(e.attributes().has_metadata());
  EXPECT_TRUE(e.has_cpu());
  EXPECT_TRUE(e.has_memory());
  EXPECT_FALSE(e.cpu().has_usage_core_nano_seconds());
}

TEST(StatsConvertTest, PodStatsCarryNetworkAndContainers) {
  PodStatsRecord p;
  p.id = "p1";
  p.metadata = {"pod", "uid", "ns", 1};
  p.cpu.usage_core_ns = 9;
  p.network.timestamp_ns = 5;
  p.network.interfaces = {{"eth0", 1, 2, 3, 4}, {"eth1", 0, 0, 0, 0}};
  p.containers.emplace_back();
  p.containers.back().id = "c1";
  const runtime::v1::PodSandboxStats s = ToCri(p);
  EXPECT_EQ(s.attributes().metadata().namespace_(), "ns");
  EXPECT_EQ(s.attributes().metadata().uid(), "uid");
  EXPECT_EQ(s.linux().cpu().usage_core_nano_seconds().value(), 9u);
  ASSERT_EQ(s.linux().network().interfaces_size(), 2);
  EXPECT_EQ(s.linux().network().default_interface().name(), "eth0");
  EXPECT_EQ(s.linux().network().default_interface().tx_errors().value(), 4u);
  ASSERT_EQ(s.linux().containers_size(), 1);
  EXPECT_EQ(s.linux().containers(0).attributes().id(), "c1");
}

TEST(StatsConvertTest, Filters) {
  runtime::v1::ContainerStatsFilter f;
  f.set_id("c");
  f.set_pod_sandbox_id("s");
  (*f.mutable_label_selector())["a"] = "b";
  const ContainerFilter c = FromCri(f);
  EXPECT_EQ(c.id, "c");
  EXPECT_EQ(c.sandbox_id, "s");
  EXPECT_EQ(c.label_selector.at("a"), "b");
  EXPECT_FALSE(c.state);
  runtime::v1::PodSandboxStatsFilter pf;
  pf.set_id("s");
  EXPECT_EQ(FromCri(pf).id, "s");
}

}  // namespace
}  // namespace vmmap
