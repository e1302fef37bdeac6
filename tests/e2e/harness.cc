#include "tests/e2e/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "mapper/kubelet_math.h"

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

std::string SourceDir() { return VMMAP_SOURCE_DIR; }

}  // namespace

std::string Shell(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen failed: " << command;
    return "";
  }
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << "command failed: " << command << "\n" << output;
  return output;
}

int ShellStatus(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

const Fixtures& GetFixtures() {
  static const Fixtures* fixtures = [] {
    auto* f = new Fixtures;
    f->work_dir = "/var/tmp/vmmap-e2e-" + std::to_string(getpid());
    fs::create_directories(f->work_dir + "/guest");
    fs::permissions(f->work_dir, fs::perms(0755));
    const std::string src = SourceDir();
    Shell(src + "/tests/e2e/guest/build-guest.sh " + f->work_dir + "/guest >/dev/null");
    std::ofstream(f->work_dir + "/guest/cmdline") << "console=ttyS0\n";
    f->bundle_tar = f->work_dir + "/guest-bundle.tar";
    Shell("tar -C " + f->work_dir + "/guest -cf " + f->bundle_tar + " vmlinuz initrd.img cmdline");
    Shell(src + "/tests/harness/build-shim.sh " + f->work_dir + " >/dev/null");
    f->shim_so = f->work_dir + "/libvmmap-memlock-shim.so";
    f->qemu_wrapper = f->work_dir + "/qemu-system-x86_64-shim";
    Shell(src + "/tests/harness/qemu-shim-wrapper.sh " + f->shim_so + " " + f->qemu_wrapper);
    f->cni_conf_dir = f->work_dir + "/cni/net.d";
    f->cni_bridge = "vmmape2e" + std::to_string(getpid() % 10000000);
    fs::create_directories(f->cni_conf_dir);
    std::ofstream(f->cni_conf_dir + "/10-e2e.conflist")
        << R"({"cniVersion":"1.0.0","name":"vmmap-e2e","plugins":[)"
        << R"({"type":"bridge","bridge":")" << f->cni_bridge << R"(","ipam":{"type":"host-local",)"
        << R"("dataDir":")" << f->work_dir
        << R"(/cni/leases","ranges":[[{"subnet":"10.213.0.0/16"}]]}},)"
        << R"({"type":"portmap","capabilities":{"portMappings":true}},{"type":"loopback"}]})";
    return f;
  }();
  return *fixtures;
}

void CleanUpFixtures() {
  const std::string dir = "/var/tmp/vmmap-e2e-" + std::to_string(getpid());
  if (!fs::exists(dir)) return;
  // Only the daemons libvirtd.sh started (it records their pids) are stopped.
  ShellStatus(SourceDir() + "/tests/harness/libvirtd.sh stop " + dir + "/libvirtd >/dev/null 2>&1");
  // The pod network's bridge (pods' veths went with their namespaces).
  ShellStatus("ip link del vmmape2e" + std::to_string(getpid() % 10000000) + " >/dev/null 2>&1");
  std::error_code ec;
  fs::remove_all(dir, ec);
}

namespace {
// Every test binary that links the harness cleans up after itself.
class FixturesCleanup : public ::testing::Environment {
 public:
  void TearDown() override { CleanUpFixtures(); }
};
const ::testing::Environment* const kFixturesCleanup =
    ::testing::AddGlobalTestEnvironment(new FixturesCleanup);
}  // namespace

ServerProcess::ServerProcess(std::string state_dir, ServerOptions options)
    : state_dir_(std::move(state_dir)), options_(std::move(options)) {
  socket_ = state_dir_ + "/vmmap.sock";
  log_path_ = state_dir_ + ".log";
  fs::create_directories(state_dir_);
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Terminate();
}

void ServerProcess::Start() {
  std::vector<std::string> args = {VMMAP_BINARY, "serve", "--socket", socket_, "--state-dir",
                                   state_dir_, "--domain-type", "qemu", "--emulator",
                                   GetFixtures().qemu_wrapper,
                                   // file:// pulls of the fixtures (PullBundle)
                                   "--image-import-root", GetFixtures().work_dir};
  args.push_back("--cni-conf-dir");
  args.push_back(options_.cni_conf_dir.empty() ? GetFixtures().cni_conf_dir
                                               : options_.cni_conf_dir);
  if (!options_.cni_bin_dir.empty()) {
    args.push_back("--cni-bin-dir");
    args.push_back(options_.cni_bin_dir);
  }
  if (!options_.libvirt_uri.empty()) {
    args.push_back("--libvirt-uri");
    args.push_back(options_.libvirt_uri);
  }
  args.insert(args.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  const std::string preload = options_.preload_shim ? "LD_PRELOAD=" + GetFixtures().shim_so : "";
  pid_ = fork();
  if (pid_ == 0) {
    const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(log, 1);
    dup2(log, 2);
    if (!preload.empty()) putenv(const_cast<char*>(preload.c_str()));
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  auto channel = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
  runtime_ = v1::RuntimeService::NewStub(channel);
  images_ = v1::ImageService::NewStub(channel);
  const bool up = WaitFor(
      [&] {
        v1::VersionResponse response;
        auto ctx = Context(std::chrono::seconds(1));
        return runtime_->Version(ctx.get(), v1::VersionRequest(), &response).ok();
      },
      kRuntimeRequestTimeout);
  ASSERT_TRUE(up) << "vmmap serve did not answer; its log:\n" << log();
}

void ServerProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void ServerProcess::Terminate() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  // A signal to this process (a bench being interrupted) must not end the
  // wait early: the server holds the embedded driver's root until it exits.
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void AssertSuiteReady(const ServerProcess* server, bool booted, std::chrono::minutes boot_deadline,
                      const std::function<std::string()>& console) {
  ASSERT_TRUE(server != nullptr && server->running())
      << "the suite's server is not running (see the first failure)";
  ASSERT_TRUE(booted) << "the suite's guests did not boot within " << boot_deadline.count()
                      << " min; " << console() << "\n--- server log ---\n"
                      << server->log();
}

void PrintServerLogOnFailure(const ServerProcess* server) {
  if (::testing::Test::HasFailure() && server != nullptr) {
    std::cerr << "--- vmmap serve log ---\n" << server->log();
  }
}

std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

v1::PodSandboxConfig SandboxConfig(const std::string& name, int64_t cpu_milli, int64_t memory_bytes,
                                   int vcpus) {
  v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_metadata()->set_namespace_("e2e");
  config.mutable_metadata()->set_uid("uid-" + name);
  (*config.mutable_labels())["app"] = name;
  if (vcpus > 0) (*config.mutable_annotations())["vmmap.io/vcpus"] = std::to_string(vcpus);
  config.set_log_directory(GetFixtures().work_dir + "/pod-logs/e2e_" + name);
  v1::LinuxContainerResources* r = config.mutable_linux()->mutable_resources();
  r->set_cpu_period(kDefaultQuotaPeriodUs);
  r->set_cpu_quota(MilliCpuToQuota(cpu_milli, kDefaultQuotaPeriodUs));
  r->set_cpu_shares(MilliCpuToShares(cpu_milli));
  r->set_memory_limit_in_bytes(memory_bytes);
  config.mutable_linux()->set_cgroup_parent("/kubepods/burstable/poduid-" + name);
  return config;
}

v1::ContainerConfig ContainerConfig(const std::string& image, int64_t cpu_milli,
                                    int64_t memory_bytes, const std::vector<std::string>& args) {
  v1::ContainerConfig config;
  config.mutable_metadata()->set_name("vm");
  config.mutable_image()->set_image(image);
  for (const std::string& a : args) config.add_args(a);
  config.set_log_path("vm/0.log");
  (*config.mutable_labels())["io.kubernetes.container.name"] = "vm";
  v1::LinuxContainerResources* r = config.mutable_linux()->mutable_resources();
  r->set_cpu_period(kDefaultQuotaPeriodUs);
  r->set_cpu_quota(MilliCpuToQuota(cpu_milli, kDefaultQuotaPeriodUs));
  r->set_cpu_shares(MilliCpuToShares(cpu_milli));
  r->set_memory_limit_in_bytes(memory_bytes);
  return config;
}

std::string PullBundle(ServerProcess& server) {
  v1::PullImageRequest pull;
  pull.mutable_image()->set_image("file://" + GetFixtures().bundle_tar);
  v1::PullImageResponse pulled;
  grpc::Status s = server.images().PullImage(Context().get(), pull, &pulled);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return pulled.image_ref();
}

Pod CreatePod(ServerProcess& server, const PodRequest& request,
              const std::vector<v1::Mount>& mounts) {
  Pod pod;
  pod.name = request.name;
  v1::RunPodSandboxRequest run;
  *run.mutable_config() =
      SandboxConfig(request.name, request.cpu_milli, request.memory_bytes, request.vcpus);
  for (const auto& [k, v] : request.annotations) {
    (*run.mutable_config()->mutable_annotations())[k] = v;
  }
  if (request.overhead_cpu_milli > 0 || request.overhead_memory_bytes > 0) {
    v1::LinuxContainerResources* o = run.mutable_config()->mutable_linux()->mutable_overhead();
    o->set_cpu_period(kDefaultQuotaPeriodUs);
    o->set_cpu_quota(MilliCpuToQuota(request.overhead_cpu_milli, kDefaultQuotaPeriodUs));
    o->set_cpu_shares(MilliCpuToShares(request.overhead_cpu_milli));
    o->set_memory_limit_in_bytes(request.overhead_memory_bytes);
  }
  v1::RunPodSandboxResponse ran;
  grpc::Status s = server.runtime().RunPodSandbox(Context().get(), run, &ran);
  EXPECT_TRUE(s.ok()) << s.error_message();
  pod.sandbox_id = ran.pod_sandbox_id();

  v1::CreateContainerRequest create;
  create.set_pod_sandbox_id(pod.sandbox_id);
  *create.mutable_config() =
      ContainerConfig(request.image, request.cpu_milli, request.memory_bytes, request.kernel_args);
  (*create.mutable_config()->mutable_labels())["pod"] = request.name;
  for (const v1::Mount& mount : mounts) *create.mutable_config()->add_mounts() = mount;
  *create.mutable_sandbox_config() = run.config();
  v1::CreateContainerResponse created;
  s = server.runtime().CreateContainer(Context().get(), create, &created);
  EXPECT_TRUE(s.ok()) << s.error_message() << "\n" << server.log();
  pod.container_id = created.container_id();
  return pod;
}

grpc::Status StartContainer(ServerProcess& server, const std::string& container_id) {
  v1::StartContainerRequest start;
  start.set_container_id(container_id);
  v1::StartContainerResponse started;
  return server.runtime().StartContainer(Context().get(), start, &started);
}

void RemovePod(ServerProcess& server, const Pod& pod) {
  v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(pod.sandbox_id);
  v1::StopPodSandboxResponse stopped;
  EXPECT_TRUE(server.runtime().StopPodSandbox(Context().get(), stop, &stopped).ok());
  v1::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id(pod.sandbox_id);
  v1::RemovePodSandboxResponse removed;
  EXPECT_TRUE(server.runtime().RemovePodSandbox(Context().get(), remove, &removed).ok());
}

std::string DomainCgroup(const std::string& controller, const std::string& pod_name,
                         const std::string& partition_dir) {
  const fs::path partition = fs::path("/sys/fs/cgroup") / controller / partition_dir;
  const std::string marker = "-vmmap-e2e-" + pod_name + "-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(partition, ec)) {
    if (entry.is_directory() &&
        entry.path().filename().string().find(marker) != std::string::npos) {
      return entry.path().string();
    }
  }
  return "";
}

int64_t ReadCgroupInt(const std::string& path) {
  const std::string text = ReadFileOrEmpty(path);
  if (text.empty()) {
    ADD_FAILURE() << "cannot read " << path;
    return -1;
  }
  return std::stoll(text);
}

}  // namespace vmmap::e2e
