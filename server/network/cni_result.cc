#include "server/network/cni_result.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace vmmap::network {
namespace {

using nlohmann::json;

// Plugins are the admin's, but their output is still bounded before it is
// kept in the state store.
constexpr size_t kMaxEntries = 64;

absl::Status Bad(absl::string_view field, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("CNI result: ", field, " ", what));
}

std::string OptString(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

absl::Status StringList(const json& obj, const char* key, absl::string_view field,
                        std::vector<std::string>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array() || it->size() > kMaxEntries) {
    return Bad(absl::StrCat(field, ".", key), "must be an array of at most 64 strings");
  }
  for (const json& v : *it) {
    if (!v.is_string()) return Bad(absl::StrCat(field, ".", key), "must hold strings");
    out.push_back(v.get<std::string>());
  }
  return absl::OkStatus();
}

// Splits "a.b.c.d/nn" and checks both parts.
absl::Status ParseCidr(const std::string& cidr, absl::string_view field, CniIp& ip) {
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) return Bad(field, absl::StrCat("\"", cidr, "\" is not a CIDR"));
  ip.ip = cidr.substr(0, slash);
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.ip.c_str(), buf) == 1) {
    ip.ipv6 = false;
  } else if (inet_pton(AF_INET6, ip.ip.c_str(), buf) == 1) {
    ip.ipv6 = true;
  } else {
    return Bad(field, absl::StrCat("\"", cidr, "\" has no valid IP"));
  }
  int max = ip.ipv6 ? 128 : 32;
  if (!absl::SimpleAtoi(cidr.substr(slash + 1), &ip.prefix_length) || ip.prefix_length < 0 ||
      ip.prefix_length > max) {
    return Bad(field, absl::StrCat("\"", cidr, "\" has a bad prefix length"));
  }
  return absl::OkStatus();
}

const json* Array(const json& doc, const char* key, absl::Status& status) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return nullptr;
  if (!it->is_array() || it->size() > kMaxEntries) {
    status = Bad(key, "must be an array of at most 64 entries");
    return nullptr;
  }
  return &*it;
}

}  // namespace

absl::StatusOr<CniResult> ParseCniResult(const std::string& bytes) {
  json doc = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Bad("(document)", "is not a JSON object");
  CniResult result;
  result.json = bytes;
  result.cni_version = OptString(doc, "cniVersion");
  if (doc.contains("ip4") || doc.contains("ip6")) {
    return Bad("cniVersion", absl::StrCat("\"", result.cni_version,
                                          "\": pre-0.3 results (ip4/ip6) are not supported"));
  }
  absl::Status status;
  if (const json* ifaces = Array(doc, "interfaces", status)) {
    for (size_t i = 0; i < ifaces->size(); ++i) {
      const json& e = (*ifaces)[i];
      if (!e.is_object()) return Bad(absl::StrCat("interfaces[", i, "]"), "must be an object");
      CniInterface iface{OptString(e, "name"), OptString(e, "mac"), OptString(e, "sandbox"), 0};
      auto mtu = e.find("mtu");
      if (mtu != e.end() && mtu->is_number_integer()) iface.mtu = mtu->get<int>();
      result.interfaces.push_back(std::move(iface));
    }
  }
  if (const json* ips = Array(doc, "ips", status)) {
    for (size_t i = 0; i < ips->size(); ++i) {
      const json& e = (*ips)[i];
      std::string field = absl::StrCat("ips[", i, "]");
      if (!e.is_object()) return Bad(field, "must be an object");
      CniIp ip;
      ip.address = OptString(e, "address");
      if (absl::Status s = ParseCidr(ip.address, field + ".address", ip); !s.ok()) return s;
      ip.gateway = OptString(e, "gateway");
      auto idx = e.find("interface");
      if (idx != e.end() && idx->is_number_integer()) {
        ip.interface = idx->get<int>();
        if (ip.interface < 0 || static_cast<size_t>(ip.interface) >= result.interfaces.size()) {
          return Bad(field + ".interface", absl::StrCat(ip.interface, " is out of range"));
        }
      }
      result.ips.push_back(std::move(ip));
    }
  }
  if (const json* routes = Array(doc, "routes", status)) {
    for (size_t i = 0; i < routes->size(); ++i) {
      const json& e = (*routes)[i];
      if (!e.is_object()) return Bad(absl::StrCat("routes[", i, "]"), "must be an object");
      result.routes.push_back({OptString(e, "dst"), OptString(e, "gw")});
    }
  }
  if (!status.ok()) return status;
  auto dns = doc.find("dns");
  if (dns != doc.end() && dns->is_object()) {
    result.dns.domain = OptString(*dns, "domain");
    for (auto [key, out] :
         {std::pair{"nameservers", &result.dns.nameservers},
          std::pair{"search", &result.dns.search}, std::pair{"options", &result.dns.options}}) {
      if (absl::Status s = StringList(*dns, key, "dns", *out); !s.ok()) return s;
    }
  }
  return result;
}

std::vector<CniIp> PodIps(const CniResult& result, const std::string& ifname) {
  std::vector<CniIp> out;
  for (const CniIp& ip : result.ips) {
    if (ip.interface >= 0) {
      const CniInterface& iface = result.interfaces[static_cast<size_t>(ip.interface)];
      if (iface.sandbox.empty() || iface.name != ifname) continue;
    }
    out.push_back(ip);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const CniIp& a, const CniIp& b) { return !a.ipv6 && b.ipv6; });
  return out;
}

}  // namespace vmmap::network
