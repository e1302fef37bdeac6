// PodNetwork, the interface the sandbox lifecycle calls, with a real CNI
// config directory and Debian's plugins, inside private namespaces.
#include <arpa/inet.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/network/netns.h"
#include "server/network/pod_network.h"
#include "server/network/subprocess.h"
#include "server/network/tap_link.h"

namespace vmmap::network {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class PodNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* p : {"bridge", "host-local", "loopback", "portmap"}) {
      if (!FindCniPlugin(p, CniBinDirs("")).ok()) {
        GTEST_SKIP() << "containernetworking-plugins not installed (" << p << ")";
      }
    }
    char tmpl[] = "/tmp/vmmap-podnet-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    std::filesystem::create_directories(root_ + "/net.d");
    options_.conf_dir = root_ + "/net.d";
    options_.netns_dir = root_ + "/netns";
    network_ = NewCniPodNetwork(options_);
  }
  void TearDown() override {
    if (root_.empty()) return;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(options_.netns_dir, ec)) {
      (void)RemoveNetns(e.path().string());
    }
    umount2(options_.netns_dir.c_str(), MNT_DETACH);
    std::filesystem::remove_all(root_, ec);
  }

  void WriteConfig(const std::string& extra_plugin = "") {
    std::ofstream(options_.conf_dir + "/10-pods.conflist") << absl::StrCat(
        R"({"cniVersion":"1.0.0","name":"pods","plugins":[)",
        R"({"type":"bridge","bridge":"vmmappod0","isGateway":true,)",
        R"("ipam":{"type":"host-local","dataDir":")", root_,
        R"(/leases","ranges":[[{"subnet":"10.215.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}},)",
        R"({"type":"portmap","capabilities":{"portMappings":true}},{"type":"loopback"})",
        extra_plugin, "]}");
  }

  PodNetworkRequest Request(const std::string& id) {
    return {id, "default", "web-0", "c0ffee00-0000-4000-8000-000000000001", false, {}, {}};
  }

  int Leases() {
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(root_ + "/leases/pods", ec)) {
      in_addr a;
      if (inet_pton(AF_INET, e.path().filename().c_str(), &a) == 1) ++n;
    }
    return n;
  }
  bool NetnsDirEmpty() {
    std::error_code ec;
    return std::filesystem::is_empty(options_.netns_dir, ec) || ec;
  }

  std::string root_;
  CniOptions options_;
  std::unique_ptr<PodNetwork> network_;
};

constexpr char kId[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST_F(PodNetworkTest, ReadinessFollowsTheConfigDirectory) {
  NetworkReadiness before = network_->Readiness();
  EXPECT_FALSE(before.ready);
  EXPECT_EQ(before.reason, "NetworkPluginNotReady");
  EXPECT_THAT(before.message, HasSubstr(options_.conf_dir));
  absl::StatusOr<PodNetworkState> none = network_->SetUp(Request(kId));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(none.status().message(), HasSubstr(options_.conf_dir));
  EXPECT_TRUE(NetnsDirEmpty());
  WriteConfig();
  EXPECT_TRUE(network_->Readiness().ready);
}

TEST_F(PodNetworkTest, LifecycleGivesAnAddressAndStopRemoveTwiceLeaveNothing) {
  WriteConfig();
  PodNetworkRequest request = Request(kId);
  request.port_mappings = {{18081, 80, "tcp", ""}};
  absl::StatusOr<PodNetworkState> state = network_->SetUp(request);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->netns_path, options_.netns_dir + "/vmmap-0123456789abcdef0123456789abcdef");
  EXPECT_TRUE(IsNetnsMounted(state->netns_path));
  ASSERT_EQ(state->ips.size(), 1u);
  EXPECT_THAT(state->ips[0], StartsWith("10.215.0."));
  EXPECT_EQ(Leases(), 1);

  absl::StatusOr<GuestNic> nic = network_->GuestNicFor(request, *state, "web-0");
  ASSERT_TRUE(nic.ok()) << nic.status();
  EXPECT_EQ(nic->tap, "vmt0123456789ab");
  EXPECT_EQ(nic->mac, ReadLink(state->netns_path, "eth0")->mac);
  EXPECT_GT(nic->mtu, 0);
  EXPECT_EQ(nic->kernel_ip_arg,
            absl::StrCat("ip=", state->ips[0], "::10.215.0.1:255.255.255.0:web-0:eth0:off"));
  ASSERT_TRUE(network_->PrepareTap(*nic).ok());
  EXPECT_TRUE(LinkExists("", nic->tap));

  ASSERT_TRUE(network_->TearDown(request, *state).ok());
  EXPECT_EQ(Leases(), 0);
  EXPECT_TRUE(network_->TearDown(request, *state).ok());
  ASSERT_TRUE(network_->Remove(request).ok());
  EXPECT_FALSE(LinkExists("", nic->tap));  // the tap of a VM that never started
  EXPECT_TRUE(network_->Remove(request).ok());
  EXPECT_TRUE(NetnsDirEmpty());
}

TEST_F(PodNetworkTest, PodDnsServersAreTheGuestsResolvers) {
  WriteConfig();
  PodNetworkRequest request = Request(kId);
  request.dns.servers = {"10.96.0.10", "fd00::10", "10.96.0.11", "10.96.0.12"};
  request.dns.searches = {"default.svc.cluster.local"};
  absl::StatusOr<PodNetworkState> state = network_->SetUp(request);
  ASSERT_TRUE(state.ok()) << state.status();
  absl::StatusOr<GuestNic> nic = network_->GuestNicFor(request, *state, "web-0");
  ASSERT_TRUE(nic.ok()) << nic.status();
  // At most two, IPv4 only: what the kernel's ip= parameter can carry.
  EXPECT_EQ(nic->kernel_ip_arg,
            absl::StrCat("ip=", state->ips[0],
                         "::10.215.0.1:255.255.255.0:web-0:eth0:off:10.96.0.10:10.96.0.11"));
  // All of the pod's DNS, the first 3 servers (what glibc reads): vmmap.dns=.
  EXPECT_EQ(nic->kernel_dns_arg,
            "vmmap.dns=10.96.0.10,fd00::10,10.96.0.11/default.svc.cluster.local/");
  // The NoCloud seed of a disk image gets the same, with the pod's address.
  EXPECT_EQ(nic->addressing.hostname, "web-0");
  EXPECT_EQ(nic->addressing.mac, nic->mac);
  ASSERT_EQ(nic->addressing.ips.size(), 1u);
  EXPECT_EQ(nic->addressing.ips[0].ip, state->ips[0]);
  EXPECT_EQ(nic->addressing.dns.nameservers.size(), 3u);
  ASSERT_TRUE(network_->TearDown(request, *state).ok());
  ASSERT_TRUE(network_->Remove(request).ok());
}

TEST_F(PodNetworkTest, RecoveryTearsDownWithTheSandboxIdAlone) {
  WriteConfig();
  ASSERT_TRUE(network_->SetUp(Request(kId)).ok());
  EXPECT_EQ(Leases(), 1);
  // A crash lost the result: the intent record only knows the sandbox id.
  ASSERT_TRUE(network_->TearDown(Request(kId), PodNetworkState{}).ok());
  ASSERT_TRUE(network_->Remove(Request(kId)).ok());
  EXPECT_EQ(Leases(), 0);
  EXPECT_TRUE(NetnsDirEmpty());
}

TEST_F(PodNetworkTest, FailedSetUpLeavesNoNamespaceVethOrLease) {
  WriteConfig(R"(,{"type":"missing-plugin"})");
  absl::StatusOr<PodNetworkState> state = network_->SetUp(Request(kId));
  ASSERT_FALSE(state.ok());
  EXPECT_THAT(state.status().message(), HasSubstr("\"missing-plugin\""));
  EXPECT_EQ(Leases(), 0);
  EXPECT_TRUE(NetnsDirEmpty());
  ProcessSpec ip;
  ip.argv = {"/bin/sh", "-c", "ip -o link show | grep -c veth || true"};
  ip.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  EXPECT_EQ(RunProcess(ip)->stdout_bytes, "0\n");
}

TEST_F(PodNetworkTest, HostNetworkPodsGetNoNamespaceAndNoCni) {
  PodNetworkRequest request = Request(kId);
  request.host_network = true;  // no config needed at all
  absl::StatusOr<PodNetworkState> state = network_->SetUp(request);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_TRUE(state->netns_path.empty());
  EXPECT_TRUE(state->ips.empty());
  EXPECT_TRUE(network_->TearDown(request, *state).ok());
  EXPECT_TRUE(network_->Remove(request).ok());
  EXPECT_EQ(network_->GuestNicFor(request, *state, "h").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PodNetworkTest, BadSandboxIdIsInvalidArgument) {
  WriteConfig();
  absl::StatusOr<PodNetworkState> state = network_->SetUp(Request("../../etc"));
  EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(state.status().message(), HasSubstr("sandbox id \"../../etc\""));
  EXPECT_TRUE(NetnsDirEmpty());
}

}  // namespace
}  // namespace vmmap::network
