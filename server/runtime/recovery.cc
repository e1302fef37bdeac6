#include "server/runtime/recovery.h"

#include <filesystem>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "mapper/domain_xml.h"
#include "server/base/log.h"
#include "server/runtime/domain_cgroups.h"
#include "server/runtime/domain_observation.h"
#include "server/runtime/domains.h"
#include "server/runtime/ids.h"
#include "server/runtime/post_start.h"
#include "server/runtime/sandbox_network.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

absl::Status Stop(const absl::Status& cause) {
  return absl::Status(cause.code(), absl::StrCat("recovery stopped before changing anything it "
                                                 "was unsure of: ",
                                                 cause.message()));
}

// Is `container_id`'s row absent or pending, read directly (not from a list
// that could have come back short)?
absl::StatusOr<bool> RowAbsentOrPending(StateStore& store, const std::string& container_id) {
  absl::StatusOr<ContainerRecord> row = store.GetContainer(container_id);
  if (absl::IsNotFound(row.status())) return true;
  if (!row.ok()) return row.status();
  return row->pending;
}

// The tap of a started domain joined to its pod namespace (idempotent).
absl::Status AttachPodTap(network::PodNetwork* network, const SandboxRecord& sandbox) {
  if (network == nullptr || sandbox.network.netns_path.empty()) return absl::OkStatus();
  absl::StatusOr<network::GuestNic> nic = network->GuestNicFor(
      NetworkRequestFor(sandbox), NetworkStateOf(sandbox), sandbox.config.hostname);
  if (!nic.ok()) return nic.status();
  return network->AttachTap(*nic, NetworkStateOf(sandbox));
}

// StartContainer started the domain but did not record RUNNING.
absl::Status CompleteInterruptedStart(virt::Hypervisor& hypervisor, StateStore& store,
                                      const ContainerRecord& record, const NodeConfig& node,
                                      network::PodNetwork* network) {
  absl::StatusOr<SandboxRecord> sandbox = store.GetSandbox(record.sandbox_id);
  if (!sandbox.ok()) return Stop(sandbox.status());
  // The start was never acknowledged: if it cannot be completed, the row
  // stays CREATED (a retry starts it) and the domain must not run.
  absl::StatusOr<PostStartLimits> limits = PlanPostStartLimits(sandbox->config, record, node);
  if (!limits.ok()) {
    VMMAP_LOG(kWarning, "recovery: container ", record.id, " was being started; ",
              limits.status().message());
    return PowerOff(hypervisor, record.domain_name);
  }
  if (absl::Status attached = AttachPodTap(network, *sandbox); !attached.ok()) {
    VMMAP_LOG(kWarning, "recovery: container ", record.id,
              " was being started; its tap: ", attached.message());
    return PowerOff(hypervisor, record.domain_name);
  }
  PostStartOutcome applied = ApplyPostStartLimits(hypervisor, record.domain_name, *limits);
  if (!applied.status.ok()) {
    VMMAP_LOG(kWarning, "recovery: container ", record.id, " was being started; ",
              applied.status.message());
    // Apply destroyed it already; if that failed too, stop rather than
    // serve a VM without its limits.
    return applied.domain_destroyed ? absl::OkStatus() : applied.status;
  }
  VMMAP_LOG(kInfo, "recovery: container ", record.id,
            " was being started: limits applied after start, now RUNNING");
  ContainerRecord running = record;
  running.state = ContainerState::kRunning;
  running.started_at_ns = NowNanos();
  return store.PutContainer(running);
}

// Sandboxes whose network set-up a crash interrupted: never returned to
// kubelet, so they are undone entirely.
absl::Status ReleaseInterruptedNetworkSetUps(StateStore& store, network::PodNetwork* network) {
  absl::StatusOr<std::vector<SandboxRecord>> sandboxes = store.ListSandboxes();
  if (!sandboxes.ok()) return Stop(sandboxes.status());
  for (const SandboxRecord& s : *sandboxes) {
    if (!s.network.pending) continue;
    if (network == nullptr) {
      VMMAP_LOG(kWarning, "recovery: sandbox ", s.id,
                " was setting up its pod network, but no "
                "pod network is configured now; left pending");
      continue;
    }
    VMMAP_LOG(kInfo, "recovery: sandbox ", s.id, " (", s.config.metadata.namespace_name, "/",
              s.config.metadata.name, ") was setting up its pod network: running CNI DEL");
    if (absl::Status released = ReleaseSandboxNetwork(*network, s, true); !released.ok()) {
      VMMAP_LOG(kWarning, "recovery: sandbox ", s.id, ": ", released.message(),
                "; left pending, the next start retries");
      continue;
    }
    if (absl::Status d = store.DeleteSandbox(s.id); !d.ok()) return d;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RecoverState(virt::Hypervisor& hypervisor, StateStore& store,
                          const std::string& containers_dir, const NodeConfig& node,
                          const std::string& cgroup_root, network::PodNetwork* network) {
  absl::StatusOr<std::vector<ContainerRecord>> records = store.ListContainers();
  if (!records.ok()) return Stop(records.status());
  absl::StatusOr<std::vector<virt::DomainInfo>> domains =
      hypervisor.ListDomainsWithMetadata(kMetadataNamespaceUri);
  if (!domains.ok()) return Stop(domains.status());
  // Container directories, listed before anything changes (never throws).
  std::vector<fs::path> dirs;
  {
    std::error_code ec;
    fs::directory_iterator it(containers_dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) dirs.push_back(it->path());
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return Stop(absl::UnavailableError(absl::StrCat(containers_dir, ": ", ec.message())));
    }
  }

  absl::flat_hash_map<std::string, const ContainerRecord*> by_id;
  // Domains that no longer run: libvirt may have left their cgroups behind.
  absl::flat_hash_set<std::string> ended;
  for (const ContainerRecord& r : *records) by_id[r.id] = &r;

  // vmmap domains no committed row knows: a crash between define and commit.
  for (const virt::DomainInfo& d : *domains) {
    std::optional<DomainOwner> owner = ParseDomainOwner(d.metadata);
    if (!owner) continue;  // not ours: never touched
    auto it = by_id.find(owner->container_id);
    if (it != by_id.end() && !it->second->pending) continue;
    absl::StatusOr<bool> orphan = RowAbsentOrPending(store, owner->container_id);
    if (!orphan.ok()) return Stop(orphan.status());
    if (!*orphan) continue;
    VMMAP_LOG(kInfo, "recovery: removing orphaned domain ", d.name, " of container ",
              owner->container_id);
    if (absl::Status s = DestroyAndUndefine(hypervisor, d.name); !s.ok()) return s;
    ended.insert(d.name);
  }
  // Pending rows: roll back whatever part was created.
  for (const ContainerRecord& r : *records) {
    if (!r.pending) continue;
    VMMAP_LOG(kInfo, "recovery: rolling back half-created container ", r.id);
    std::error_code ec;
    fs::remove_all(fs::path(containers_dir) / r.id, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("recovery: removing ", containers_dir, "/", r.id, ": ", ec.message()));
    }
    if (absl::Status s = store.DeleteContainer(r.id); !s.ok()) return s;
  }
  // Container directories no committed row knows.
  for (const fs::path& dir : dirs) {
    const std::string id = dir.filename().string();
    auto it = by_id.find(id);
    if (it != by_id.end() && !it->second->pending) continue;
    absl::StatusOr<bool> orphan = RowAbsentOrPending(store, id);
    if (!orphan.ok()) return orphan.status();
    if (!*orphan) continue;
    VMMAP_LOG(kInfo, "recovery: removing orphaned container directory ", dir.string());
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec)
      return absl::UnavailableError(
          absl::StrCat("recovery: removing ", dir.string(), ": ", ec.message()));
  }
  // Committed rows: learn what happened to their domains while we were away.
  for (const ContainerRecord& r : *records) {
    if (r.pending) continue;
    const absl::StatusOr<virt::DomainStatus> status = hypervisor.DomainState(r.domain_name);
    if (r.state == ContainerState::kCreated && status.ok() && status->starting_up) {
      // vmmap died inside virDomainCreate, and libvirt's reconnect (which
      // runs on its own thread) is about to kill the domain, perhaps after
      // recovery had taken it for started (issue 8: a VM listed RUNNING,
      // then EXITED "the guest powered off"). Power it off here, so the row
      // stays CREATED with its domain off, and a retry starts it.
      VMMAP_LOG(kInfo, "recovery: container ", r.id, " was being started; libvirt had not ",
                "finished starting ", r.domain_name, ": powered off, the container stays CREATED");
      if (absl::Status s = PowerOff(hypervisor, r.domain_name); !s.ok()) return s;
      ended.insert(r.domain_name);
      continue;
    }
    if (r.state == ContainerState::kCreated && status.ok() &&
        status->state != virt::PowerState::kShutoff) {
      if (absl::Status s = CompleteInterruptedStart(hypervisor, store, r, node, network); !s.ok()) {
        return s;
      }
      continue;
    }
    if (absl::IsNotFound(status.status()) ||
        (status.ok() && status->state == virt::PowerState::kShutoff)) {
      ended.insert(r.domain_name);
    }
    std::optional<ContainerRecord> changed = ObserveDomain(r, status, NowNanos());
    if (!changed) continue;
    if (absl::Status s = store.PutContainer(*changed); !s.ok()) return s;
  }
  // Not a reason to stop serving: RemoveContainer tries again for its domain.
  if (absl::Status s = RemoveDomainCgroups(node, ended, cgroup_root); !s.ok()) {
    VMMAP_LOG(kWarning, "recovery: ", s.message());
  }
  return ReleaseInterruptedNetworkSetUps(store, network);
}

}  // namespace vmmap
