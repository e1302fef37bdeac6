#include "server/network/tap_link.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "server/network/link_attributes.h"
#include "server/network/subprocess.h"

namespace vmmap::network {
namespace {

std::string Tool(const char* name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    std::string path = absl::StrCat(dir, "/", name);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return absl::StrCat("/usr/sbin/", name);  // RunProcess reports it missing
}

// iproute2 in the given namespace (empty: the host's). Each run is a fork
// and exec of a dynamically linked tool (~5 ms for ip, ~10 ms for tc on a
// loaded 2-core machine), which is what StartContainer pays per call: keep
// the count of runs on the start path small (tc's -batch, one `ip link set`
// for several attributes).
absl::StatusOr<std::string> Run(const std::string& netns_path, std::vector<std::string> argv,
                                std::string stdin_bytes = "") {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.stdin_bytes = std::move(stdin_bytes);
  spec.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"};
  spec.netns_path = netns_path;
  spec.timeout = absl::Seconds(30);
  spec.max_output_bytes = 1 << 20;
  return RunChecked(spec);
}

// tc batch lines mirroring every frame arriving on `a` out of `b` and back.
// Interface names here are ours (the tap's from TapNameFor, the pod's a
// constant): no spaces or newlines.
std::string MirrorBatch(const std::string& a, const std::string& b) {
  std::string lines;
  for (const auto& [from, to] : {std::pair(a, b), std::pair(b, a)}) {
    // u32 with an empty match: every frame (matchall is not always built).
    absl::StrAppend(
        &lines, "qdisc add dev ", from, " ingress\n", "filter add dev ", from,
        " parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev ", to, "\n");
  }
  return lines;
}

// Both redirects in one tc run. A retry finds its own leftover ingress
// qdiscs (adding one again fails): they are deleted, which drops their
// filters, and the batch runs again.
absl::Status Mirror(const std::string& netns_path, const std::string& a, const std::string& b) {
  const std::string batch = MirrorBatch(a, b);
  if (Run(netns_path, {Tool("tc"), "-batch", "-"}, batch).ok()) return absl::OkStatus();
  (void)Run(netns_path, {Tool("tc"), "-force", "-batch", "-"},
            absl::StrCat("qdisc del dev ", a, " ingress\nqdisc del dev ", b, " ingress\n"));
  return Run(netns_path, {Tool("tc"), "-batch", "-"}, batch).status();
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
  return ReadLinkAttributes(netns_path, name).ok();
}

absl::StatusOr<LinkInfo> ReadLink(const std::string& netns_path, const std::string& ifname) {
  absl::StatusOr<LinkAttributes> link = ReadLinkAttributes(netns_path, ifname);
  if (!link.ok()) return link.status();
  if (link->mac.empty() || link->mtu <= 0) {
    return absl::InternalError(absl::StrCat("link ", ifname, " in ", netns_path,
                                            " has no MAC or MTU (\"", link->mac, "\", ", link->mtu,
                                            ")"));
  }
  return LinkInfo{link->mac, link->mtu};
}

absl::Status CreateTap(const std::string& tap) {
  // Usually there is none yet: one run. A failed add is success when the
  // tap is there (a retry).
  absl::Status added = Run("", {Tool("ip"), "tuntap", "add", "dev", tap, "mode", "tap"}).status();
  if (added.ok() || LinkExists("", tap)) return absl::OkStatus();
  return added;
}

absl::Status MoveTapIntoPod(const std::string& tap, const std::string& netns_path,
                            const std::string& ifname, int mtu) {
  if (mtu <= 0) {
    absl::StatusOr<LinkInfo> pod_if = ReadLink(netns_path, ifname);
    if (!pod_if.ok()) return pod_if.status();
    mtu = pod_if->mtu;
  }
  const std::string mtu_text = absl::StrCat(mtu);
  // The kernel moves the link first, then applies MTU and state in the new
  // namespace: one run for the three. When the tap is no longer in the host
  // namespace (a retry moved it already), the same settings are applied
  // where it is.
  absl::StatusOr<std::string> moved =
      Run("", {Tool("ip"), "link", "set", "dev", tap, "netns", netns_path, "mtu", mtu_text, "up"});
  if (!moved.ok() &&
      !Run(netns_path, {Tool("ip"), "link", "set", "dev", tap, "mtu", mtu_text, "up"}).ok()) {
    return moved.status();
  }
  return Mirror(netns_path, ifname, tap);
}

absl::Status DeleteTap(const std::string& tap) {
  if (!LinkExists("", tap)) return absl::OkStatus();
  return Run("", {Tool("ip"), "link", "del", "dev", tap}).status();
}

}  // namespace vmmap::network
