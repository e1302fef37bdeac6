// One reading of every domain on the connection: ONE libvirt call (the domain
// list with states and UUIDs), then each running domain's cgroup files. No
// per-domain libvirt call and no QMP round trip, so a refresh costs file
// reads, not QEMU's attention.
//
// Where each domain's cgroup is comes from its QEMU process (CgroupFs): found
// once per domain start (one /proc pass for all new domains together) and
// cached by UUID until the domain stops or its files vanish (a restart gives
// it a new cgroup: located again in the same refresh). A running domain
// whose QEMU is not on this host (a remote libvirt) is looked for again at
// most every `relocate_after`.
//
// Thread-safe; refreshes are serialised by mu_.
#ifndef VMMAP_SERVER_STATS_DOMAIN_SAMPLER_H_
#define VMMAP_SERVER_STATS_DOMAIN_SAMPLER_H_

#include <chrono>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/base/clock.h"
#include "server/stats/domain_cgroup.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

struct DomainSample {
  bool active = false;  // has a QEMU process (running, paused, ...)
  // The cgroup's figures; nullopt for an inactive domain, or an active one
  // whose cgroup could not be read (figures unknown, never zero).
  std::optional<CgroupSample> cgroup;
};

// Is a domain in this libvirt state backed by a QEMU process?
bool HasProcess(const virt::DomainStatus& status);

class DomainSampler {
 public:
  DomainSampler(virt::Hypervisor* hypervisor, CgroupFs cgroups, const Clock* clock,
                std::chrono::seconds relocate_after = std::chrono::seconds(30));

  // Every domain on the connection by name. Fails only when the listing does.
  absl::StatusOr<absl::flat_hash_map<std::string, DomainSample>> Sample();

 private:
  // Locates the domains of `uuids` (one /proc pass) into located_.
  void Locate(const absl::flat_hash_set<std::string>& uuids) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  virt::Hypervisor* const hypervisor_;
  const CgroupFs cgroups_;
  const Clock* const clock_;
  const std::chrono::seconds relocate_after_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, DomainCgroupFiles> located_ ABSL_GUARDED_BY(mu_);  // by UUID
  absl::flat_hash_map<std::string, std::chrono::steady_clock::time_point> not_found_
      ABSL_GUARDED_BY(mu_);  // UUID → when it was last looked for in vain
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATS_DOMAIN_SAMPLER_H_
