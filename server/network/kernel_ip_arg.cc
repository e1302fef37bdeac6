#include "server/network/kernel_ip_arg.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/network/dns_names.h"

namespace vmmap::network {
namespace {

std::string Netmask(int prefix) {
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return absl::StrCat(mask >> 24, ".", (mask >> 16) & 0xff, ".", (mask >> 8) & 0xff, ".",
                      mask & 0xff);
}

}  // namespace

absl::StatusOr<std::string> KernelIpArgument(const CniIp& ip, const std::string& hostname,
                                             const std::string& guest_device,
                                             const std::vector<std::string>& nameservers) {
  if (ip.ipv6 || !IsIpv4(ip.ip)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pod IP \"", ip.ip, "\": the kernel ip= parameter needs IPv4"));
  }
  if (!ip.gateway.empty() && !IsIpv4(ip.gateway)) {
    return absl::InvalidArgumentError(absl::StrCat("gateway \"", ip.gateway, "\": not IPv4"));
  }
  if (!hostname.empty() && !IsHostname(hostname)) {
    return absl::InvalidArgumentError(
        absl::StrCat("hostname \"", hostname, "\": not an RFC 1123 host name"));
  }
  if (!IsHostname(guest_device)) {
    return absl::InvalidArgumentError(
        absl::StrCat("guest device \"", guest_device, "\": bad name"));
  }
  std::string arg = absl::StrCat("ip=", ip.ip, "::", ip.gateway, ":", Netmask(ip.prefix_length),
                                 ":", hostname, ":", guest_device, ":off");
  int kept = 0;
  for (const std::string& ns : nameservers) {
    if (kept == 2 || !IsIpv4(ns)) continue;
    absl::StrAppend(&arg, ":", ns);
    ++kept;
  }
  return arg;
}

}  // namespace vmmap::network
