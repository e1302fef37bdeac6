// Pods and their VMs: the CRI runtime's lifecycle state machine, in typed
// records; no CRI message or gRPC type reaches this folder (server/cri
// converts at the edge).
//
// One pod sandbox runs one VM, defined when its (single) container is
// created and booted when it is started. State lives in the StateStore;
// the hypervisor is reached only through virt::Hypervisor. Domains are
// marked with <vmmap:pod sandbox-id=… container-id=…> metadata; domains
// without it are never touched.
//
// The pieces, one idea each: lock_table (per-object locks), recovery
// (reconcile after a restart), live_resize (UpdateContainerResources),
// container_layout (pure: plan + image + config → domain spec),
// domain_observation (pure: what a domain's state means for its record).
//
// Locking rule: every change to an object's row happens under that object's
// lock (LockTable; a sandbox's before its container's). Read-only calls
// (status, list) refresh a row from libvirt only if they get its lock
// without waiting (TryLock), re-reading the row and the domain's state under
// it; if a change holds the lock they return the stored row as it is.
//
// Invariants:
//  * every non-pending container row has a defined domain, unless the
//    domain vanished behind our back (then the row says so and is EXITED);
//  * a pending row's overlay and domain may or may not exist; Recover()
//    rolls them back;
//  * a sandbox row with network.pending may have a netns, veth and lease
//    but no recorded result; it is invisible to CRI readers and Recover()
//    runs DEL for it and deletes it;
//  * no call waits for a guest to boot; StopContainer waits at most its
//    timeout (or until cancelled) for an ACPI shutdown before destroying.
#ifndef VMMAP_SERVER_RUNTIME_POD_RUNTIME_H_
#define VMMAP_SERVER_RUNTIME_POD_RUNTIME_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mapper/node_config.h"
#include "server/guest/guest_exec.h"
#include "server/images/image_store.h"
#include "server/network/pod_network.h"
#include "server/runtime/filters.h"
#include "server/runtime/lock_table.h"
#include "server/state/state_store.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

struct RuntimeOptions {
  std::string state_dir;  // containers/<id>/ holds overlays and console logs
  NodeConfig node;
  // The pod network (not owned). Null: no pod network at all, every VM runs
  // without a NIC and NetworkReady is reported true (tests on libvirt's
  // test driver, which has no taps).
  network::PodNetwork* network = nullptr;
  // Where the cgroup controllers are mounted: libvirt's leftover domain
  // cgroups are removed below it (server/runtime/domain_cgroups.h).
  std::string cgroup_root = "/sys/fs/cgroup";
  // Where libvirt writes each domain's QEMU log (<name>.log): the embedded
  // driver's <root>/log/qemu. libvirt never deletes these, and every
  // container gets a domain name of its own, so RemoveContainer deletes its
  // domain's log (the kill loop found one left per container ever started).
  // Empty: left alone (libvirtd's /var/log/libvirt/qemu is the host's).
  std::string domain_log_dir = "";
};

// True once the caller has gone away (deadline passed, call cancelled).
using CancelledFn = std::function<bool()>;

class PodRuntime {
 public:
  PodRuntime(RuntimeOptions options, virt::Hypervisor* hypervisor, StateStore* store,
             ImageStore* images);

  // See recovery.h. Call before serving.
  absl::Status Recover();

  absl::StatusOr<std::string> RunPodSandbox(const SandboxConfig& config);
  absl::Status StopPodSandbox(const std::string& id);
  absl::Status RemovePodSandbox(const std::string& id);
  absl::StatusOr<SandboxRecord> PodSandboxStatus(const std::string& id);
  absl::StatusOr<std::vector<SandboxRecord>> ListPodSandbox(const SandboxFilter& filter);
  // What the CRI Status call reports as NetworkReady.
  network::NetworkReadiness NetworkReadiness() const;

  absl::StatusOr<std::string> CreateContainer(const std::string& sandbox_id,
                                              const ContainerConfig& config,
                                              const LinuxResources& resources);
  absl::Status StartContainer(const std::string& id);
  absl::Status StopContainer(const std::string& id, int64_t timeout_seconds,
                             const CancelledFn& cancelled = nullptr);
  absl::Status RemoveContainer(const std::string& id);
  absl::StatusOr<ContainerRecord> ContainerStatus(const std::string& id);
  absl::StatusOr<std::vector<ContainerRecord>> ListContainers(const ContainerFilter& filter);
  absl::Status UpdateContainerResources(const std::string& id, const LinuxResources& resources);
  // Runs `cmd` in the container's VM through qemu-guest-agent (guest_exec.h
  // has the codes). FailedPrecondition unless the container is RUNNING. Holds
  // no lock while the command runs: a probe never delays Stop or Remove
  // (a guest stopped under it answers with the agent's error).
  absl::StatusOr<guest::ExecResult> ExecSync(const std::string& id,
                                             const std::vector<std::string>& cmd,
                                             int64_t timeout_seconds,
                                             const CancelledFn& cancelled = nullptr);

  // The container that uses an image, if any: RemoveImage refuses while in use.
  std::optional<std::string> ImageUser(const std::string& image_id);

  // All container records, read-only, for stats and logs.
  absl::StatusOr<std::vector<ContainerRecord>> Containers() { return store_->ListContainers(); }
  // Sandbox records, read-only, for stats.
  absl::StatusOr<std::vector<SandboxRecord>> Sandboxes() { return store_->ListSandboxes(); }

  // Per-object locks alive now (0 when no call is in flight).
  size_t locks_in_use() const { return locks_.size(); }

 private:
  // Re-reads the row and its domain's state and persists what changed.
  // Requires: the container's lock.
  absl::StatusOr<ContainerRecord> RefreshLocked(const std::string& id);
  // The row, refreshed if its lock is free; as stored if a change holds it.
  absl::StatusOr<ContainerRecord> RefreshIfIdle(const ContainerRecord& stored);
  // Requires: the container's lock.
  absl::Status StopContainerLocked(const std::string& id, int64_t timeout_seconds,
                                   const CancelledFn& cancelled);
  // Requires: the container's lock.
  absl::Status RemoveContainerLocked(const ContainerRecord& record);
  std::string ContainerDir(const std::string& id) const;
  // Undoes a sandbox whose network set-up was abandoned (network.pending):
  // CNI DEL, its namespace, its row. Requires: the lock of its metadata name.
  absl::Status UndoAbandonedSandbox(const SandboxRecord& sandbox);
  // The guest NIC of a sandbox with a pod network; nullopt without one.
  absl::StatusOr<std::optional<network::GuestNic>> GuestNicOf(const SandboxRecord& sandbox);

  const RuntimeOptions options_;
  virt::Hypervisor* const hypervisor_;
  StateStore* const store_;
  ImageStore* const images_;
  LockTable locks_;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_POD_RUNTIME_H_
