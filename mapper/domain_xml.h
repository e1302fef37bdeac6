// Writes a DomainSpec as libvirt domain XML, filling the skeleton in
// xml_templates/domain.xml through pugixml: every value from a pod is set as
// text or attribute data and escaped by the library, never pasted as markup.
#ifndef VMMAP_MAPPER_DOMAIN_XML_H_
#define VMMAP_MAPPER_DOMAIN_XML_H_

#include <string>

#include "absl/status/statusor.h"
#include "mapper/domain_spec.h"

namespace vmmap {

inline constexpr char kMetadataNamespaceUri[] = "https://vmmap.io/xmlns/pod/1";
inline constexpr char kMetadataPrefix[] = "vmmap";

absl::StatusOr<std::string> RenderDomainXml(const DomainSpec& spec);

// The <vmmap:pod> metadata element alone (what virDomainGetMetadata returns).
std::string RenderOwnerMetadata(const PodOwner& owner);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_DOMAIN_XML_H_
