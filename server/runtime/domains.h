// Domain housekeeping shared by the lifecycle and recovery: which domains
// are vmmap's, and removing one whatever state it is in.
#ifndef VMMAP_SERVER_RUNTIME_DOMAINS_H_
#define VMMAP_SERVER_RUNTIME_DOMAINS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "server/virt/hypervisor.h"

namespace vmmap {

// Owner attributes of a vmmap domain, from its <vmmap:pod> metadata element.
struct DomainOwner {
  std::string sandbox_id;
  std::string container_id;
};

// nullopt unless the metadata parses and names a container: such a domain
// is not (recognisably) vmmap's and is never touched.
std::optional<DomainOwner> ParseDomainOwner(const std::string& metadata);

// Destroys (hard power-off) if it runs; a domain already shut off or gone
// is success.
absl::Status PowerOff(virt::Hypervisor& hypervisor, const std::string& domain_name);

// Destroys (if running) and undefines; a domain already gone is success.
absl::Status DestroyAndUndefine(virt::Hypervisor& hypervisor, const std::string& domain_name);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_DOMAINS_H_
