#include "server/stats/domain_sampler.h"

#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"

namespace vmmap {

// virDomainState values with a QEMU process behind them.
bool HasProcess(const virt::DomainStatus& status) {
  switch (status.raw_state) {
    case 1:  // running
    case 2:  // blocked
    case 3:  // paused
    case 4:  // shutting down
    case 7:  // pmsuspended
      return true;
    default:
      return false;
  }
}

DomainSampler::DomainSampler(virt::Hypervisor* hypervisor, CgroupFs cgroups, const Clock* clock,
                             std::chrono::seconds relocate_after)
    : hypervisor_(hypervisor),
      cgroups_(std::move(cgroups)),
      clock_(clock),
      relocate_after_(relocate_after) {}

void DomainSampler::Locate(const absl::flat_hash_set<std::string>& uuids) {
  if (uuids.empty()) return;
  const auto now = clock_->SteadyNow();
  absl::flat_hash_map<std::string, pid_t> pids = cgroups_.FindQemuByUuid(uuids);
  for (const std::string& uuid : uuids) {
    auto pid = pids.find(uuid);
    absl::StatusOr<DomainCgroupFiles> files =
        pid == pids.end() ? absl::NotFoundError("no QEMU process") : cgroups_.Locate(pid->second);
    if (files.ok()) {
      located_[uuid] = *std::move(files);
      not_found_.erase(uuid);
    } else {
      not_found_[uuid] = now;
    }
  }
}

absl::StatusOr<absl::flat_hash_map<std::string, DomainSample>> DomainSampler::Sample() {
  // The one libvirt call of a refresh.
  absl::StatusOr<std::vector<virt::DomainInfo>> domains = hypervisor_->ListDomains();
  if (!domains.ok()) return domains.status();

  absl::MutexLock lock(&mu_);
  const auto now = clock_->SteadyNow();
  absl::flat_hash_set<std::string> active;
  absl::flat_hash_set<std::string> to_locate;
  for (const virt::DomainInfo& d : *domains) {
    if (!HasProcess(d.status)) continue;
    active.insert(d.uuid);
    if (located_.contains(d.uuid)) continue;
    auto miss = not_found_.find(d.uuid);
    if (miss != not_found_.end() && now - miss->second < relocate_after_) continue;
    to_locate.insert(d.uuid);
  }
  // Forget domains that stopped or went away.
  for (auto it = located_.begin(); it != located_.end();) {
    if (active.contains(it->first)) {
      ++it;
    } else {
      located_.erase(it++);
    }
  }
  for (auto it = not_found_.begin(); it != not_found_.end();) {
    if (active.contains(it->first)) {
      ++it;
    } else {
      not_found_.erase(it++);
    }
  }
  Locate(to_locate);

  absl::flat_hash_map<std::string, DomainSample> out;
  std::vector<const virt::DomainInfo*> stale;  // files gone: restarted or stopping
  for (const virt::DomainInfo& d : *domains) {
    DomainSample& sample = out[d.name];
    sample.active = HasProcess(d.status);
    if (!sample.active) continue;
    auto files = located_.find(d.uuid);
    if (files == located_.end()) continue;
    // A restarted domain has a new QEMU (and cgroup); kept descriptors of
    // the old cgroup fail on read (ENODEV), but the process check also
    // catches a restart between two refreshes before anything is read.
    absl::StatusOr<CgroupSample> read =
        cgroups_.ProcessExists(files->second.pid)
            ? cgroups_.Read(files->second)
            : absl::StatusOr<CgroupSample>(absl::NotFoundError("QEMU process gone"));
    if (read.ok()) {
      sample.cgroup = *std::move(read);
    } else {
      located_.erase(files);
      stale.push_back(&d);
    }
  }
  if (!stale.empty()) {
    absl::flat_hash_set<std::string> uuids;
    for (const virt::DomainInfo* d : stale) uuids.insert(d->uuid);
    Locate(uuids);
    for (const virt::DomainInfo* d : stale) {
      auto files = located_.find(d->uuid);
      if (files == located_.end()) continue;
      absl::StatusOr<CgroupSample> read = cgroups_.Read(files->second);
      if (read.ok()) out[d->name].cgroup = *std::move(read);
    }
  }
  return out;
}

}  // namespace vmmap
