// Real TCG guests on a real CNI network: the tap opened by libvirt in the
// host namespace, moved into the pod namespace and mirrored to the CNI
// interface (server/network/tap_link.h). Runs inside the private namespaces
// of private_namespaces_main.cc with libvirt's embedded QEMU driver, so the
// bridge, the guests' addresses and hostPort rules exist only here.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <deque>
#include <arpa/inet.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <memory>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mapper/domain_spec.h"
#include "mapper/domain_xml.h"
#include "server/network/pod_network.h"
#include "server/network/subprocess.h"
#include "server/network/tap_link.h"

namespace vmmap::network {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<ProcessResult> Sh(const std::string& cmd,
                                 absl::Duration timeout = absl::Minutes(2)) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", cmd};
  spec.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  spec.timeout = timeout;
  return RunProcess(spec);
}

// Polls `done` every 500 ms until it holds or `limit` passes; TCG guests on
// a loaded machine are slow, so limits are minutes and never asserted on.
template <typename F>
bool Eventually(F done, absl::Duration limit = absl::Minutes(5)) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(500));
  }
  return done();
}

struct GuestPod {
  PodNetworkRequest request;
  PodNetworkState state;
  bool set_up = false;
  GuestNic nic;
  std::string console;
  virDomainPtr domain = nullptr;
  std::string ip() const { return state.ips.at(0); }
};

class GuestNetworkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // QEMU may run as an unprivileged user: the work dir must be traversable.
    char tmpl[] = "/tmp/vmmap-net-guest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    work_ = new std::string(tmpl);
    chmod(work_->c_str(), 0755);
    absl::StatusOr<ProcessResult> built =
        Sh(absl::StrCat(VMMAP_NETWORK_TEST_DIR "/build-net-guest.sh ", *work_, "/guest"));
    ASSERT_TRUE(built.ok() && built->exit_code == 0)
        << (built.ok() ? built->stderr_bytes : built.status().ToString());
    std::filesystem::create_directories(*work_ + "/libvirt/etc");
    // The embedded driver needs an event loop; it runs for the process' life.
    ASSERT_EQ(virEventRegisterDefaultImpl(), 0);
    std::thread([] {
      for (;;) virEventRunDefaultImpl();
    }).detach();
    // Consoles straight to files: the embedded driver has no virtlogd.
    std::ofstream(*work_ + "/libvirt/etc/qemu.conf") << "stdio_handler = \"file\"\n";
  }
  static void TearDownTestSuite() {
    if (work_ == nullptr) return;
    umount2((*work_ + "/netns").c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(*work_, ec);
    delete work_;
    work_ = nullptr;
  }

  void SetUp() override {
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "/dev/net/tun is not available: no taps on this host";
    }
    for (const char* p : {"bridge", "host-local", "loopback", "portmap"}) {
      if (!FindCniPlugin(p, CniBinDirs("")).ok()) {
        GTEST_SKIP() << "containernetworking-plugins not installed (" << p << ")";
      }
    }
    conn_ = virConnectOpen(absl::StrCat("qemu:///embed?root=", *work_, "/libvirt").c_str());
    ASSERT_NE(conn_, nullptr) << virGetLastErrorMessage();
    std::filesystem::create_directories(*work_ + "/net.d");
    std::ofstream(*work_ + "/net.d/10-guests.conflist") << absl::StrCat(
        R"({"cniVersion":"1.0.0","name":"vmmapguest","plugins":[)",
        R"({"type":"bridge","bridge":"vmmapgbr0","isGateway":true,)",
        R"("ipam":{"type":"host-local","dataDir":")", *work_,
        R"(/leases","ranges":[[{"subnet":"10.214.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}},)",
        R"({"type":"portmap","capabilities":{"portMappings":true}},{"type":"loopback"}]})");
    CniOptions options;
    options.conf_dir = *work_ + "/net.d";
    options.netns_dir = *work_ + "/netns";
    network_ = NewCniPodNetwork(options);
    ASSERT_TRUE(network_->Readiness().ready) << network_->Readiness().message;
  }

  void TearDown() override {
    for (GuestPod& pod : pods_) RemovePod(pod);
    if (conn_ != nullptr) virConnectClose(conn_);
  }

  // RunPodSandbox + CreateContainer + StartContainer through PodNetwork, in
  // the order the sandbox lifecycle calls it.
  GuestPod& StartPod(const std::string& id, const std::string& name,
                     const std::vector<PortMapping>& ports, const std::string& extra_cmdline,
                     std::optional<int64_t> global_quota_us = std::nullopt) {
    pods_.emplace_back();
    GuestPod& pod = pods_.back();
    pod.request = {id, "default", name, "uid-" + name, false, ports, {}};
    // As kubelet sends it for a ClusterFirst pod; becomes vmmap.dns=.
    pod.request.dns = {
        {"10.214.0.53"}, {"default.svc.cluster.local", "cluster.local"}, {"ndots:5"}};
    absl::StatusOr<PodNetworkState> state = network_->SetUp(pod.request);
    EXPECT_TRUE(state.ok()) << state.status();
    if (!state.ok()) return pod;
    pod.state = *state;
    pod.set_up = true;
    absl::StatusOr<GuestNic> nic = network_->GuestNicFor(pod.request, pod.state, name);
    EXPECT_TRUE(nic.ok()) << nic.status();
    if (!nic.ok()) return pod;
    pod.nic = *nic;
    EXPECT_TRUE(network_->PrepareTap(pod.nic).ok());

    DomainSpec spec;
    spec.type = DomainType::kQemu;
    spec.name = absl::StrCat("vmmap-net-", name);
    spec.uuid = absl::StrCat(id.substr(0, 8), "-0000-4000-8000-", id.substr(8, 12));
    spec.memory_kib = 256 * 1024;
    if (global_quota_us) {
      spec.cputune.global_period_us = 100000;
      spec.cputune.global_quota_us = *global_quota_us;
    }
    pod.console = absl::StrCat(*work_, "/", name, ".console");
    spec.console_log_path = pod.console;
    spec.kernel_boot = DirectKernelBoot{*work_ + "/guest/vmlinuz", *work_ + "/guest/initrd.img",
                                        absl::StrCat("console=ttyS0 ", nic->kernel_ip_arg, " ",
                                                     nic->kernel_dns_arg, extra_cmdline)};
    spec.network_interface = NetworkInterfaceSpec{nic->tap, nic->mac, nic->mtu};
    spec.owner = {"default", name, "uid", 0, id, ""};
    absl::StatusOr<std::string> xml = RenderDomainXml(spec);
    EXPECT_TRUE(xml.ok()) << xml.status();
    pod.domain = virDomainCreateXML(conn_, xml->c_str(), 0);
    EXPECT_NE(pod.domain, nullptr) << virGetLastErrorMessage() << "\n" << *xml;
    absl::Status attached = network_->AttachTap(pod.nic, pod.state);
    EXPECT_TRUE(attached.ok()) << attached;
    return pod;
  }

  // StopPodSandbox + RemovePodSandbox.
  void RemovePod(GuestPod& pod) {
    if (pod.domain != nullptr) {
      virDomainDestroy(pod.domain);
      virDomainFree(pod.domain);
      pod.domain = nullptr;
    }
    if (pod.set_up) {
      EXPECT_TRUE(network_->TearDown(pod.request, pod.state).ok());
      EXPECT_TRUE(network_->Remove(pod.request).ok());
      pod.set_up = false;
    }
  }

  bool ConsoleHas(const GuestPod& pod, const std::string& text) {
    return absl::StrContains(ReadFile(pod.console), text);
  }

  static std::string* work_;
  virConnectPtr conn_ = nullptr;
  std::unique_ptr<PodNetwork> network_;
  std::deque<GuestPod> pods_;
};

std::string* GuestNetworkTest::work_ = nullptr;

TEST_F(GuestNetworkTest, HostReachesTheGuestOnItsPodIpAndHostPortAndPodsReachEachOther) {
  GuestPod& a = StartPod("a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
                         "pod-a", {{18080, 80, "tcp", ""}}, "");
  ASSERT_NE(a.domain, nullptr);
  ASSERT_TRUE(Eventually([&] { return ConsoleHas(a, "VMMAP-NET-"); })) << ReadFile(a.console);
  ASSERT_TRUE(ConsoleHas(a, absl::StrCat("VMMAP-NET-UP ip=", a.ip(),
                                         " mtu=", ReadLink(a.state.netns_path, "eth0")->mtu)))
      << ReadFile(a.console);
  // The pod's DNS config, beyond the two servers ip= carries: vmmap.dns=.
  ASSERT_TRUE(Eventually([&] { return ConsoleHas(a, "VMMAP-RESOLV-DONE"); }))
      << ReadFile(a.console);
  EXPECT_TRUE(ConsoleHas(a, "VMMAP-RESOLV nameserver 10.214.0.53")) << ReadFile(a.console);
  EXPECT_TRUE(ConsoleHas(a, "VMMAP-RESOLV search default.svc.cluster.local cluster.local"))
      << ReadFile(a.console);
  EXPECT_TRUE(ConsoleHas(a, "VMMAP-RESOLV options ndots:5")) << ReadFile(a.console);

  // ICMP to the pod IP is answered by the guest: the pod namespace's own
  // kernel never sees the frames (they are redirected to the tap).
  EXPECT_TRUE(Eventually([&] {
    absl::StatusOr<ProcessResult> r = Sh(absl::StrCat("busybox ping -c1 -W2 ", a.ip()));
    return r.ok() && r->exit_code == 0;
  }));
  absl::StatusOr<ProcessResult> http =
      Sh(absl::StrCat("curl -sS --max-time 20 http://", a.ip(), "/"));
  ASSERT_TRUE(http.ok());
  EXPECT_THAT(http->stdout_bytes, HasSubstr("VMMAP-GUEST pod-a")) << http->stderr_bytes;

  // hostPort: portmap's DNAT from a host address to the guest's port 80.
  absl::StatusOr<ProcessResult> mapped =
      Sh(absl::StrCat("curl -sS --max-time 20 http://", "10.214.0.1", ":18080/"));
  ASSERT_TRUE(mapped.ok());
  EXPECT_THAT(mapped->stdout_bytes, HasSubstr("VMMAP-GUEST pod-a")) << mapped->stderr_bytes;

  // Pod B fetches from pod A by pod IP, across the bridge.
  GuestPod& b = StartPod("b1b2c3d4e5f60718293b4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
                         "pod-b", {}, absl::StrCat(" vmmap.fetch=", a.ip(), ":80"));
  ASSERT_NE(b.domain, nullptr);
  EXPECT_TRUE(Eventually([&] { return ConsoleHas(b, "VMMAP-FETCHED VMMAP-GUEST pod-a"); }))
      << ReadFile(b.console);

  // Where the packet path runs: with TCG there is no vhost worker, so
  // QEMU's own threads move the frames, and every one of them is in the
  // domain's cgroup (what the pod's limits bound).
  absl::StatusOr<ProcessResult> threads = Sh(absl::StrCat(
      "pid=$(pgrep -f 'guest=vmmap-net-pod-a[,]' | head -n1); for t in /proc/$pid/task/*; do "
      "printf '%s ' \"$(cat $t/comm)\"; grep ':cpu,cpuacct:\\|:cpu:' $t/cgroup; done"));
  ASSERT_TRUE(threads.ok());
  for (absl::string_view line : absl::StrSplit(threads->stdout_bytes, '\n', absl::SkipEmpty())) {
    EXPECT_THAT(std::string(line), HasSubstr("vmmap-net-pod-a")) << threads->stdout_bytes;
  }
  EXPECT_FALSE(threads->stdout_bytes.empty());

  // libvirt reads interface counters from /proc/net/dev of its own
  // namespace, where the tap no longer is (docs/network.md).
  virDomainInterfaceStatsStruct libvirt_stats;
  int libvirt_rc =
      virDomainInterfaceStats(a.domain, a.nic.tap.c_str(), &libvirt_stats, sizeof libvirt_stats);
  EXPECT_LT(libvirt_rc, 0) << "libvirt sees the moved tap now: update docs/network.md";
  // The pod's counters, read in its namespace, saw the HTTP and ICMP
  // traffic, both ways, and match the tap's (the same frames, mirrored).
  absl::StatusOr<InterfaceCounters> eth0 = network_->Counters(a.state);
  ASSERT_TRUE(eth0.ok()) << eth0.status();
  EXPECT_GT(eth0->rx_bytes, 1000u);
  EXPECT_GT(eth0->tx_bytes, 1000u);
  absl::StatusOr<InterfaceCounters> tap = ReadInterfaceCounters(a.state.netns_path, a.nic.tap);
  ASSERT_TRUE(tap.ok()) << tap.status();
  EXPECT_GT(tap->tx_bytes, 1000u);  // toward the guest
  EXPECT_GT(tap->rx_bytes, 1000u);  // from the guest

  std::string tap_a = a.nic.tap;
  RemovePod(a);
  RemovePod(b);
  EXPECT_FALSE(LinkExists("", tap_a));
  absl::StatusOr<ProcessResult> left = Sh("ip -o link show | grep -c 'veth\\|vmt' || true");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->stdout_bytes, "0\n");
}

// A shell command printing the pid of `domain_name`'s QEMU. The pattern's `[,]`
// keeps it from matching the shell that runs pgrep (whose command line holds the
// pattern itself): with pid_max 32768 the pids wrap, and that shell may then have
// a lower pid than QEMU and be picked first.
std::string QemuPidCommand(const std::string& domain_name) {
  return absl::StrCat("pgrep -f 'guest=", domain_name, "[,]' | head -n1");
}

// The domain-level cgroup of a running domain, for `controller` (cgroup v1,
// as on this machine): the parent of the QEMU main thread's emulator cgroup.
std::string DomainCgroup(const std::string& domain_name, const std::string& controller) {
  absl::StatusOr<ProcessResult> pid = Sh(QemuPidCommand(domain_name));
  if (!pid.ok()) return "";
  std::string cgroups =
      ReadFile(absl::StrCat("/proc/", absl::StripAsciiWhitespace(pid->stdout_bytes), "/cgroup"));
  for (absl::string_view line : absl::StrSplit(cgroups, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() == 3 && f[1] == controller) {
      std::string path = f[2];
      if (absl::EndsWith(path, "/emulator")) path.resize(path.size() - 9);
      return absl::StrCat("/sys/fs/cgroup/", controller, path);
    }
  }
  return "";
}

int64_t ReadInt(const std::string& path, const std::string& key = "") {
  std::string text = ReadFile(path);
  if (key.empty()) return std::strtoll(text.c_str(), nullptr, 10);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, key + " "))
      return std::strtoll(std::string(line).c_str(), nullptr, 10);
  }
  return -1;
}

// A flood of UDP datagrams at the guest costs QEMU CPU (with TCG, QEMU's own
// threads move the frames); all of it is charged to the domain's cgroup and
// bounded by the pod's ceiling (<global_quota>, 25% of a CPU here), which
// throttles the domain in every period while the flood lasts. The host
// side of the flood (tc redirect, veth, bridge) runs in the sender's context.
TEST_F(GuestNetworkTest, NetworkFloodStaysWithinThePodCpuCeiling) {
  constexpr int64_t kQuotaUs = 25000;  // of 100000: 0.25 CPU
  GuestPod& a = StartPod("c1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
                         "flood", {}, "", kQuotaUs);
  ASSERT_NE(a.domain, nullptr);
  ASSERT_TRUE(Eventually([&] { return ConsoleHas(a, "VMMAP-NET-UP"); })) << ReadFile(a.console);
  std::string cpu = DomainCgroup("vmmap-net-flood", "cpu");
  // QEMU's CPU time from /proc (all threads): libvirt does not place domains
  // in the separately mounted cpuacct hierarchy of this machine.
  absl::StatusOr<ProcessResult> pid_out = Sh(QemuPidCommand("vmmap-net-flood"));
  ASSERT_TRUE(pid_out.ok());
  const std::string stat_path =
      absl::StrCat("/proc/", absl::StripAsciiWhitespace(pid_out->stdout_bytes), "/stat");
  auto qemu_cpu_ns = [&stat_path] {
    std::string stat = ReadFile(stat_path);
    std::vector<std::string> f = absl::StrSplit(stat.substr(stat.rfind(')') + 2), ' ');
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after "pid (comm) ".
    return (std::strtoll(f.at(11).c_str(), nullptr, 10) +
            std::strtoll(f.at(12).c_str(), nullptr, 10)) *
           (1000000000 / sysconf(_SC_CLK_TCK));
  };
  ASSERT_FALSE(cpu.empty());
  ASSERT_EQ(ReadInt(cpu + "/cpu.cfs_quota_us"), kQuotaUs);

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  inet_pton(AF_INET, a.ip().c_str(), &to.sin_addr);
  std::string payload(1400, 'x');
  const int64_t usage0 = qemu_cpu_ns();
  const int64_t throttled0 = ReadInt(cpu + "/cpu.stat", "nr_throttled");
  const absl::Time start = absl::Now();
  int64_t sent = 0;
  while (absl::Now() - start < absl::Seconds(20)) {
    for (int i = 0; i < 256; ++i) {
      if (sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
                 sizeof to) > 0) {
        ++sent;
      }
    }
  }
  const double elapsed_ns = absl::ToDoubleNanoseconds(absl::Now() - start);
  const int64_t usage = qemu_cpu_ns() - usage0;
  const int64_t throttled = ReadInt(cpu + "/cpu.stat", "nr_throttled") - throttled0;
  close(fd);
  const double cores = static_cast<double>(usage) / elapsed_ns;
  std::cerr << "flood: " << sent << " datagrams; domain used " << cores
            << " cores under a 0.25 ceiling; throttled " << throttled << " periods\n";
  EXPECT_GT(sent, 1000);
  EXPECT_GT(throttled, 0) << "the flood never reached the pod's ceiling";
  // CFS enforces per 100 ms period; allow one period of slack over 20 s.
  EXPECT_LE(cores, 0.25 * 1.05);
}

}  // namespace
}  // namespace vmmap::network
