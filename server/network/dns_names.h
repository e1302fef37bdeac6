// The checks every DNS-ish string from a pod (hostname, resolvers, search
// domains, resolver options) passes before it reaches a guest: the kernel
// command line, a NoCloud seed. Each accepts only characters that are inert
// in those places (no spaces, quotes, '=', ',', '/', newlines).
#ifndef VMMAP_SERVER_NETWORK_DNS_NAMES_H_
#define VMMAP_SERVER_NETWORK_DNS_NAMES_H_

#include <string>

namespace vmmap::network {

// RFC 1123 host name: dot-separated labels of letters, digits and inner
// hyphens, each 1..63 bytes, 253 bytes in all.
bool IsHostname(const std::string& name);

// A search domain: a host name, optionally with one trailing dot.
bool IsSearchDomain(const std::string& domain);

bool IsIpv4(const std::string& address);
bool IsIpLiteral(const std::string& address);  // IPv4 or IPv6, no zone

// A resolv.conf option as resolv.conf(5) spells them ("ndots:5", "edns0",
// "single-request-reopen"): letters, digits, '-', '_', '.', ':', 1..64 bytes.
bool IsResolverOption(const std::string& option);

}  // namespace vmmap::network

#endif  // VMMAP_SERVER_NETWORK_DNS_NAMES_H_
