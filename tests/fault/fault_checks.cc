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

std::string SlowStartEmulator(const std::string& pod, int seconds) {
  const std::string path = GetFixtures().work_dir + "/qemu-slow-start-" + pod;
  std::ofstream(path) << "#!/bin/sh\n"
                      << "case \"$*\" in *guest=vmmap-e2e-" << pod << "-*) sleep " << seconds
                      << ";; esac\n"
                      << "exec " << GetFixtures().qemu_wrapper << " \"$@\"\n";
  fs::permissions(path, fs::perms(0755));
  return path;
}

}  // namespace vmmap::e2e
