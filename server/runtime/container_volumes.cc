#include "server/runtime/container_volumes.h"

#include "absl/strings/str_cat.h"
#include "server/base/log.h"
#include "server/runtime/domain_cgroups.h"
#include "server/volumes/share_views.h"
#include "server/volumes/virtiofsd_procs.h"

namespace vmmap {

absl::Status AdoptVirtiofsd(const NodeConfig& node, const VolumePaths& paths,
                            const std::string& container_id, const std::string& domain_name) {
  const std::vector<pid_t> pids =
      volumes::FindVirtiofsd(volumes::ContainerViewsDir(paths.state_dir, container_id));
  if (pids.empty()) return absl::OkStatus();
  const std::vector<std::string> dirs =
      DomainHelperCgroupDirs(node, domain_name, paths.cgroup_root);
  if (dirs.empty() && node.cgroup_driver == CgroupDriver::kCgroupfs) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", container_id, ": domain ", domain_name, " has no cgroup under ",
                     paths.cgroup_root, " to move its virtiofsd processes into"));
  }
  if (absl::Status s = volumes::MoveIntoCgroups(pids, dirs); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("container ", container_id, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status ReleaseContainerVolumes(const VolumePaths& paths, const std::string& container_id) {
  absl::Status killed =
      volumes::KillVirtiofsd(volumes::ContainerViewsDir(paths.state_dir, container_id));
  absl::Status released = volumes::ReleaseViews(paths.state_dir, container_id);
  return killed.ok() ? released : killed;
}

absl::Status RecoverVolumes(virt::Hypervisor& hypervisor, StateStore& store, const NodeConfig& node,
                            const VolumePaths& paths) {
  absl::Status first;
  for (const std::string& id : volumes::ContainersWithViews(paths.state_dir)) {
    absl::StatusOr<ContainerRecord> row = store.GetContainer(id);
    if (absl::IsNotFound(row.status())) {
      VMMAP_LOG(kInfo, "recovery: removing the volume views of container ", id, " (no row)");
      if (absl::Status s = ReleaseContainerVolumes(paths, id); !s.ok() && first.ok()) first = s;
      continue;
    }
    if (!row.ok()) {
      if (first.ok()) first = row.status();
      continue;
    }
    absl::StatusOr<virt::DomainStatus> state = hypervisor.DomainState(row->domain_name);
    if (state.ok() && state->state == virt::PowerState::kRunning) {
      if (absl::Status s = AdoptVirtiofsd(node, paths, id, row->domain_name);
          !s.ok() && first.ok()) {
        first = s;
      }
    }
  }
  return first;
}

}  // namespace vmmap
