// Issue 10's bench: TCP throughput between two VM pods against the same
// between two plain network namespaces on the same bridge, in one run.
//
//  - VM pods: `vmmap serve` (embedded driver, TCG on this project's machines)
//    with a bridge + host-local + portmap + loopback CNI network; pod A runs
//    `iperf3 -s`, pod B `iperf3 -c <A's pod IP> -t SECONDS` inside the guest
//    (the network test guest, tests/network/build-net-guest.sh, carries
//    Debian's iperf3); the receiver's figure is read from B's console.
//  - Baseline: two network namespaces with a veth each on the SAME bridge the
//    pods use, the same iperf3 binary on the host kernel.
// Same duration, same bridge, same run; the ratio is VM / baseline.
//
// The process first moves into private network and mount namespaces (like
// the network tests), so the bridge, addresses and netns mounts exist only
// here; the server and its QEMUs inherit them. Everything under the e2e
// harness's work dir /var/tmp/vmmap-e2e-<pid> is removed at the end.
//
// usage: vmmap_network_throughput_bench [--seconds N]   (default 10, 1..600)
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench/e2e_harness.h"

namespace vmmap::bench {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

constexpr char kBridge[] = "vmmapnbr0";
constexpr char kSubnetPrefix[] = "10.216.0.";

std::string Work() { return GetFixtures().work_dir + "/netbench"; }

// The receiver's bitrate (Mbit/s) in iperf3 -f m output, or a negative value.
double ReceiverMbits(const std::string& output) {
  static const std::regex line(R"(([0-9.]+) Mbits/sec.*receiver)");
  std::smatch m;
  return std::regex_search(output, m, line) ? std::stod(m[1]) : -1;
}

int RunShell(const std::string& command) { return e2e::ShellStatus(command + " >/dev/null 2>&1"); }

// Two namespaces on the pods' bridge, iperf3 from B to A on the host kernel.
double PlainNamespacesMbits(int seconds) {
  for (const char* n : {"a", "b"}) {
    const std::string ns = std::string("vmmap-nb-") + n;
    const std::string veth = std::string("vnb") + n;
    const std::string ip = std::string(kSubnetPrefix) + (n[0] == 'a' ? "201" : "202");
    RunShell("ip netns add " + ns);
    RunShell("ip link add " + veth + " type veth peer name eth0 netns " + ns);
    RunShell(std::string("ip link set ") + veth + " master " + kBridge + " up");
    RunShell("ip -n " + ns + " addr add " + ip + "/24 dev eth0");
    RunShell("ip -n " + ns + " link set eth0 up");
    RunShell("ip -n " + ns + " link set lo up");
  }
  RunShell("ip netns exec vmmap-nb-a iperf3 -s -1 -D");
  sleep(1);
  const std::string out =
      e2e::Shell("ip netns exec vmmap-nb-b iperf3 -c " + std::string(kSubnetPrefix) +
                 "201 -f m -t " + std::to_string(seconds) + " 2>&1");
  RunShell("ip netns del vmmap-nb-a");
  RunShell("ip netns del vmmap-nb-b");
  return ReceiverMbits(out);
}

struct BenchPod {
  std::string sandbox_id;
  std::string container_id;
  std::string ip;
};

BenchPod StartPod(ServerProcess& server, const std::string& image, const std::string& name,
                  const std::string& kernel_arg) {
  BenchPod pod;
  v1::RunPodSandboxRequest run;
  *run.mutable_config() = e2e::SandboxConfig(name, 1000, 256 << 20, 1);
  run.mutable_config()->set_hostname(name);
  v1::RunPodSandboxResponse ran;
  grpc::Status s = server.runtime().RunPodSandbox(Context().get(), run, &ran);
  if (!s.ok()) {
    std::cerr << "RunPodSandbox " << name << ": " << s.error_message() << "\n";
    return pod;
  }
  pod.sandbox_id = ran.pod_sandbox_id();
  v1::PodSandboxStatusRequest status_request;
  status_request.set_pod_sandbox_id(pod.sandbox_id);
  v1::PodSandboxStatusResponse status;
  server.runtime().PodSandboxStatus(Context().get(), status_request, &status);
  pod.ip = status.status().network().ip();
  v1::CreateContainerRequest create;
  create.set_pod_sandbox_id(pod.sandbox_id);
  *create.mutable_config() = e2e::ContainerConfig(image, 1000, 256 << 20, {kernel_arg});
  *create.mutable_sandbox_config() = run.config();
  v1::CreateContainerResponse created;
  s = server.runtime().CreateContainer(Context().get(), create, &created);
  if (!s.ok()) {
    std::cerr << "CreateContainer " << name << ": " << s.error_message() << "\n";
    return pod;
  }
  pod.container_id = created.container_id();
  s = e2e::StartContainer(server, pod.container_id);
  if (!s.ok()) std::cerr << "StartContainer " << name << ": " << s.error_message() << "\n";
  return pod;
}

std::string Console(ServerProcess& server, const BenchPod& pod) {
  return ReadFileOrEmpty(server.state_dir() + "/containers/" + pod.container_id + "/console.log");
}

int Run(int seconds) {
  if (access("/usr/bin/iperf3", X_OK) != 0) {
    std::cerr << "iperf3 is not installed (apt-get install iperf3): no figure\n";
    return 1;
  }
  fs::create_directories(Work() + "/net.d");
  const std::string guest = Work() + "/guest";
  e2e::Shell(std::string(VMMAP_SOURCE_DIR) + "/tests/network/build-net-guest.sh " + guest +
             " >/dev/null");
  std::ofstream(guest + "/cmdline") << "console=ttyS0\n";
  const std::string bundle = Work() + "/net-guest.tar";
  e2e::Shell("tar -C " + guest + " -cf " + bundle + " vmlinuz initrd.img cmdline");
  std::ofstream(Work() + "/net.d/10-bench.conflist")
      << R"({"cniVersion":"1.0.0","name":"vmmap-bench","plugins":[)"
      << R"({"type":"bridge","bridge":")" << kBridge << R"(","isGateway":true,)"
      << R"("ipam":{"type":"host-local","dataDir":")" << Work()
      << R"(/leases","ranges":[[{"subnet":")" << kSubnetPrefix << R"(0/24","rangeEnd":")"
      << kSubnetPrefix << R"(100"}]]}},)"
      << R"({"type":"portmap","capabilities":{"portMappings":true}},{"type":"loopback"}]})";

  ServerOptions options;
  options.cni_conf_dir = Work() + "/net.d";
  ServerProcess server(Work() + "/state", options);
  server.Start();
  v1::PullImageRequest pull;
  pull.mutable_image()->set_image("file://" + bundle);
  v1::PullImageResponse pulled;
  if (!server.images().PullImage(Context().get(), pull, &pulled).ok()) {
    std::cerr << "pull of the network guest failed\n" << server.log();
    return 1;
  }
  const std::string image = pulled.image_ref();

  int rc = 0;
  double vm = -1;
  BenchPod a = StartPod(server, image, "iperf-a", "vmmap.iperf=server");
  BenchPod b;
  if (!a.ip.empty() &&
      e2e::WaitFor(
          [&] { return Console(server, a).find("VMMAP-IPERF-SERVER") != std::string::npos; },
          std::chrono::minutes(5))) {
    b = StartPod(server, image, "iperf-b", "vmmap.iperf=" + a.ip + ":" + std::to_string(seconds));
    if (!b.container_id.empty() &&
        e2e::WaitFor(
            [&] { return Console(server, b).find("VMMAP-IPERF-DONE") != std::string::npos; },
            std::chrono::minutes(10) + std::chrono::seconds(seconds))) {
      vm = ReceiverMbits(Console(server, b));
    }
  }
  if (vm < 0) {
    std::cerr << "no iperf3 figure from the VM pods; console of A:\n"
              << Console(server, a) << "\nconsole of B:\n"
              << Console(server, b) << "\n";
    rc = 1;
  }
  // The baseline runs while the VMs are idle (A's server waits), on the
  // bridge the CNI plugin made for them.
  const double plain = PlainNamespacesMbits(seconds);
  for (const BenchPod* p : {&a, &b}) {
    if (p->sandbox_id.empty()) continue;
    e2e::Pod pod{"", p->sandbox_id, p->container_id};
    e2e::RemovePod(server, pod);
  }
  if (plain < 0) {
    std::cerr << "no iperf3 figure between the plain namespaces\n";
    rc = 1;
  }
  std::printf("TCP throughput, iperf3 -t %d, one bridge (%s), this machine now:\n", seconds,
              kBridge);
  std::printf("  two plain netns (baseline, host kernel): %10.1f Mbit/s\n", plain);
  // The harness serves with --domain-type qemu: guests run under TCG.
  std::printf("  two VM pods (pod IP to pod IP, TCG):      %10.1f Mbit/s\n", vm);
  if (plain > 0 && vm > 0) std::printf("  ratio VM / baseline: %.4f\n", vm / plain);
  return rc;
}

}  // namespace
}  // namespace vmmap::bench

int main(int argc, char** argv) {
  int seconds = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("usage: %s [--seconds N]   iperf3 duration per side, 1..600 [10]\n", argv[0]);
      return 0;
    }
    if (arg == "--seconds" && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (end == nullptr || *end != '\0' || v < 1 || v > 600) {
        std::fprintf(stderr, "--seconds \"%s\": expected 1..600\n", argv[i]);
        return 2;
      }
      seconds = static_cast<int>(v);
      continue;
    }
    std::fprintf(stderr, "unknown argument \"%s\" (try --help)\n", arg.c_str());
    return 2;
  }
  // Before any thread exists, so the server and QEMU inherit both.
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 ||
      mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::fprintf(stderr, "cannot enter private network/mount namespaces: %s\n",
                 std::strerror(errno));
    return 1;
  }
  const int rc = vmmap::bench::Run(seconds);
  vmmap::e2e::CleanUpFixtures();
  return rc;
}
