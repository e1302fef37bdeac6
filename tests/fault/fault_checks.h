// What the fault tests look at from outside a `vmmap serve` they kill: the
// objects it lists, the QEMU processes and cgroup directories of a pod's
// domain, the files under its state directory.
#ifndef VMMAP_TESTS_FAULT_FAULT_CHECKS_H_
#define VMMAP_TESTS_FAULT_FAULT_CHECKS_H_

#include <string>
#include <vector>

#include "runtime_v1.grpc.pb.h"
#include "tests/e2e/harness.h"

namespace vmmap::e2e {

bool DirHasEntries(const std::string& dir);

// QEMU processes of pod `pod`'s domains (the harness names domains
// vmmap-e2e-<pod>-…; pod names in one test never prefix each other).
int QemuProcesses(const std::string& pod);

// The cgroup directories of `pod`'s domain left in any controller, the
// unified hierarchy included.
std::vector<std::string> LeftoverCgroups(const std::string& pod);

// ListContainers filtered by sandbox ("" lists all), ListPodSandbox; a
// failed call is a test failure and an empty answer.
std::vector<runtime::v1::Container> Containers(ServerProcess& server,
                                               const std::string& sandbox_id);
std::vector<runtime::v1::PodSandbox> Sandboxes(ServerProcess& server);

// An <emulator> (the harness's QEMU wrapper behind it) that sleeps `seconds`
// before QEMU runs for pod `pod`'s domains only: libvirt has forked, made the
// domain's cgroups and is waiting for QEMU, so a kill at that point lands
// inside the start on any machine. Returns its path.
std::string SlowStartEmulator(const std::string& pod, int seconds);

}  // namespace vmmap::e2e

#endif  // VMMAP_TESTS_FAULT_FAULT_CHECKS_H_
