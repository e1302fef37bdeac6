#include "server/network/tap_link.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/network/subprocess.h"

namespace vmmap::network {
namespace {

using nlohmann::json;

std::string Tool(const char* name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    std::string path = absl::StrCat(dir, "/", name);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return absl::StrCat("/usr/sbin/", name);  // RunProcess reports it missing
}

// iproute2 in the given namespace (empty: the host's).
absl::StatusOr<std::string> Run(const std::string& netns_path, std::vector<std::string> argv) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"};
  spec.netns_path = netns_path;
  spec.timeout = absl::Seconds(30);
  spec.max_output_bytes = 1 << 20;
  return RunChecked(spec);
}

absl::Status Mirror(const std::string& netns_path, const std::string& from, const std::string& to) {
  // A leftover ingress qdisc (a retry) is replaced with a fresh one.
  (void)Run(netns_path, {Tool("tc"), "qdisc", "del", "dev", from, "ingress"});
  if (auto r = Run(netns_path, {Tool("tc"), "qdisc", "add", "dev", from, "ingress"}); !r.ok()) {
    return r.status();
  }
  // u32 with an empty match: every frame (matchall is not always built).
  auto r = Run(netns_path, {Tool("tc"), "filter", "add",    "dev",      from,  "parent", "ffff:",
                            "protocol", "all",    "u32",    "match",    "u8",  "0",      "0",
                            "action",   "mirred", "egress", "redirect", "dev", to});
  return r.status();
}

}  // namespace

absl::StatusOr<std::string> TapNameFor(const std::string& sandbox_id) {
  if (sandbox_id.size() < 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox id \"", sandbox_id, "\": needs at least 12 hex digits"));
  }
  for (size_t i = 0; i < 12; ++i) {
    char c = sandbox_id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError(
          absl::StrCat("sandbox id \"", sandbox_id, "\": not lowercase hex"));
    }
  }
  return absl::StrCat("vmt", sandbox_id.substr(0, 12));
}

bool LinkExists(const std::string& netns_path, const std::string& name) {
  return Run(netns_path, {Tool("ip"), "link", "show", "dev", name}).ok();
}

absl::StatusOr<LinkInfo> ReadLink(const std::string& netns_path, const std::string& ifname) {
  absl::StatusOr<std::string> out =
      Run(netns_path, {Tool("ip"), "-j", "link", "show", "dev", ifname});
  if (!out.ok()) return out.status();
  json doc = json::parse(*out, nullptr, false);
  if (!doc.is_array() || doc.size() != 1 || !doc[0].is_object() || !doc[0].contains("address") ||
      !doc[0]["address"].is_string() || !doc[0].contains("mtu") ||
      !doc[0]["mtu"].is_number_integer()) {
    return absl::InternalError(absl::StrCat("`ip -j link show dev ", ifname, "` in ", netns_path,
                                            ": unexpected output: ", *out));
  }
  return LinkInfo{doc[0]["address"].get<std::string>(), doc[0]["mtu"].get<int>()};
}

absl::Status CreateTap(const std::string& tap) {
  if (LinkExists("", tap)) return absl::OkStatus();
  return Run("", {Tool("ip"), "tuntap", "add", "dev", tap, "mode", "tap"}).status();
}

absl::Status MoveTapIntoPod(const std::string& tap, const std::string& netns_path,
                            const std::string& ifname) {
  absl::StatusOr<LinkInfo> pod_if = ReadLink(netns_path, ifname);
  if (!pod_if.ok()) return pod_if.status();
  if (!LinkExists(netns_path, tap)) {
    if (auto r = Run("", {Tool("ip"), "link", "set", "dev", tap, "netns", netns_path}); !r.ok()) {
      return r.status();
    }
  }
  if (auto r = Run(netns_path,
                   {Tool("ip"), "link", "set", "dev", tap, "mtu", absl::StrCat(pod_if->mtu), "up"});
      !r.ok()) {
    return r.status();
  }
  if (absl::Status s = Mirror(netns_path, ifname, tap); !s.ok()) return s;
  return Mirror(netns_path, tap, ifname);
}

absl::Status DeleteTap(const std::string& tap) {
  if (!LinkExists("", tap)) return absl::OkStatus();
  return Run("", {Tool("ip"), "link", "del", "dev", tap}).status();
}

}  // namespace vmmap::network
