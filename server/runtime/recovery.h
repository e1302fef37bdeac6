// Reconciles the store with libvirt and the disk after a restart (kill -9 at
// any point of any call), before the server accepts calls (so no object
// lock is needed):
//  * vmmap domains no committed row knows (a crash between define and
//    commit) are destroyed and undefined;
//  * pending rows are rolled back (their files removed, the row deleted);
//  * container directories no row knows are removed;
//  * sandbox rows whose network set-up was interrupted (network.pending: a
//    crash between the intent and the recorded CNI result) get CNI DEL and
//    their namespace removed, then the row is deleted; if DEL fails the row
//    stays pending (hidden from CRI readers) and the next start retries;
//  * committed rows learn what happened to their domains while vmmap was
//    down (ObserveDomain);
//  * the cgroup directories libvirt left for domains that no longer run
//    (orphans removed above, rows whose domain is shut off or gone) are
//    removed (server/runtime/domain_cgroups.h);
//  * a CREATED row whose domain runs (a crash inside StartContainer, after
//    the start and before the row said RUNNING) gets the limits applied
//    after start (server/runtime/post_start.h) and becomes RUNNING; if they
//    cannot be applied the domain is destroyed and the row stays CREATED.
//    The pod's tap is moved into its namespace first (idempotent).
// Never destroys on doubt: a domain is removed only after its owner's row is
// confirmed absent (or pending) by a direct read; domains without vmmap
// metadata are never touched; any store or libvirt listing error stops
// recovery before it changes anything and is returned.
#ifndef VMMAP_SERVER_RUNTIME_RECOVERY_H_
#define VMMAP_SERVER_RUNTIME_RECOVERY_H_

#include <string>

#include "absl/status/status.h"
#include "mapper/node_config.h"
#include "server/network/pod_network.h"
#include "server/state/state_store.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

absl::Status RecoverState(virt::Hypervisor& hypervisor, StateStore& store,
                          const std::string& containers_dir, const NodeConfig& node,
                          const std::string& cgroup_root, network::PodNetwork* network = nullptr);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_RECOVERY_H_
