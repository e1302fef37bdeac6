// ReadLinkAttributes (rtnetlink, in-process) against what `ip -j -s link
// show` prints for the same links: a veth pair split between this test's
// namespace and a named one, with traffic counted on both ends.
#include "server/network/link_attributes.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/network/netns.h"

namespace vmmap::network {
namespace {

std::string Output(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

void Shell(const std::string& command) { ASSERT_EQ(std::system(command.c_str()), 0) << command; }

// `ip -j -s link show dev IFNAME` in the namespace (empty: ours), parsed.
nlohmann::json IpLink(const std::string& netns_name, const std::string& ifname) {
  const std::string ip = netns_name.empty() ? "ip" : "ip -n " + netns_name;
  nlohmann::json doc = nlohmann::json::parse(Output(ip + " -j -s link show dev " + ifname));
  return doc.at(0);
}

// `ip`'s reading, taken between two of ours: the same MAC and MTU, and
// every counter between our two readings (traffic may go on meanwhile).
void ExpectSameAsIp(const std::string& netns_path, const std::string& netns_name,
                    const std::string& ifname) {
  absl::StatusOr<LinkAttributes> before = ReadLinkAttributes(netns_path, ifname);
  const nlohmann::json ip = IpLink(netns_name, ifname);
  absl::StatusOr<LinkAttributes> after = ReadLinkAttributes(netns_path, ifname);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(before->mac, ip.at("address").get<std::string>());
  EXPECT_EQ(before->mtu, ip.at("mtu").get<int>());
  const nlohmann::json& rx = ip.at("stats64").at("rx");
  const nlohmann::json& tx = ip.at("stats64").at("tx");
  auto between = [](uint64_t low, const nlohmann::json& value, uint64_t high, const char* what) {
    EXPECT_LE(low, value.get<uint64_t>()) << what;
    EXPECT_GE(high, value.get<uint64_t>()) << what;
  };
  between(before->rx_packets, rx.at("packets"), after->rx_packets, "rx packets");
  between(before->rx_bytes, rx.at("bytes"), after->rx_bytes, "rx bytes");
  between(before->rx_errors, rx.at("errors"), after->rx_errors, "rx errors");
  between(before->rx_dropped, rx.at("dropped"), after->rx_dropped, "rx dropped");
  between(before->tx_packets, tx.at("packets"), after->tx_packets, "tx packets");
  between(before->tx_bytes, tx.at("bytes"), after->tx_bytes, "tx bytes");
  between(before->tx_errors, tx.at("errors"), after->tx_errors, "tx errors");
  between(before->tx_dropped, tx.at("dropped"), after->tx_dropped, "tx dropped");
  EXPECT_GT(before->rx_packets, 0u) << "the test's traffic is counted";
  EXPECT_GT(before->tx_packets, 0u) << "the test's traffic is counted";
}

TEST(LinkAttributesTest, SameFiguresAsIpInsideAndOutsideANamespace) {
  // private_namespaces_main: this process has a network namespace of its own.
  absl::StatusOr<std::string> ns = CreateNetns("/run/netns", "vmmap-link-attr-test");
  ASSERT_TRUE(ns.ok()) << ns.status();
  Shell("ip link add la-host type veth peer name la-pod && ip link set la-pod mtu 1400");
  Shell("ip link set la-pod netns " + *ns);
  Shell("ip addr add 10.77.0.1/24 dev la-host && ip link set la-host up");
  Shell(
      "ip -n vmmap-link-attr-test addr add 10.77.0.2/24 dev la-pod && "
      "ip -n vmmap-link-attr-test link set la-pod up");
  // Traffic both ways (ARP, the datagram, the peer's ICMP unreachable), so
  // that the counters compared have moved. A veth that was just set up drops
  // what it is given until the kernel's deferred link-watch work activates
  // its queue, which a loaded machine runs late: send until both ends have
  // received something, with a deadline no machine should reach.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto rx_packets = [](const std::string& netns_name, const std::string& ifname) {
    return IpLink(netns_name, ifname).at("stats64").at("rx").at("packets").get<uint64_t>();
  };
  while (rx_packets("vmmap-link-attr-test", "la-pod") == 0 || rx_packets("", "la-host") == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no traffic crossed the veth pair";
    Shell("bash -c 'echo x >/dev/udp/10.77.0.2/9'");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  ExpectSameAsIp(*ns, "vmmap-link-attr-test", "la-pod");
  ExpectSameAsIp("", "", "la-host");
  absl::StatusOr<LinkAttributes> pod = ReadLinkAttributes(*ns, "la-pod");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->mtu, 1400);

  // The namespace is the thread's only: this thread still sees its own links.
  EXPECT_EQ(ReadLinkAttributes("", "la-pod").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadLinkAttributes(*ns, "la-host").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(RemoveNetns(*ns).ok());
  Shell("ip link del la-host 2>/dev/null || true");
}

TEST(LinkAttributesTest, BadNamesAndMissingNamespacesNameTheValue) {
  absl::Status empty = ReadLinkAttributes("", "").status();
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  absl::Status too_long = ReadLinkAttributes("", "sixteen-bytes-xx").status();
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.message().find("sixteen-bytes-xx"), std::string::npos) << too_long;
  absl::Status no_ns = ReadLinkAttributes("/run/netns/vmmap-no-such-ns", "lo").status();
  EXPECT_EQ(no_ns.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(no_ns.message().find("/run/netns/vmmap-no-such-ns"), std::string::npos) << no_ns;
}

}  // namespace
}  // namespace vmmap::network
