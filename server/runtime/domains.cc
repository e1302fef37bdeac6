#include "server/runtime/domains.h"

#include <pugixml.hpp>

namespace vmmap {

std::optional<DomainOwner> ParseDomainOwner(const std::string& metadata) {
  if (metadata.empty()) return std::nullopt;
  pugi::xml_document doc;
  if (!doc.load_string(metadata.c_str())) return std::nullopt;
  pugi::xml_node pod = doc.first_child();
  DomainOwner owner{pod.attribute("sandbox-id").value(), pod.attribute("container-id").value()};
  if (owner.container_id.empty()) return std::nullopt;
  return owner;
}

absl::Status PowerOff(virt::Hypervisor& hypervisor, const std::string& domain_name) {
  absl::Status destroyed = hypervisor.DestroyDomain(domain_name);
  if (absl::IsFailedPrecondition(destroyed) || absl::IsNotFound(destroyed)) {
    return absl::OkStatus();
  }
  return destroyed;
}

absl::Status DestroyAndUndefine(virt::Hypervisor& hypervisor, const std::string& domain_name) {
  if (absl::Status s = PowerOff(hypervisor, domain_name); !s.ok()) return s;
  absl::Status undefined = hypervisor.UndefineDomain(domain_name);
  if (!undefined.ok() && !absl::IsNotFound(undefined)) return undefined;
  return absl::OkStatus();
}

}  // namespace vmmap
