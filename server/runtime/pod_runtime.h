// Pods and their VMs: the CRI runtime's state machine, independent of gRPC.
//
// One pod sandbox runs one VM, defined when its (single) container is
// created and booted when it is started. State lives in the StateStore;
// the hypervisor is reached only through virt::Hypervisor. Domains are
// marked with <vmmap:pod sandbox-id=… container-id=…> metadata; domains
// without it are never touched.
//
// Invariants:
//  * every non-pending container row has a defined domain, unless the
//    domain vanished behind our back (then the row says so and is EXITED);
//  * a pending row's overlay and domain may or may not exist; Recover()
//    rolls them back;
//  * no call waits for a guest to boot; StopContainer waits at most its
//    timeout for an ACPI shutdown before destroying.
#ifndef VMMAP_SERVER_RUNTIME_POD_RUNTIME_H_
#define VMMAP_SERVER_RUNTIME_POD_RUNTIME_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mapper/node_config.h"
#include "runtime_v1.pb.h"
#include "server/images/image_store.h"
#include "server/state/state_store.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

struct RuntimeOptions {
  std::string state_dir;  // containers/<id>/ holds overlays and console logs
  NodeConfig node;
};

class PodRuntime {
 public:
  PodRuntime(RuntimeOptions options, virt::Hypervisor* hypervisor, StateStore* store,
             ImageStore* images);

  // Reconciles the store with libvirt after a restart: rolls back pending
  // containers, removes vmmap domains no row knows, marks containers whose
  // domain is gone or stopped as exited, deletes orphaned container files.
  absl::Status Recover();

  absl::StatusOr<std::string> RunPodSandbox(const runtime::v1::PodSandboxConfig& config,
                                            const std::string& runtime_handler);
  absl::Status StopPodSandbox(const std::string& id);
  absl::Status RemovePodSandbox(const std::string& id);
  absl::StatusOr<runtime::v1::PodSandboxStatus> PodSandboxStatus(const std::string& id);
  absl::StatusOr<std::vector<runtime::v1::PodSandbox>> ListPodSandbox(
      const runtime::v1::PodSandboxFilter& filter);

  absl::StatusOr<std::string> CreateContainer(const std::string& sandbox_id,
                                              const runtime::v1::ContainerConfig& config);
  absl::Status StartContainer(const std::string& id);
  absl::Status StopContainer(const std::string& id, int64_t timeout_seconds);
  absl::Status RemoveContainer(const std::string& id);
  absl::StatusOr<runtime::v1::ContainerStatus> ContainerStatus(const std::string& id);
  absl::StatusOr<std::vector<runtime::v1::Container>> ListContainers(
      const runtime::v1::ContainerFilter& filter);
  absl::Status UpdateContainerResources(const std::string& id,
                                        const runtime::v1::LinuxContainerResources& resources);

  // The image a container uses, if any: RemoveImage refuses while in use.
  std::optional<std::string> ImageUser(const std::string& image_id);

  // All container records, read-only, for stats and logs.
  absl::StatusOr<std::vector<ContainerRecord>> Containers() { return store_->ListContainers(); }
  // Sandbox records, read-only, for stats.
  absl::StatusOr<std::vector<SandboxRecord>> Sandboxes() { return store_->ListSandboxes(); }

 private:
  // Serialises changes to one object (sandbox or container id) without
  // blocking calls on other objects.
  absl::Mutex* LockFor(const std::string& id);

  // Brings a RUNNING/CREATED row in line with its domain's real state and
  // persists the change. `status` is the domain's state if already known.
  ContainerRecord Refresh(ContainerRecord record, const absl::StatusOr<virt::DomainStatus>& status);
  // Refresh for read-only calls: re-reads the row under its lock, or returns
  // `record` unchanged if a state change holds the lock.
  ContainerRecord RefreshUnlessBusy(ContainerRecord record,
                                    const absl::StatusOr<virt::DomainStatus>& status);
  absl::Status DestroyAndUndefine(const std::string& domain_name);
  absl::Status RemoveContainerLocked(const ContainerRecord& record);
  std::string ContainerDir(const std::string& id) const;

  const RuntimeOptions options_;
  virt::Hypervisor* const hypervisor_;
  StateStore* const store_;
  ImageStore* const images_;

  absl::Mutex locks_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<absl::Mutex>> locks_ ABSL_GUARDED_BY(locks_mu_);
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_POD_RUNTIME_H_
