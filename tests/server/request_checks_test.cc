// What a pod author or client sends is bounded at the CRI edge, with the
// field and value named.
#include "server/cri/request_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmmap {
namespace {

namespace v1 = runtime::v1;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(RequestChecksTest, LogPathsAreRelativeWithoutDotDotAndDirectoriesAbsolute) {
  v1::ContainerConfig container;
  container.set_log_path("vm/0.log");
  EXPECT_TRUE(CheckContainerConfig(container).ok());
  for (const char* bad : {"/etc/shadow", "../../etc/cron.d/x", "vm/../../x"}) {
    container.set_log_path(bad);
    absl::Status s = CheckContainerConfig(container);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(s), AllOf(HasSubstr("config.log_path"), HasSubstr(bad)));
  }
  v1::PodSandboxConfig sandbox;
  sandbox.set_log_directory("var/log/pods");
  EXPECT_THAT(Message(CheckSandboxConfig(sandbox)), HasSubstr("must be absolute"));
  sandbox.set_log_directory("/var/log/pods/../../etc");
  EXPECT_THAT(Message(CheckSandboxConfig(sandbox)), HasSubstr("config.log_directory"));
}

TEST(RequestChecksTest, LabelAndAnnotationSizesAreBounded) {
  v1::PodSandboxConfig sandbox;
  (*sandbox.mutable_annotations())["big"] = std::string(300 * 1024, 'x');
  absl::Status s = CheckSandboxConfig(sandbox);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), AllOf(HasSubstr("config.annotations"), HasSubstr("262144")));
  sandbox.clear_annotations();
  (*sandbox.mutable_labels())[std::string(400, 'k')] = "v";
  EXPECT_THAT(Message(CheckSandboxConfig(sandbox)),
              AllOf(HasSubstr("config.labels"), HasSubstr("400 bytes")));
}

TEST(RequestChecksTest, CriIntegersAreRangeCheckedNamingFieldAndValue) {
  v1::LinuxContainerResources r;
  r.set_cpu_period(100000);
  r.set_cpu_quota(-1);
  r.set_cpu_shares(2);
  r.set_memory_limit_in_bytes(64 << 20);
  EXPECT_TRUE(CheckResources(r, "linux").ok());
  struct Case {
    void (*set)(v1::LinuxContainerResources&);
    const char* field;
    const char* value;
  };
  const Case cases[] = {
      {[](v1::LinuxContainerResources& x) { x.set_cpu_period(999); }, "linux.cpu_period", "999"},
      {[](v1::LinuxContainerResources& x) { x.set_cpu_quota(-5); }, "linux.cpu_quota", "-5"},
      {[](v1::LinuxContainerResources& x) { x.set_cpu_quota(INT64_MAX); }, "linux.cpu_quota",
       "9223372036854775807"},
      {[](v1::LinuxContainerResources& x) { x.set_cpu_shares(1 << 30); }, "linux.cpu_shares",
       "1073741824"},
      {[](v1::LinuxContainerResources& x) { x.set_memory_limit_in_bytes(-1); },
       "linux.memory_limit_in_bytes", "-1"},
  };
  for (const Case& c : cases) {
    v1::LinuxContainerResources bad = r;
    c.set(bad);
    absl::Status s = CheckResources(bad, "linux");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(Message(s), AllOf(HasSubstr(c.field), HasSubstr(c.value)));
  }
}

TEST(RequestChecksTest, CommandAndArgsAreBounded) {
  v1::ContainerConfig container;
  for (int i = 0; i < 1025; ++i) container.add_args("a");
  EXPECT_THAT(Message(CheckContainerConfig(container)), HasSubstr("config.args: 1025 words"));
  container.clear_args();
  container.add_command(std::string(3000, 'c'));
  EXPECT_THAT(Message(CheckContainerConfig(container)), HasSubstr("config.command[0]: 3000 bytes"));
}

TEST(RequestChecksTest, PortMappingsAndDnsAreBoundedNamingFieldAndValue) {
  v1::PodSandboxConfig ok;
  v1::PortMapping* p = ok.add_port_mappings();
  p->set_container_port(80);
  p->set_host_port(8080);
  p->set_host_ip("127.0.0.1");
  ok.mutable_dns_config()->add_servers("10.96.0.10");
  ok.mutable_dns_config()->add_searches("default.svc.cluster.local");
  ok.mutable_dns_config()->add_options("ndots:5");
  EXPECT_TRUE(CheckSandboxConfig(ok).ok());

  v1::PodSandboxConfig bad_port = ok;
  bad_port.mutable_port_mappings(0)->set_host_port(70000);
  EXPECT_THAT(Message(CheckSandboxConfig(bad_port)),
              AllOf(HasSubstr("config.port_mappings[0].host_port"), HasSubstr("70000")));
  v1::PodSandboxConfig bad_ip = ok;
  bad_ip.mutable_port_mappings(0)->set_host_ip("1.2.3.4; rm -rf /");
  EXPECT_EQ(CheckSandboxConfig(bad_ip).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(CheckSandboxConfig(bad_ip)), HasSubstr("config.port_mappings[0].host_ip"));
  v1::PodSandboxConfig bad_server = ok;
  bad_server.mutable_dns_config()->add_servers("ns1.example");
  EXPECT_THAT(Message(CheckSandboxConfig(bad_server)),
              AllOf(HasSubstr("config.dns_config.servers[1]"), HasSubstr("ns1.example")));
  v1::PodSandboxConfig spaced = ok;
  spaced.mutable_dns_config()->add_searches("a b");
  EXPECT_THAT(Message(CheckSandboxConfig(spaced)), HasSubstr("config.dns_config.searches[1]"));
  v1::PodSandboxConfig many = ok;
  for (int i = 0; i < 40; ++i) many.mutable_dns_config()->add_options("ndots:1");
  EXPECT_THAT(Message(CheckSandboxConfig(many)),
              AllOf(HasSubstr("config.dns_config.options"), HasSubstr("at most 32")));
}

}  // namespace
}  // namespace vmmap
