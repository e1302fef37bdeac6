// The domain skeleton from xml_templates/domain.xml, embedded at build time
// so that the mapper does no file I/O.
#ifndef VMMAP_MAPPER_DOMAIN_TEMPLATE_H_
#define VMMAP_MAPPER_DOMAIN_TEMPLATE_H_

#include "absl/strings/string_view.h"

namespace vmmap {

absl::string_view DomainTemplateXml();

}  // namespace vmmap

#endif  // VMMAP_MAPPER_DOMAIN_TEMPLATE_H_
