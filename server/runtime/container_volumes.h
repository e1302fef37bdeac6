// A container's volumes across its lifecycle (server/volumes does the host
// work): virtiofsd moved into the domain's cgroups after start and on
// recovery; views and leftover virtiofsd removed with the container; views
// of containers that no longer exist removed on recovery.
#ifndef VMMAP_SERVER_RUNTIME_CONTAINER_VOLUMES_H_
#define VMMAP_SERVER_RUNTIME_CONTAINER_VOLUMES_H_

#include <string>

#include "absl/status/status.h"
#include "mapper/node_config.h"
#include "server/state/state_store.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

struct VolumePaths {
  std::string state_dir;
  std::string cgroup_root;
};

// Moves the container's virtiofsd processes into the running domain's
// cgroups (virtiofsd_procs.h). OK when the container shares nothing.
// Requires: the domain runs.
absl::Status AdoptVirtiofsd(const NodeConfig& node, const VolumePaths& paths,
                            const std::string& container_id, const std::string& domain_name);

// After the domain is destroyed: kills virtiofsd processes that outlived it
// and removes the views. Idempotent.
absl::Status ReleaseContainerVolumes(const VolumePaths& paths, const std::string& container_id);

// After RecoverState: releases the volumes of every container without a row
// and re-adopts the virtiofsd processes of every running domain's row. The
// first error is returned after trying the rest.
absl::Status RecoverVolumes(virt::Hypervisor& hypervisor, StateStore& store, const NodeConfig& node,
                            const VolumePaths& paths);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_CONTAINER_VOLUMES_H_
