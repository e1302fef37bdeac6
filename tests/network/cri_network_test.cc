// The pod network at the CRI: a real `vmmap serve` (kill -9 included), the
// real CNI plugins from Debian, real TCG guests. The binary runs in private
// network and mount namespaces (private_namespaces_main.cc), so bridges,
// veths, leases' addresses and /run/netns mounts exist only here; the server
// and its QEMUs inherit them.
//
// One server is shared by the suite's tests, in the order written; each test
// makes one claim and checks what it leaves behind (netns mounts, veths,
// host-local leases, taps). No wall-clock assertion: waits are for states,
// with deadlines of minutes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/harness.h"

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr std::chrono::minutes kGuestDeadline{5};

std::string WorkDir() { return GetFixtures().work_dir + "/net"; }
std::string LeasesDir() { return WorkDir() + "/leases"; }
std::string ConfDir() { return WorkDir() + "/net.d"; }

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::trunc) << bytes;
}

// A bridge network whose gateway is this (private) host namespace.
std::string BridgeConflist(const std::string& name, const std::string& bridge,
                           const std::string& subnet, const std::string& leases,
                           const std::string& extra_plugins = "") {
  return absl::StrCat(R"({"cniVersion":"1.0.0","name":")", name, R"(","plugins":[)",
                      R"({"type":"bridge","bridge":")", bridge, R"(","isGateway":true,)",
                      R"("ipam":{"type":"host-local","dataDir":")", leases,
                      R"(","ranges":[[{"subnet":")", subnet,
                      R"("}]],"routes":[{"dst":"0.0.0.0/0"}]}},)",
                      R"({"type":"portmap","capabilities":{"portMappings":true}},)", extra_plugins,
                      R"({"type":"loopback"}]})");
}

// Files host-local keeps per leased address (not its lock or cursor).
std::vector<std::string> Leases(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file() && name != "lock" && name.rfind("last_reserved_ip", 0) != 0) {
      out.push_back(name);
    }
  }
  return out;
}

// Network namespaces mounted under /run/netns in this mount namespace.
std::set<std::string> MountedNetns() {
  std::set<std::string> out;
  std::istringstream mounts(ReadFileOrEmpty("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream words(line);
    std::string w, mount_point;
    for (int i = 0; i < 5 && words >> w; ++i) mount_point = w;
    if (mount_point.rfind("/run/netns/", 0) == 0) out.insert(mount_point);
  }
  return out;
}

// Links of a kind in this (private) host namespace, e.g. "veth" or "tun".
std::string Links(const std::string& kind) {
  return Shell("ip -o link show type " + kind + " 2>/dev/null | cut -d: -f2");
}

// The first line of an HTTP GET / to ip:port with an empty result on failure.
std::string HttpGet(const std::string& ip, int port = 80) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  std::string body;
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) == 1 &&
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const char request[] = "GET / HTTP/1.0\r\n\r\n";
    if (write(fd, request, sizeof request - 1) == static_cast<ssize_t>(sizeof request - 1)) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) body.append(buf, n);
    }
  }
  close(fd);
  const size_t at = body.find("VMMAP-GUEST");
  return at == std::string::npos ? "" : body.substr(at, body.find('\n', at) - at);
}

v1::PodSandboxStatus SandboxStatus(ServerProcess& server, const std::string& id) {
  v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(id);
  v1::PodSandboxStatusResponse response;
  grpc::Status s = server.runtime().PodSandboxStatus(Context().get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response.status();
}

grpc::Status RunSandbox(ServerProcess& server, const std::string& name, std::string* id,
                        int host_port = 0, bool host_network = false) {
  v1::RunPodSandboxRequest run;
  *run.mutable_config() = SandboxConfig(name, 500, 256 << 20, 1);
  run.mutable_config()->set_hostname(name);
  if (host_port != 0) {
    v1::PortMapping* p = run.mutable_config()->add_port_mappings();
    p->set_container_port(80);
    p->set_host_port(host_port);
  }
  if (host_network) {
    run.mutable_config()
        ->mutable_linux()
        ->mutable_security_context()
        ->mutable_namespace_options()
        ->set_network(v1::NamespaceMode::NODE);
  }
  v1::RunPodSandboxResponse ran;
  grpc::Status s = server.runtime().RunPodSandbox(Context().get(), run, &ran);
  if (id != nullptr) *id = ran.pod_sandbox_id();
  return s;
}

grpc::Status StopSandbox(ServerProcess& server, const std::string& id) {
  v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(id);
  v1::StopPodSandboxResponse stopped;
  return server.runtime().StopPodSandbox(Context().get(), stop, &stopped);
}

grpc::Status RemoveSandbox(ServerProcess& server, const std::string& id) {
  v1::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id(id);
  v1::RemovePodSandboxResponse removed;
  return server.runtime().RemovePodSandbox(Context().get(), remove, &removed);
}

class CriNetworkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (access("/dev/net/tun", R_OK | W_OK) != 0 || access("/usr/lib/cni/bridge", X_OK) != 0) {
      return;  // each test skips, saying why
    }
    fs::create_directories(ConfDir());
    fs::permissions(WorkDir(), fs::perms(0755));
    WriteFile(ConfDir() + "/10-pods.conflist",
              BridgeConflist("vmmap-cri", "vmmapcbr0", "10.214.0.0/24", LeasesDir()));
    // The network test guest: reads ip= and serves HTTP on port 80.
    const std::string guest = WorkDir() + "/guest";
    Shell(std::string(VMMAP_SOURCE_DIR) + "/tests/network/build-net-guest.sh " + guest +
          " >/dev/null");
    WriteFile(guest + "/cmdline", "console=ttyS0\n");
    bundle_ = new std::string(WorkDir() + "/net-guest.tar");
    Shell("tar -C " + guest + " -cf " + *bundle_ + " vmlinuz initrd.img cmdline");
    ServerOptions options;
    options.cni_conf_dir = ConfDir();
    server_ = new ServerProcess(WorkDir() + "/state", options);
    server_->Start();
    v1::PullImageRequest pull;
    pull.mutable_image()->set_image("file://" + *bundle_);
    v1::PullImageResponse pulled;
    grpc::Status s = server_->images().PullImage(Context().get(), pull, &pulled);
    ASSERT_TRUE(s.ok()) << s.error_message();
    image_ = new std::string(pulled.image_ref());
  }
  static void TearDownTestSuite() {
    delete server_;  // SIGTERM
    server_ = nullptr;
  }

  void SetUp() override {
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "/dev/net/tun is not available: no taps on this host";
    }
    if (access("/usr/lib/cni/bridge", X_OK) != 0) {
      GTEST_SKIP() << "containernetworking-plugins is not installed (/usr/lib/cni/bridge)";
    }
    ASSERT_NE(server_, nullptr);
    netns_before_ = MountedNetns();
  }

  // Nothing of any pod is left: no veth, no lease, no netns mount, no tap.
  void ExpectNothingLeft(const std::string& leases = LeasesDir()) {
    EXPECT_THAT(Links("veth"), IsEmpty());
    EXPECT_THAT(Links("tun"), IsEmpty());
    EXPECT_THAT(Leases(leases), IsEmpty());
    EXPECT_EQ(MountedNetns(), netns_before_);
  }

  static ServerProcess* server_;
  static std::string* bundle_;
  static std::string* image_;
  std::set<std::string> netns_before_;
};

ServerProcess* CriNetworkTest::server_ = nullptr;
std::string* CriNetworkTest::bundle_ = nullptr;
std::string* CriNetworkTest::image_ = nullptr;

TEST_F(CriNetworkTest, StatusReportsNetworkReadyFromTheConfigDir) {
  auto network_ready = [] {
    v1::StatusResponse response;
    EXPECT_TRUE(server_->runtime().Status(Context().get(), v1::StatusRequest(), &response).ok());
    for (const v1::RuntimeCondition& c : response.status().conditions()) {
      if (c.type() == "NetworkReady") return c;
    }
    ADD_FAILURE() << "no NetworkReady condition";
    return v1::RuntimeCondition();
  };
  EXPECT_TRUE(network_ready().status());
  fs::rename(ConfDir() + "/10-pods.conflist", WorkDir() + "/10-pods.conflist");
  const v1::RuntimeCondition not_ready = network_ready();
  fs::rename(WorkDir() + "/10-pods.conflist", ConfDir() + "/10-pods.conflist");
  EXPECT_FALSE(not_ready.status());
  EXPECT_EQ(not_ready.reason(), "NetworkPluginNotReady");
  EXPECT_THAT(not_ready.message(), HasSubstr(ConfDir()));
}

// Issue 10's "done": the pod's IP in PodSandboxStatus answers from inside
// the VM (and its hostPort from the host); removal leaves no namespace,
// veth, tap or lease.
TEST_F(CriNetworkTest, PodIpInSandboxStatusAnswersFromTheVm) {
  Pod pod{"web", "", ""};
  // hostname "web"; hostPort 18080 → the guest's port 80
  grpc::Status ran = RunSandbox(*server_, "web", &pod.sandbox_id, 18080);
  ASSERT_TRUE(ran.ok()) << ran.error_message();
  v1::CreateContainerRequest create;
  create.set_pod_sandbox_id(pod.sandbox_id);
  *create.mutable_config() = ContainerConfig(*image_, 500, 256 << 20, {});
  v1::CreateContainerResponse created;
  grpc::Status made = server_->runtime().CreateContainer(Context().get(), create, &created);
  ASSERT_TRUE(made.ok()) << made.error_message();
  pod.container_id = created.container_id();
  const v1::PodSandboxStatus status = SandboxStatus(*server_, pod.sandbox_id);
  EXPECT_EQ(status.linux().namespaces().options().network(), v1::NamespaceMode::POD);
  const std::string ip = status.network().ip();
  ASSERT_THAT(ip, StartsWith("10.214.0."));
  grpc::Status started = StartContainer(*server_, pod.container_id);
  ASSERT_TRUE(started.ok()) << started.error_message() << "\n" << server_->log();
  std::string answer;
  const bool answered = WaitFor(
      [&] {
        answer = HttpGet(ip);
        return !answer.empty();
      },
      kGuestDeadline);
  EXPECT_TRUE(answered) << "no HTTP answer from " << ip << "; console:\n"
                        << Shell("cat " + WorkDir() + "/state/containers/*/console.log");
  EXPECT_EQ(answer, "VMMAP-GUEST web");  // the pod's hostname reached the guest
  // The sandbox's hostPort reached portmap: the bridge's host address,
  // port 18080, answers from the guest.
  EXPECT_EQ(HttpGet("10.214.0.1", 18080), "VMMAP-GUEST web");
  RemovePod(*server_, pod);
  ExpectNothingLeft();
}

TEST_F(CriNetworkTest, HostNetworkPodGetsNoNamespaceAndNoAddress) {
  std::string id;
  ASSERT_TRUE(RunSandbox(*server_, "hostnet", &id, 0, true).ok());
  const v1::PodSandboxStatus status = SandboxStatus(*server_, id);
  EXPECT_EQ(status.linux().namespaces().options().network(), v1::NamespaceMode::NODE);
  EXPECT_THAT(status.network().ip(), IsEmpty());
  EXPECT_EQ(MountedNetns(), netns_before_);
  EXPECT_THAT(Leases(LeasesDir()), IsEmpty());
  EXPECT_TRUE(StopSandbox(*server_, id).ok());
  EXPECT_TRUE(RemoveSandbox(*server_, id).ok());
}

TEST_F(CriNetworkTest, FailedAddFailsRunPodSandboxWithThePluginsMessageAndLeavesNothing) {
  // Sorted first: bridge + host-local succeed (veth, lease), then a plugin
  // that does not exist fails the chain.
  WriteFile(ConfDir() + "/00-broken.conflist",
            BridgeConflist("vmmap-cri", "vmmapcbr0", "10.214.0.0/24", LeasesDir(),
                           R"({"type":"vmmap-no-such-plugin"},)"));
  grpc::Status s = RunSandbox(*server_, "broken", nullptr);
  fs::remove(ConfDir() + "/00-broken.conflist");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("vmmap-no-such-plugin"));
  v1::ListPodSandboxResponse listed;
  ASSERT_TRUE(server_->runtime()
                  .ListPodSandbox(Context().get(), v1::ListPodSandboxRequest(), &listed)
                  .ok());
  EXPECT_EQ(listed.items_size(), 0);
  ExpectNothingLeft();
}

TEST_F(CriNetworkTest, StopAndRemoveTwiceAreFine) {
  std::string id;
  ASSERT_TRUE(RunSandbox(*server_, "twice", &id).ok());
  EXPECT_THAT(SandboxStatus(*server_, id).network().ip(), StartsWith("10.214.0."));
  EXPECT_THAT(Leases(LeasesDir()), ::testing::SizeIs(1));
  EXPECT_TRUE(StopSandbox(*server_, id).ok());
  EXPECT_THAT(Leases(LeasesDir()), IsEmpty());  // DEL at stop
  EXPECT_TRUE(StopSandbox(*server_, id).ok());
  EXPECT_TRUE(RemoveSandbox(*server_, id).ok());
  EXPECT_TRUE(RemoveSandbox(*server_, id).ok());
  EXPECT_TRUE(StopSandbox(*server_, id).ok());  // stop after remove: NotFound is fine to kubelet
  ExpectNothingLeft();
}

TEST_F(CriNetworkTest, StopAfterACrashStillReleasesTheNetwork) {
  std::string id;
  ASSERT_TRUE(RunSandbox(*server_, "crashed", &id).ok());
  EXPECT_THAT(Leases(LeasesDir()), ::testing::SizeIs(1));
  server_->Kill9();
  server_->Start();
  EXPECT_THAT(SandboxStatus(*server_, id).network().ip(), StartsWith("10.214.0."));
  EXPECT_TRUE(StopSandbox(*server_, id).ok());
  EXPECT_THAT(Leases(LeasesDir()), IsEmpty());
  EXPECT_TRUE(RemoveSandbox(*server_, id).ok());
  ExpectNothingLeft();
}

TEST_F(CriNetworkTest, FiftyCreateRemoveCyclesLeaveNothing) {
  for (int i = 0; i < 50; ++i) {
    PodRequest request;
    request.name = "cycle" + std::to_string(i);
    request.image = *image_;
    Pod pod = CreatePod(*server_, request);
    ASSERT_FALSE(pod.container_id.empty()) << "cycle " << i;
    // Remove without a stop must not leak the lease either.
    ASSERT_TRUE(RemoveSandbox(*server_, pod.sandbox_id).ok()) << "cycle " << i;
  }
  ExpectNothingLeft();
}

// kill -9 of vmmap-serve while ADD runs (a plugin after bridge blocks):
// the veth and lease exist, no result is recorded. The restarted server's
// recovery runs DEL from the intent it wrote before ADD.
TEST_F(CriNetworkTest, KillDuringAddIsUndoneByRecovery) {
  const std::string dir = WorkDir() + "/kill";
  const std::string bin = dir + "/bin";
  const std::string leases = dir + "/leases";
  fs::create_directories(dir + "/net.d");
  fs::create_directories(bin);
  WriteFile(bin + "/vmmap-test-block",
            "#!/bin/sh\n"
            "case \"$CNI_COMMAND\" in\n"
            "ADD) echo $$ > " +
                dir +
                "/blocked.pid; exec sleep 3600 ;;\n"
                "DEL) echo DEL >> " +
                dir +
                "/deleted; exit 0 ;;\n"
                "*) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}' ;;\n"
                "esac\n");
  fs::permissions(bin + "/vmmap-test-block", fs::perms(0755));
  WriteFile(dir + "/net.d/10-block.conflist",
            BridgeConflist("vmmap-kill", "vmmapkbr0", "10.215.0.0/24", leases,
                           R"({"type":"vmmap-test-block"},)"));
  ServerOptions options;
  options.cni_conf_dir = dir + "/net.d";
  options.cni_bin_dir = bin + ":/usr/lib/cni";
  ServerProcess server(dir + "/state", options);
  server.Start();

  std::thread run([&] { RunSandbox(server, "killed", nullptr); });  // fails when killed
  const bool blocked = WaitFor([&] { return fs::exists(dir + "/blocked.pid"); }, kGuestDeadline);
  EXPECT_TRUE(blocked) << server.log();
  // ADD got this far: a lease and a veth exist.
  EXPECT_THAT(Leases(leases), ::testing::SizeIs(1));
  EXPECT_THAT(Links("veth"), ::testing::Not(IsEmpty()));
  server.Kill9();
  const std::string pid = ReadFileOrEmpty(dir + "/blocked.pid");
  if (!pid.empty()) kill(std::stoi(pid), SIGKILL);
  run.join();

  server.Start();  // recovery runs before the socket answers
  EXPECT_THAT(ReadFileOrEmpty(dir + "/deleted"), HasSubstr("DEL")) << server.log();
  v1::ListPodSandboxResponse listed;
  ASSERT_TRUE(
      server.runtime().ListPodSandbox(Context().get(), v1::ListPodSandboxRequest(), &listed).ok());
  EXPECT_EQ(listed.items_size(), 0);
  ExpectNothingLeft(leases);
}

}  // namespace
}  // namespace vmmap::e2e
