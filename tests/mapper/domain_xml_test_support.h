// Shared by the element tests that check RenderDomainXml's output without the
// golden files (tests/mapper, tests/guest): a domain spec with only what
// RenderDomainXml requires, and libvirt's own parser and schema as the judge.
#ifndef VMMAP_TESTS_MAPPER_DOMAIN_XML_TEST_SUPPORT_H_
#define VMMAP_TESTS_MAPPER_DOMAIN_XML_TEST_SUPPORT_H_

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "mapper/domain_spec.h"

namespace vmmap {

inline DomainSpec MinimalDomainSpec(const std::string& name, const std::string& uuid) {
  DomainSpec spec;
  spec.type = DomainType::kQemu;
  spec.name = name;
  spec.uuid = uuid;
  spec.memory_kib = 262144;
  spec.owner = {"default", "web", "uid-1", 0, "0123456789abcdef", ""};
  return spec;
}

// Defines `xml` on libvirt's test driver with schema validation and returns the
// XML libvirt keeps for it; the domain is undefined again before returning.
inline absl::StatusOr<std::string> DefineValidatedAndReadBack(const std::string& xml) {
  virConnectPtr conn = virConnectOpen("test:///default");
  if (conn == nullptr) return absl::UnavailableError("cannot open test:///default");
  virDomainPtr dom = virDomainDefineXMLFlags(conn, xml.c_str(), VIR_DOMAIN_DEFINE_VALIDATE);
  if (dom == nullptr) {
    absl::Status refused = absl::InvalidArgumentError(
        absl::StrCat("libvirt refused the XML: ", virGetLastErrorMessage()));
    virConnectClose(conn);
    return refused;
  }
  absl::StatusOr<std::string> back = absl::InternalError("virDomainGetXMLDesc failed");
  if (char* desc = virDomainGetXMLDesc(dom, 0); desc != nullptr) {
    back = std::string(desc);
    free(desc);
  }
  if (virDomainUndefine(dom) != 0 && back.ok()) {
    back = absl::InternalError("virDomainUndefine failed");
  }
  virDomainFree(dom);
  virConnectClose(conn);
  return back;
}

}  // namespace vmmap

#endif  // VMMAP_TESTS_MAPPER_DOMAIN_XML_TEST_SUPPORT_H_
