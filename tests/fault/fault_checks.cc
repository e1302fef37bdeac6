#include "tests/fault/fault_checks.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace vmmap::e2e {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

const char* const kControllers[] = {"cpu",     "cpuacct", "cpuset",  "memory", "blkio",
                                    "freezer", "pids",    "devices", "unified"};

}  // namespace

bool DirHasEntries(const std::string& dir) {
  std::error_code ec;
  return fs::directory_iterator(dir, ec) != fs::directory_iterator();
}

int QemuProcesses(const std::string& pod) {
  return std::stoi(Shell("pgrep -c -f '[g]uest=vmmap-e2e-" + pod + "-' || true"));
}

int ProbeProcesses(const std::string& state_dir) {
  return std::stoi(
      Shell("pgrep -c -f -- '[-]qmp unix:" + state_dir + "/libvirt/lib/qemu/qmp-' || true"));
}

int ProbeQemus(const std::string& state_dir) {
  return std::stoi(Shell("pgrep -c -f -- '[q]emu-system-x86_64 -S .*-qmp unix:" + state_dir +
                         "/libvirt/lib/qemu/qmp-' || true"));
}

std::vector<std::string> LeftoverCgroups(const std::string& pod) {
  std::vector<std::string> left;
  for (const char* controller : kControllers) {
    const std::string dir = DomainCgroup(controller, pod);
    if (!dir.empty()) left.push_back(dir);
  }
  return left;
}

std::vector<v1::Container> Containers(ServerProcess& server, const std::string& sandbox_id) {
  v1::ListContainersRequest request;
  if (!sandbox_id.empty()) request.mutable_filter()->set_pod_sandbox_id(sandbox_id);
  v1::ListContainersResponse response;
  grpc::Status s = server.runtime().ListContainers(Context().get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {response.containers().begin(), response.containers().end()};
}

std::vector<v1::PodSandbox> Sandboxes(ServerProcess& server) {
  v1::ListPodSandboxResponse response;
  grpc::Status s = server.runtime().ListPodSandbox(Context().get(), {}, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return {response.items().begin(), response.items().end()};
}

v1::CreateContainerRequest RunSandboxForCreate(ServerProcess& server, const std::string& pod,
                                               const std::string& image) {
  v1::RunPodSandboxRequest run;
  *run.mutable_config() = SandboxConfig(pod, 1000, 256 << 20, 1);
  v1::RunPodSandboxResponse ran;
  grpc::Status s = server.runtime().RunPodSandbox(Context().get(), run, &ran);
  EXPECT_TRUE(s.ok()) << s.error_message();
  v1::CreateContainerRequest create;
  create.set_pod_sandbox_id(ran.pod_sandbox_id());
  *create.mutable_config() = ContainerConfig(image, 1000, 256 << 20, {});
  *create.mutable_sandbox_config() = run.config();
  return create;
}

std::string SlowStartEmulator(const std::string& pod, int seconds) {
  const std::string path = GetFixtures().work_dir + "/qemu-slow-start-" + pod;
  std::ofstream(path) << "#!/bin/sh\n"
                      << "case \"$*\" in *guest=vmmap-e2e-" << pod << "-*) sleep " << seconds
                      << ";; esac\n"
                      << "exec " << GetFixtures().qemu_wrapper << " \"$@\"\n";
  fs::permissions(path, fs::perms(0755));
  return path;
}

std::string HeldProbeEmulator(const std::string& dir) {
  const std::string path = dir + "/held-probe-emulator";
  fs::create_directories(dir);
  // Held for at most 10 minutes, so a failed test cannot leave it waiting.
  std::ofstream(path) << "#!/bin/sh\n"
                      << "case \"$*\" in *'-machine none'*)\n"
                      << "  if [ ! -e " << dir << "/probe-go ]; then\n"
                      << "    : >" << dir << "/probe-started\n"
                      << "    i=0; while [ ! -e " << dir << "/probe-go ] && [ $i -lt 6000 ]; do\n"
                      << "      sleep 0.1; i=$((i + 1)); done\n"
                      << "  fi;;\n"
                      << "esac\n"
                      << "exec " << GetFixtures().qemu_wrapper << " \"$@\"\n";
  fs::permissions(path, fs::perms(0755));
  return path;
}

}  // namespace vmmap::e2e
