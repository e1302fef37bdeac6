// What the end-to-end tests need around the product: a guest image, the
// sandbox's memlock shims (harness only: see tests/harness/), a `vmmap serve`
// process they can kill -9, and a CRI client.
#ifndef VMMAP_TESTS_E2E_HARNESS_H_
#define VMMAP_TESTS_E2E_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime_v1.grpc.pb.h"

namespace vmmap::e2e {

// Runs `command` with /bin/sh; returns its stdout. Fails the test on non-zero exit.
std::string Shell(const std::string& command);
int ShellStatus(const std::string& command);
std::string ReadFileOrEmpty(const std::string& path);

// Polls `predicate` every 100 ms until it holds or `timeout` passes.
template <typename Predicate>
bool WaitFor(Predicate predicate, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  return predicate();
}

// Built once per test binary under a world-traversable work dir (QEMU may run
// as libvirt-qemu, which cannot enter /root or /tmp/<0700 dirs>).
struct Fixtures {
  std::string work_dir;
  std::string bundle_tar;    // vmlinuz + initrd.img + cmdline
  std::string shim_so;       // memlock shim
  std::string qemu_wrapper;  // <emulator> that preloads the shim into QEMU
  // A CNI config dir for the pod network (bridge + host-local + portmap +
  // loopback): a bridge of this process' own, without a host address or
  // routes, so pods get an IP and the host's network is left alone.
  std::string cni_conf_dir;
  std::string cni_bridge;
};
const Fixtures& GetFixtures();
// Stops the daemons the fixtures started and removes the work dir; for a
// test binary's global tear-down.
void CleanUpFixtures();

struct ServerOptions {
  std::string libvirt_uri;  // empty: the product's default (embedded driver)
  bool preload_shim = true;
  std::vector<std::string> extra_flags;
  std::string cni_conf_dir;  // empty: Fixtures::cni_conf_dir
  std::string cni_bin_dir;   // empty: the product's default
};

class ServerProcess {
 public:
  ServerProcess(std::string state_dir, ServerOptions options);
  ~ServerProcess();
  // Starts and waits until Version answers on the socket.
  void Start();
  void Kill9();
  void Terminate();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  const std::string& state_dir() const { return state_dir_; }
  std::string log() const { return ReadFileOrEmpty(log_path_); }

  runtime::v1::RuntimeService::Stub& runtime() { return *runtime_; }
  runtime::v1::ImageService::Stub& images() { return *images_; }

 private:
  std::string state_dir_;
  ServerOptions options_;
  std::string socket_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<runtime::v1::ImageService::Stub> images_;
};

// For the tests of a suite whose SetUpTestSuite started `server` and booted
// its guests (`booted`, waited for up to `boot_deadline`). SetUp: a fatal
// failure, with `console()` and the server's log, unless both happened.
// TearDown: the server's log on stderr after a failure.
void AssertSuiteReady(const ServerProcess* server, bool booted, std::chrono::minutes boot_deadline,
                      const std::function<std::string()>& console);
void PrintServerLogOnFailure(const ServerProcess* server);

// kubelet's default --runtime-request-timeout: how long kubelet itself lets a
// CRI call take. Tests use it for every call, so a slow machine is never a
// failure; a hung call still is.
constexpr std::chrono::seconds kRuntimeRequestTimeout{120};

// A deadline-bound client context.
std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds timeout = kRuntimeRequestTimeout);

// Sandbox and container configs shaped like kubelet's.
runtime::v1::PodSandboxConfig SandboxConfig(const std::string& name, int64_t cpu_milli,
                                            int64_t memory_bytes, int vcpus);
runtime::v1::ContainerConfig ContainerConfig(const std::string& image, int64_t cpu_milli,
                                             int64_t memory_bytes,
                                             const std::vector<std::string>& kernel_args);

// Pulls the guest kernel bundle; returns its image id.
std::string PullBundle(ServerProcess& server);

struct PodRequest {
  std::string name;
  std::string image;
  int64_t cpu_milli = 1000;
  int64_t memory_bytes = 256 << 20;
  int vcpus = 1;
  std::vector<std::string> kernel_args;
  std::map<std::string, std::string> annotations;
  // The RuntimeClass's overhead.podFixed, as kubelet passes it in
  // PodSandboxConfig.linux.overhead; zero: none declared.
  int64_t overhead_cpu_milli = 0;
  int64_t overhead_memory_bytes = 0;
};

struct Pod {
  std::string name;
  std::string sandbox_id;
  std::string container_id;
};

// RunPodSandbox + CreateContainer as kubelet sends them; the container is
// labelled pod=<name>. Failures are test failures, with the server's log.
// `mounts` are CreateContainer's volumes.
Pod CreatePod(ServerProcess& server, const PodRequest& request,
              const std::vector<runtime::v1::Mount>& mounts = {});
grpc::Status StartContainer(ServerProcess& server, const std::string& container_id);
// StopPodSandbox + RemovePodSandbox.
void RemovePod(ServerProcess& server, const Pod& pod);

// The cgroup of pod `pod_name`'s domain (namespace e2e) under the node
// partition's directory `partition_dir` for `controller`, or "". Other tests'
// domains may be there too.
std::string DomainCgroup(const std::string& controller, const std::string& pod_name,
                         const std::string& partition_dir = "vmmap.partition");
int64_t ReadCgroupInt(const std::string& path);

}  // namespace vmmap::e2e

#endif  // VMMAP_TESTS_E2E_HARNESS_H_
