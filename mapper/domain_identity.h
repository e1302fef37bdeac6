// Domain names and UUIDs derived from the pod's identity.
//
// A libvirt domain name must be unique per host and safe in file names and
// cgroup paths; pod names are up to 253 characters. The name keeps a readable
// prefix of namespace and pod name and ends in a hash of the full identity,
// so two pods never collide however their names are truncated.
#ifndef VMMAP_MAPPER_DOMAIN_IDENTITY_H_
#define VMMAP_MAPPER_DOMAIN_IDENTITY_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "mapper/resources.h"

namespace vmmap {

inline constexpr size_t kMaxDomainNameLength = 63;
inline constexpr char kDomainNamePrefix[] = "vmmap-";

// Checks that name, namespace and uid are what Kubernetes allows
// (letters, digits, '-', '.', '_'; 1–253 characters; uid may be empty).
absl::Status ValidatePodIdentity(const PodIdentity& identity);

// "vmmap-<namespace>-<name>-<12 hex>", at most kMaxDomainNameLength characters.
std::string DomainNameFor(const PodIdentity& identity);

// A stable RFC 4122 layout UUID (version 8, name-based) for the identity.
std::string DomainUuidFor(const PodIdentity& identity);

// 64-bit FNV-1a; stable across builds, used for names and UUIDs.
uint64_t StableHash(absl::string_view data, uint64_t seed = 0);

}  // namespace vmmap

#endif  // VMMAP_MAPPER_DOMAIN_IDENTITY_H_
