#include "server/network/guest_dns.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/network/dns_names.h"

namespace vmmap::network {
namespace {

absl::Status CheckList(const std::vector<std::string>& values, const char* field, size_t max,
                       bool (*valid)(const std::string&)) {
  if (values.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("dns ", field, ": ", values.size(), " entries, at most ", max));
  }
  for (const std::string& v : values) {
    if (v.size() > 253 || !valid(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dns ", field, " \"", absl::CHexEscape(v.substr(0, 256)), "\": not allowed in a guest"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGuestDns(const GuestDns& dns) {
  if (absl::Status s = CheckList(dns.nameservers, "servers", kMaxGuestNameservers, IsIpLiteral);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckList(dns.searches, "searches", kMaxGuestSearches, IsSearchDomain);
      !s.ok()) {
    return s;
  }
  return CheckList(dns.options, "options", kMaxGuestDnsOptions, IsResolverOption);
}

absl::StatusOr<std::string> KernelDnsArgument(const GuestDns& dns) {
  if (absl::Status s = ValidateGuestDns(dns); !s.ok()) return s;
  if (dns.nameservers.empty() && dns.searches.empty() && dns.options.empty()) return "";
  return absl::StrCat("vmmap.dns=", absl::StrJoin(dns.nameservers, ","), "/",
                      absl::StrJoin(dns.searches, ","), "/", absl::StrJoin(dns.options, ","));
}

}  // namespace vmmap::network
