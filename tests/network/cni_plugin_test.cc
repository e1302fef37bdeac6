// The CNI chain and the VM tap against Debian's real plugins (bridge,
// host-local, loopback, portmap), inside the private namespaces that
// private_namespaces_main.cc enters: the "host" below is this test's own
// network namespace, the bridge routes nowhere.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/network/cni_chain.h"
#include "server/network/cni_config.h"
#include "server/network/netns.h"
#include "server/network/subprocess.h"
#include "server/network/tap_link.h"

namespace vmmap::network {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

bool HavePlugins() {
  for (const char* p : {"bridge", "host-local", "loopback", "portmap"}) {
    if (!FindCniPlugin(p, CniBinDirs("")).ok()) return false;
  }
  return true;
}

std::string Sh(const std::string& cmd) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", cmd};
  spec.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  absl::StatusOr<ProcessResult> r = RunProcess(spec);
  return r.ok() ? r->stdout_bytes : "";
}

// Links of this test's ("host") namespace whose name starts with `prefix`.
int CountLinks(const std::string& prefix) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(Sh("ip -o link show"), '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, absl::ByAnyChar(": @"), absl::SkipEmpty());
    if (f.size() > 1 && absl::StartsWith(f[1], prefix)) ++n;
  }
  return n;
}

class CniPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HavePlugins()) {
      GTEST_SKIP() << "containernetworking-plugins not installed (bridge, host-local, loopback, "
                      "portmap in /opt/cni/bin or /usr/lib/cni)";
    }
    char tmpl[] = "/tmp/vmmap-cni-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    netns_dir_ = root_ + "/netns";
    leases_ = root_ + "/leases";
  }
  void TearDown() override {
    std::error_code ec;
    if (root_.empty()) return;
    for (const auto& e : std::filesystem::directory_iterator(netns_dir_, ec)) {
      (void)RemoveNetns(e.path().string());
    }
    umount2(netns_dir_.c_str(), MNT_DETACH);
    std::filesystem::remove_all(root_, ec);
  }

  CniNetworkList Network(const std::string& extra_plugins = "",
                         const std::string& subnet = "10.213.0.0/24") {
    std::string text = absl::StrCat(
        R"({"cniVersion":"1.0.0","name":"vmmaptest","plugins":[)",
        R"({"type":"bridge","bridge":"vmmapbr0","isGateway":true,"ipMasq":false,)",
        R"("ipam":{"type":"host-local","dataDir":")", leases_, R"(","ranges":[[{"subnet":")",
        subnet, R"("}]],"routes":[{"dst":"0.0.0.0/0"}]}},)",
        R"({"type":"portmap","capabilities":{"portMappings":true}},)", R"({"type":"loopback"})",
        extra_plugins, "]}");
    absl::StatusOr<CniNetworkList> list = ParseCniConfig("test.conflist", text, true);
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? *list : CniNetworkList{};
  }

  CniAttachment Attachment(const std::string& id, const std::string& netns) {
    CniAttachment a;
    a.container_id = id;
    a.netns_path = netns;
    a.args = {{"K8S_POD_NAMESPACE", "default"},
              {"K8S_POD_NAME", "web"},
              {"K8S_POD_INFRA_CONTAINER_ID", id},
              {"K8S_POD_UID", "uid-1"}};
    return a;
  }

  // IP files host-local keeps per lease (not its lock/last_reserved files).
  int Leases() {
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(leases_ + "/vmmaptest", ec)) {
      in_addr a;
      if (inet_pton(AF_INET, e.path().filename().c_str(), &a) == 1) ++n;
    }
    return n;
  }

  int NetnsFiles() {
    int n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(netns_dir_, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++n;
    }
    return n;
  }

  std::string root_, netns_dir_, leases_;
};

TEST_F(CniPluginTest, AddGivesThePodAnAddressAndDelTwiceCleansUp) {
  absl::StatusOr<std::string> ns = CreateNetns(netns_dir_, "pod-a");
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_TRUE(IsNetnsMounted(*ns));
  EXPECT_EQ(CreateNetns(netns_dir_, "pod-a").status().code(), absl::StatusCode::kAlreadyExists);

  CniChain chain(Network(), CniBinDirs(""));
  CniAttachment a = Attachment("0123456789abcdef", *ns);
  a.port_mappings = {{18080, 80, "tcp", ""}};
  absl::StatusOr<CniResult> r = chain.Add(a);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<CniIp> ips = PodIps(*r, "eth0");
  ASSERT_EQ(ips.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(ips[0].ip, "10.213.0.")) << ips[0].ip;
  EXPECT_EQ(ips[0].gateway, "10.213.0.1");
  EXPECT_EQ(Leases(), 1);
  EXPECT_EQ(CountLinks("veth"), 1);
  absl::StatusOr<LinkInfo> eth0 = ReadLink(*ns, "eth0");
  ASSERT_TRUE(eth0.ok()) << eth0.status();
  EXPECT_GT(eth0->mtu, 0);
  // The host reaches the pod's address (answered by the namespace's kernel).
  EXPECT_THAT(Sh(absl::StrCat("busybox ping -c1 -W5 ", ips[0].ip, " >/dev/null && echo OK")),
              HasSubstr("OK"));
  // portmap's DNAT rule names the pod's address and port.
  EXPECT_THAT(Sh("iptables-save -t nat"), HasSubstr(absl::StrCat(ips[0].ip, ":80")));

  ASSERT_TRUE(chain.Del(a, r->json).ok());
  EXPECT_EQ(Leases(), 0);
  EXPECT_EQ(CountLinks("veth"), 0);
  EXPECT_THAT(Sh("iptables-save -t nat"), Not(HasSubstr(absl::StrCat(ips[0].ip, ":80"))));
  EXPECT_TRUE(chain.Del(a, r->json).ok());  // a second stop
  EXPECT_TRUE(chain.Del(a, "").ok());       // a stop after a crash lost the result
  ASSERT_TRUE(RemoveNetns(*ns).ok());
  EXPECT_FALSE(IsNetnsMounted(*ns));
  EXPECT_TRUE(RemoveNetns(*ns).ok());
  EXPECT_TRUE(chain.Del(a, "").ok());  // even with the namespace gone
  EXPECT_EQ(NetnsFiles(), 0);
}

TEST_F(CniPluginTest, MissingPluginFailsAddWithItsNameAndLeavesNothing) {
  absl::StatusOr<std::string> ns = CreateNetns(netns_dir_, "pod-b");
  ASSERT_TRUE(ns.ok()) << ns.status();
  CniChain chain(Network(R"(,{"type":"no-such-plugin"})"), CniBinDirs(""));
  absl::StatusOr<CniResult> r = chain.Add(Attachment("1123456789abcdef", *ns));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("failed to find CNI plugin \"no-such-plugin\""));
  EXPECT_EQ(Leases(), 0);
  EXPECT_EQ(CountLinks("veth"), 0);
  ASSERT_TRUE(RemoveNetns(*ns).ok());
  EXPECT_EQ(NetnsFiles(), 0);
}

TEST_F(CniPluginTest, PluginErrorIsCarriedVerbatimAndLeavesNothing) {
  absl::StatusOr<std::string> ns = CreateNetns(netns_dir_, "pod-c");
  ASSERT_TRUE(ns.ok()) << ns.status();
  CniChain chain(Network("", "10.213.0.0/99"), CniBinDirs(""));
  absl::StatusOr<CniResult> r = chain.Add(Attachment("2123456789abcdef", *ns));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("CNI plugin bridge ADD failed"));
  EXPECT_THAT(r.status().message(), HasSubstr("10.213.0.0/99"));  // host-local's own words
  EXPECT_EQ(Leases(), 0);
  EXPECT_EQ(CountLinks("veth"), 0);
  ASSERT_TRUE(RemoveNetns(*ns).ok());
}

TEST_F(CniPluginTest, FiftyCreateRemoveCyclesLeaveNothingBehind) {
  CniChain chain(Network(), CniBinDirs(""));
  for (int i = 0; i < 50; ++i) {
    std::string id = absl::StrCat("3123456789ab", 1000 + i);
    absl::StatusOr<std::string> ns = CreateNetns(netns_dir_, absl::StrCat("cycle-", i));
    ASSERT_TRUE(ns.ok()) << ns.status();
    CniAttachment a = Attachment(id, *ns);
    a.port_mappings = {{20000 + i, 80, "tcp", ""}};
    absl::StatusOr<CniResult> r = chain.Add(a);
    ASSERT_TRUE(r.ok()) << "cycle " << i << ": " << r.status();
    ASSERT_TRUE(chain.Del(a, r->json).ok()) << "cycle " << i;
    ASSERT_TRUE(RemoveNetns(*ns).ok()) << "cycle " << i;
  }
  EXPECT_EQ(NetnsFiles(), 0);
  EXPECT_EQ(Leases(), 0);
  EXPECT_EQ(CountLinks("veth"), 0);
  EXPECT_EQ(Sh("iptables-save -t nat | grep -c 'dport 2[0-9][0-9][0-9][0-9]'"), "0\n");
}

// Opens a tap the way libvirt does for QEMU: TUNSETIFF by name, IFF_NO_PI.
int OpenTap(const std::string& name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::array<uint8_t, 6> ParseMac(const std::string& s) {
  std::array<uint8_t, 6> mac{};
  std::sscanf(s.c_str(), "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
              &mac[4], &mac[5]);
  return mac;
}

// An ARP request "who has `target`" from the pod's MAC and address.
std::string ArpRequest(const std::array<uint8_t, 6>& mac, const std::string& sender_ip,
                       const std::string& target_ip) {
  std::string f(42, '\0');
  auto put = [&f](size_t at, const void* p, size_t n) { std::memcpy(&f[at], p, n); };
  std::memset(&f[0], 0xff, 6);
  put(6, mac.data(), 6);
  const uint8_t hdr[] = {0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1};
  put(12, hdr, sizeof hdr);
  put(22, mac.data(), 6);
  in_addr a;
  inet_pton(AF_INET, sender_ip.c_str(), &a);
  put(28, &a, 4);
  inet_pton(AF_INET, target_ip.c_str(), &a);
  put(38, &a, 4);
  return f;
}

bool IsArpReplyFrom(const char* frame, ssize_t n, const std::string& ip) {
  if (n < 42 || static_cast<uint8_t>(frame[12]) != 0x08 || frame[13] != 0x06 || frame[21] != 2) {
    return false;
  }
  in_addr a;
  inet_pton(AF_INET, ip.c_str(), &a);
  return std::memcmp(frame + 28, &a, 4) == 0;
}

// The tap path without a VM: this test holds the tap descriptor the way
// QEMU would. An ARP request written into the tap must leave through the
// pod's CNI interface, and the bridge's reply must come back into the tap.
TEST_F(CniPluginTest, TapOpenedInHostNamespaceCarriesThePodTrafficAfterTheMove) {
  absl::StatusOr<std::string> ns = CreateNetns(netns_dir_, "pod-tap");
  ASSERT_TRUE(ns.ok()) << ns.status();
  CniChain chain(Network(), CniBinDirs(""));
  CniAttachment a = Attachment("4123456789abcdef", *ns);
  absl::StatusOr<CniResult> r = chain.Add(a);
  ASSERT_TRUE(r.ok()) << r.status();
  CniIp ip = PodIps(*r, "eth0").at(0);

  std::string tap = *TapNameFor(a.container_id);
  ASSERT_TRUE(CreateTap(tap).ok());
  ASSERT_TRUE(CreateTap(tap).ok());  // idempotent
  int fd = OpenTap(tap);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  absl::Status moved = MoveTapIntoPod(tap, *ns, "eth0");
  ASSERT_TRUE(moved.ok()) << moved;
  EXPECT_FALSE(LinkExists("", tap));
  EXPECT_TRUE(LinkExists(*ns, tap));
  ASSERT_TRUE(MoveTapIntoPod(tap, *ns, "eth0").ok());  // a retry changes nothing
  // StartContainer's way, with the MTU it knows: the tap is already in the
  // pod, so it is set up where it is and its redirects are made anew.
  ASSERT_TRUE(MoveTapIntoPod(tap, *ns, "eth0", ReadLink(*ns, "eth0")->mtu).ok());
  EXPECT_EQ(ReadLink(*ns, tap)->mtu, ReadLink(*ns, "eth0")->mtu);

  std::string request = ArpRequest(ParseMac(ReadLink(*ns, "eth0")->mac), ip.ip, ip.gateway);
  bool answered = false;
  const absl::Time deadline = absl::Now() + absl::Minutes(2);
  while (!answered && absl::Now() < deadline) {
    ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    pollfd p{fd, POLLIN, 0};
    while (!answered && poll(&p, 1, 1000) > 0) {
      char frame[2048];
      answered = IsArpReplyFrom(frame, read(fd, frame, sizeof frame), ip.gateway);
    }
  }
  EXPECT_TRUE(answered) << "no ARP reply from the gateway " << ip.gateway << " through " << tap;
  close(fd);

  ASSERT_TRUE(chain.Del(a, r->json).ok());
  ASSERT_TRUE(RemoveNetns(*ns).ok());
  // The namespace took the tap with it (tun devices are deleted with their
  // namespace, never handed back to the host).
  EXPECT_FALSE(LinkExists("", tap));
  EXPECT_TRUE(DeleteTap(tap).ok());
}

TEST_F(CniPluginTest, TapThatNeverMovedIsDeletedFromTheHost) {
  ASSERT_TRUE(CreateTap("vmt5123456789ab").ok());
  EXPECT_TRUE(LinkExists("", "vmt5123456789ab"));
  ASSERT_TRUE(DeleteTap("vmt5123456789ab").ok());
  EXPECT_FALSE(LinkExists("", "vmt5123456789ab"));
  EXPECT_TRUE(DeleteTap("vmt5123456789ab").ok());
}

}  // namespace
}  // namespace vmmap::network
