// Pure parts of the pod network: CNI config files, results, the kernel ip=
// argument, names. No plugins run here (cni_plugin_test.cc runs them).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/network/cni_config.h"
#include "server/network/cni_result.h"
#include "server/network/kernel_ip_arg.h"
#include "server/network/netns.h"
#include "server/network/subprocess.h"
#include "server/network/tap_link.h"

namespace vmmap::network {
namespace {

using ::testing::HasSubstr;

class ConfDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmap-cni-conf-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string dir_;
};

constexpr char kList[] = R"({"cniVersion":"1.0.0","name":"LISTNAME","plugins":[
  {"type":"bridge","bridge":"b0","ipam":{"type":"host-local"}},
  {"type":"portmap","capabilities":{"portMappings":true,"other":false}}]})";

TEST_F(ConfDir, FirstValidFileInLexicalOrderWins) {
  Write("05-broken.conflist", "{not json");
  Write("10-b.conflist", std::string(kList));
  Write("20-a.conf", R"({"cniVersion":"0.4.0","name":"single","type":"bridge"})");
  Write("00-ignored.txt", R"({"cniVersion":"0.4.0","name":"txt","type":"bridge"})");
  absl::StatusOr<CniNetworkList> list = LoadCniConfig(dir_);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "LISTNAME");
  EXPECT_EQ(list->source_path, dir_ + "/10-b.conflist");
  ASSERT_EQ(list->plugins.size(), 2u);
  EXPECT_EQ(list->plugins[0].type, "bridge");
  EXPECT_TRUE(list->plugins[0].capabilities.empty());
  EXPECT_EQ(list->plugins[1].capabilities, std::set<std::string>{"portMappings"});
}

TEST_F(ConfDir, SinglePluginConfBecomesAOneElementList) {
  Write("99.conf", R"({"cniVersion":"0.3.1","name":"single","type":"bridge"})");
  absl::StatusOr<CniNetworkList> list = LoadCniConfig(dir_);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "single");
  EXPECT_EQ(list->cni_version, "0.3.1");
  ASSERT_EQ(list->plugins.size(), 1u);
  EXPECT_EQ(list->plugins[0].type, "bridge");
}

TEST_F(ConfDir, EmptyDirIsNotReadyAndNamesTheDirectory) {
  NetworkReadiness r = CheckCniReadiness(dir_);
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason, "NetworkPluginNotReady");
  EXPECT_THAT(r.message, HasSubstr(dir_));
  Write("10.conflist", kList);
  EXPECT_TRUE(CheckCniReadiness(dir_).ready);
}

TEST_F(ConfDir, MissingDirIsNotReady) {
  NetworkReadiness r = CheckCniReadiness(dir_ + "/nope");
  EXPECT_FALSE(r.ready);
  EXPECT_THAT(r.message, HasSubstr(dir_ + "/nope"));
}

TEST_F(ConfDir, InvalidFilesAreSkippedWithTheirReason) {
  Write("1.conflist", R"({"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../../bin/sh"}]})");
  Write("2.conflist", R"({"cniVersion":"9.9.9","name":"n","plugins":[{"type":"bridge"}]})");
  Write("3.conflist", R"({"cniVersion":"1.0.0","name":"n","plugins":[]})");
  Write("4.conf", R"({"cniVersion":"1.0.0","type":"bridge"})");
  absl::StatusOr<CniNetworkList> list = LoadCniConfig(dir_);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(list.status().message(), HasSubstr("plugins[0].type \"../../bin/sh\""));
  EXPECT_THAT(list.status().message(), HasSubstr("cniVersion \"9.9.9\""));
  EXPECT_THAT(list.status().message(), HasSubstr("plugins must be a non-empty array"));
  EXPECT_THAT(list.status().message(), HasSubstr("name must be a non-empty string"));
}

TEST(CniBinDirs, DefaultFallsBackToDebianDir) {
  EXPECT_EQ(CniBinDirs(""), (std::vector<std::string>{"/opt/cni/bin", "/usr/lib/cni"}));
  EXPECT_EQ(CniBinDirs("/opt/cni/bin"), (std::vector<std::string>{"/opt/cni/bin", "/usr/lib/cni"}));
  EXPECT_EQ(CniBinDirs("/a:/b"), (std::vector<std::string>{"/a", "/b"}));
  absl::StatusOr<std::string> missing = FindCniPlugin("no-such-plugin", {"/a", "/b"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("\"no-such-plugin\" in /a:/b"));
}

constexpr char kResult[] = R"({
  "cniVersion": "1.0.0",
  "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:dd:ee:01"},
                 {"name": "eth0", "mac": "aa:bb:cc:dd:ee:02", "sandbox": "/run/netns/x", "mtu": 1400}],
  "ips": [{"address": "fd00::5/64", "interface": 1},
          {"address": "10.1.2.5/24", "gateway": "10.1.2.1", "interface": 1},
          {"address": "10.9.9.9/24", "interface": 0}],
  "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.2.1"}],
  "dns": {"nameservers": ["10.1.0.10"], "search": ["svc.cluster.local"], "options": ["ndots:5"]}
})";

TEST(CniResult, ParsesEveryPartAndPicksThePodIpsIpv4First) {
  absl::StatusOr<CniResult> r = ParseCniResult(kResult);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->cni_version, "1.0.0");
  ASSERT_EQ(r->interfaces.size(), 2u);
  EXPECT_EQ(r->interfaces[1].mtu, 1400);
  ASSERT_EQ(r->routes.size(), 1u);
  EXPECT_EQ(r->routes[0].gw, "10.1.2.1");
  EXPECT_EQ(r->dns.nameservers, std::vector<std::string>{"10.1.0.10"});
  EXPECT_EQ(r->dns.options, std::vector<std::string>{"ndots:5"});
  std::vector<CniIp> ips = PodIps(*r, "eth0");
  ASSERT_EQ(ips.size(), 2u);  // the host-side cni0 address is not the pod's
  EXPECT_EQ(ips[0].ip, "10.1.2.5");
  EXPECT_EQ(ips[0].prefix_length, 24);
  EXPECT_EQ(ips[1].ip, "fd00::5");
  EXPECT_TRUE(ips[1].ipv6);
}

TEST(CniResult, BadBytesAreDataLossNamingTheField) {
  for (auto [bytes, field] : std::vector<std::pair<std::string, std::string>>{
           {"[]", "(document)"},
           {R"({"ips":[{"address":"10.0.0.1"}]})", "ips[0].address"},
           {R"({"ips":[{"address":"10.0.0.1/33"}]})", "ips[0].address"},
           {R"({"ips":[{"address":"nope/24"}]})", "ips[0].address"},
           {R"({"ips":[{"address":"10.0.0.1/8","interface":3}]})", "ips[0].interface"},
           {R"({"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.1/8"}})", "cniVersion"},
       }) {
    absl::StatusOr<CniResult> r = ParseCniResult(bytes);
    ASSERT_FALSE(r.ok()) << bytes;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << bytes;
    EXPECT_THAT(r.status().message(), HasSubstr(field)) << bytes;
  }
}

TEST(KernelIpArgument, FormatsAddressGatewayMaskHostAndDns) {
  CniIp ip;
  ip.ip = "10.1.2.5";
  ip.prefix_length = 20;
  ip.gateway = "10.1.0.1";
  absl::StatusOr<std::string> arg =
      KernelIpArgument(ip, "web-0", "eth0", {"10.1.0.10", "fd00::1", "10.1.0.11", "10.1.0.12"});
  ASSERT_TRUE(arg.ok()) << arg.status();
  EXPECT_EQ(*arg, "ip=10.1.2.5::10.1.0.1:255.255.240.0:web-0:eth0:off:10.1.0.10:10.1.0.11");
  ip.gateway = "";
  EXPECT_EQ(*KernelIpArgument(ip, "", "eth0", {}), "ip=10.1.2.5:::255.255.240.0::eth0:off");
}

TEST(KernelIpArgument, RefusesWhatCouldInjectKernelParameters) {
  CniIp ip;
  ip.ip = "10.1.2.5";
  ip.prefix_length = 24;
  absl::StatusOr<std::string> arg = KernelIpArgument(ip, "a b init=/bin/sh", "eth0", {});
  EXPECT_EQ(arg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(arg.status().message(), HasSubstr("hostname \"a b init=/bin/sh\""));
  EXPECT_FALSE(KernelIpArgument(ip, "x:y", "eth0", {}).ok());
  ip.ipv6 = true;
  ip.ip = "fd00::5";
  EXPECT_THAT(KernelIpArgument(ip, "", "eth0", {}).status().message(), HasSubstr("IPv4"));
}

TEST(Names, NetnsAndTapNamesAreBounded) {
  EXPECT_TRUE(ValidateNetnsName("vmmap-0123abcd").ok());
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", "a/b", "a b", std::string(65, 'a')}) {
    EXPECT_EQ(ValidateNetnsName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(*TapNameFor("0123456789abcdef0123"), "vmt0123456789ab");
  EXPECT_EQ(TapNameFor("0123456789aB").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TapNameFor("0123").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Subprocess, PassesEnvAndStdinAndBoundsOutputAndTime) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", "cat; echo \"$FOO\" >&2; exit 3"};
  spec.env = {"FOO=bar"};
  spec.stdin_bytes = "hello";
  absl::StatusOr<ProcessResult> r = RunProcess(spec);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->stdout_bytes, "hello");
  EXPECT_EQ(r->stderr_bytes, "bar\n");

  spec.argv = {"/bin/sh", "-c", "exec yes"};
  spec.max_output_bytes = 4096;
  EXPECT_EQ(RunProcess(spec).status().code(), absl::StatusCode::kResourceExhausted);

  spec.argv = {"/bin/sleep", "600"};
  spec.timeout = absl::Milliseconds(200);
  EXPECT_EQ(RunProcess(spec).status().code(), absl::StatusCode::kDeadlineExceeded);

  spec.argv = {"/nonexistent/plugin"};
  EXPECT_EQ(RunProcess(spec).status().code(), absl::StatusCode::kFailedPrecondition);
}

// The config README and docs/network.md tell operators to copy.
TEST(ExampleConfig, TheShippedExampleIsAValidBridgeNetwork) {
  absl::StatusOr<CniNetworkList> network = LoadCniConfig(VMMAP_SOURCE_DIR "/examples/cni");
  ASSERT_TRUE(network.ok()) << network.status();
  EXPECT_EQ(network->name, "vmmap");
  ASSERT_EQ(network->plugins.size(), 3u);
  EXPECT_EQ(network->plugins[0].type, "bridge");
  EXPECT_EQ(network->plugins[1].capabilities, std::set<std::string>{"portMappings"});
  EXPECT_TRUE(CheckCniReadiness(VMMAP_SOURCE_DIR "/examples/cni").ready);
}

}  // namespace
}  // namespace vmmap::network
