#include "server/network/dns_names.h"

#include <arpa/inet.h>

namespace vmmap::network {

bool IsHostname(const std::string& h) {
  if (h.empty() || h.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    char c = h[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (c == '.') {
      if (label == 0 || h[i - 1] == '-') return false;
      label = 0;
    } else if (alnum || (c == '-' && label > 0)) {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return label > 0 && h.back() != '-';
}

bool IsSearchDomain(const std::string& domain) {
  if (!domain.empty() && domain.back() == '.') {
    return IsHostname(domain.substr(0, domain.size() - 1));
  }
  return IsHostname(domain);
}

bool IsIpv4(const std::string& s) {
  in_addr a;
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool IsIpLiteral(const std::string& s) {
  in6_addr a6;
  return IsIpv4(s) || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

bool IsResolverOption(const std::string& option) {
  if (option.empty() || option.size() > 64) return false;
  for (char c : option) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace vmmap::network
