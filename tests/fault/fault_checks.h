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

// Processes (QEMU, or an emulator wrapper not yet exec'ed) whose command
// line is a libvirt capability probe of the embedded driver under
// `state_dir` (its -qmp socket in <state_dir>/libvirt/lib/qemu/qmp-*), and
// those that already are QEMU. server/probe_qemus.h says why one can outlive
// a killed vmmap serve.
int ProbeProcesses(const std::string& state_dir);
int ProbeQemus(const std::string& state_dir);

// The cgroup directories of `pod`'s domain left in any controller, the
// unified hierarchy included.
std::vector<std::string> LeftoverCgroups(const std::string& pod);

// ListContainers filtered by sandbox ("" lists all), ListPodSandbox; a
// failed call is a test failure and an empty answer.
std::vector<runtime::v1::Container> Containers(ServerProcess& server,
                                               const std::string& sandbox_id);
std::vector<runtime::v1::PodSandbox> Sandboxes(ServerProcess& server);

// RunPodSandbox for pod `pod` (a failure is a test failure) and the
// CreateContainer request kubelet sends next, for `image`: tests send it
// themselves, to break something while it runs.
runtime::v1::CreateContainerRequest RunSandboxForCreate(ServerProcess& server,
                                                        const std::string& pod,
                                                        const std::string& image);

// An <emulator> (the harness's QEMU wrapper behind it) that sleeps `seconds`
// before QEMU runs for pod `pod`'s domains only: libvirt has forked, made the
// domain's cgroups and is waiting for QEMU, so a kill at that point lands
// inside the start on any machine. Returns its path.
std::string SlowStartEmulator(const std::string& pod, int seconds);

// An <emulator> (the harness's QEMU wrapper behind it) whose first
// capability probe (`-machine none`) creates `<dir>/probe-started` and then
// waits until the test creates `<dir>/probe-go` before QEMU runs: libvirt is
// inside the probe for as long as the test needs. Returns its path.
std::string HeldProbeEmulator(const std::string& dir);

}  // namespace vmmap::e2e

#endif  // VMMAP_TESTS_FAULT_FAULT_CHECKS_H_
