#include "server/network/interface_counters.h"

#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/network/subprocess.h"

namespace vmmap::network {
namespace {

using nlohmann::json;

uint64_t Counter(const json& side, const char* key) {
  auto it = side.find(key);
  return it != side.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

}  // namespace

absl::StatusOr<InterfaceCounters> ReadInterfaceCounters(const std::string& netns_path,
                                                        const std::string& ifname) {
  ProcessSpec spec;
  spec.argv = {access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip" : "/sbin/ip",
               "-j",
               "-s",
               "link",
               "show",
               "dev",
               ifname};
  spec.env = {"LC_ALL=C"};
  spec.netns_path = netns_path;
  spec.timeout = absl::Seconds(30);
  absl::StatusOr<std::string> out = RunChecked(spec);
  if (!out.ok()) return out.status();
  json doc = json::parse(*out, nullptr, false);
  if (!doc.is_array() || doc.size() != 1 || !doc[0].is_object() || !doc[0].contains("stats64") ||
      !doc[0]["stats64"].is_object()) {
    return absl::InternalError(absl::StrCat("`ip -j -s link show dev ", ifname, "` in ", netns_path,
                                            ": unexpected output: ", *out));
  }
  const json& stats = doc[0]["stats64"];
  const json empty = json::object();
  const json& rx = stats.contains("rx") && stats["rx"].is_object() ? stats["rx"] : empty;
  const json& tx = stats.contains("tx") && stats["tx"].is_object() ? stats["tx"] : empty;
  return InterfaceCounters{ifname,
                           Counter(rx, "bytes"),
                           Counter(rx, "packets"),
                           Counter(rx, "errors"),
                           Counter(rx, "dropped"),
                           Counter(tx, "bytes"),
                           Counter(tx, "packets"),
                           Counter(tx, "errors"),
                           Counter(tx, "dropped")};
}

}  // namespace vmmap::network
