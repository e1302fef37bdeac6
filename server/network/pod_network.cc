#include "server/network/pod_network.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/network/guest_dns.h"
#include "server/network/kernel_ip_arg.h"
#include "server/network/netns.h"
#include "server/network/tap_link.h"

namespace vmmap::network {
namespace {

constexpr char kPodInterface[] = "eth0";

absl::Status ValidateSandboxId(const std::string& id) {
  if (id.size() < 32 || id.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox id \"", id, "\": must be 32..64 lowercase hex digits"));
  }
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError(
          absl::StrCat("sandbox id \"", id, "\": must be lowercase hex"));
    }
  }
  return absl::OkStatus();
}

class CniPodNetwork : public PodNetwork {
 public:
  explicit CniPodNetwork(CniOptions options) : options_(std::move(options)) {}

  NetworkReadiness Readiness() const override { return CheckCniReadiness(options_.conf_dir); }

  absl::StatusOr<PodNetworkState> SetUp(const PodNetworkRequest& request) override {
    if (request.host_network) return PodNetworkState{};
    if (absl::Status s = ValidateSandboxId(request.sandbox_id); !s.ok()) return s;
    absl::StatusOr<CniNetworkList> network = LoadCniConfig(options_.conf_dir);
    if (!network.ok()) return network.status();
    absl::StatusOr<std::string> netns = CreateNetns(options_.netns_dir, NetnsName(request));
    if (!netns.ok()) return netns.status();
    CniChain chain(*network, CniBinDirs(options_.bin_dir));
    absl::StatusOr<CniResult> result = chain.Add(Attachment(request, *netns));
    if (!result.ok()) {
      (void)RemoveNetns(*netns);  // Add already DELeted its own work
      return result.status();
    }
    PodNetworkState state{*netns, result->json, {}};
    for (const CniIp& ip : PodIps(*result, kPodInterface)) state.ips.push_back(ip.ip);
    if (state.ips.empty()) {
      absl::Status undo = chain.Del(Attachment(request, *netns), result->json);
      (void)RemoveNetns(*netns);
      return absl::FailedPreconditionError(
          absl::StrCat("CNI network ", network->name, " (", network->source_path,
                       ") gave the pod no address on ", kPodInterface,
                       undo.ok() ? "" : absl::StrCat("; cleanup DEL failed: ", undo.message())));
    }
    return state;
  }

  absl::Status TearDown(const PodNetworkRequest& request, const PodNetworkState& state) override {
    if (request.host_network) return absl::OkStatus();
    if (absl::Status s = ValidateSandboxId(request.sandbox_id); !s.ok()) return s;
    absl::StatusOr<CniNetworkList> network = LoadCniConfig(options_.conf_dir);
    if (!network.ok()) return network.status();
    std::string netns = state.netns_path.empty() ? NetnsPath(request) : state.netns_path;
    CniChain chain(*network, CniBinDirs(options_.bin_dir));
    return chain.Del(Attachment(request, netns), state.cni_result_json);
  }

  absl::Status Remove(const PodNetworkRequest& request) override {
    if (request.host_network) return absl::OkStatus();
    if (absl::Status s = ValidateSandboxId(request.sandbox_id); !s.ok()) return s;
    absl::StatusOr<std::string> tap = TapNameFor(request.sandbox_id);
    if (tap.ok()) (void)DeleteTap(*tap);  // one that never moved in
    return RemoveNetns(NetnsPath(request));
  }

  absl::StatusOr<GuestNic> GuestNicFor(const PodNetworkRequest& request,
                                       const PodNetworkState& state,
                                       const std::string& hostname) override {
    if (request.host_network || state.netns_path.empty()) {
      return absl::FailedPreconditionError("a hostNetwork pod has no pod network for its VM");
    }
    absl::StatusOr<CniResult> result = ParseCniResult(state.cni_result_json);
    if (!result.ok()) return result.status();
    std::vector<CniIp> ips = PodIps(*result, kPodInterface);
    auto v4 = std::find_if(ips.begin(), ips.end(), [](const CniIp& ip) { return !ip.ipv6; });
    if (v4 == ips.end()) {
      return absl::FailedPreconditionError(
          "the pod has no IPv4 address for the kernel ip= argument");
    }
    absl::StatusOr<LinkInfo> link = ReadLink(state.netns_path, kPodInterface);
    if (!link.ok()) return link.status();
    absl::StatusOr<std::string> tap = TapNameFor(request.sandbox_id);
    if (!tap.ok()) return tap.status();
    GuestDns dns = GuestDnsFor(request, *result);
    absl::StatusOr<std::string> arg =
        KernelIpArgument(*v4, hostname, kPodInterface, dns.nameservers);
    if (!arg.ok()) return arg.status();
    absl::StatusOr<std::string> dns_arg = KernelDnsArgument(dns);
    if (!dns_arg.ok()) return dns_arg.status();
    GuestAddressing addressing{link->mac, link->mtu, ips, result->routes, std::move(dns), hostname};
    return GuestNic{*tap, link->mac, link->mtu, *arg, *dns_arg, std::move(addressing)};
  }

  absl::Status PrepareTap(const GuestNic& nic) override { return CreateTap(nic.tap); }

  absl::Status AttachTap(const GuestNic& nic, const PodNetworkState& state) override {
    return MoveTapIntoPod(nic.tap, state.netns_path, kPodInterface, nic.mtu);
  }

  absl::StatusOr<InterfaceCounters> Counters(const PodNetworkState& state) override {
    if (state.netns_path.empty()) {
      return absl::FailedPreconditionError("a hostNetwork pod has no pod interface");
    }
    return ReadInterfaceCounters(state.netns_path, kPodInterface);
  }

 private:
  // The pod's own DNS config (kubelet's, from the sandbox config) when it
  // names servers, as containerd writes resolv.conf; the CNI result's
  // otherwise. Only the first 3 servers are kept: glibc reads no more.
  static GuestDns GuestDnsFor(const PodNetworkRequest& request, const CniResult& result) {
    GuestDns dns = request.dns.servers.empty()
                       ? GuestDns{result.dns.nameservers, result.dns.search, result.dns.options}
                       : GuestDns{request.dns.servers, request.dns.searches, request.dns.options};
    if (dns.nameservers.size() > kMaxGuestNameservers) dns.nameservers.resize(kMaxGuestNameservers);
    return dns;
  }
  static std::string NetnsName(const PodNetworkRequest& r) {
    return absl::StrCat("vmmap-", r.sandbox_id.substr(0, 32));
  }
  std::string NetnsPath(const PodNetworkRequest& r) const {
    return absl::StrCat(options_.netns_dir, "/", NetnsName(r));
  }
  static CniAttachment Attachment(const PodNetworkRequest& r, const std::string& netns) {
    CniAttachment a;
    a.container_id = r.sandbox_id;
    a.netns_path = netns;
    a.ifname = kPodInterface;
    a.args = {{"K8S_POD_NAMESPACE", r.pod_namespace},
              {"K8S_POD_NAME", r.pod_name},
              {"K8S_POD_INFRA_CONTAINER_ID", r.sandbox_id},
              {"K8S_POD_UID", r.pod_uid}};
    a.port_mappings = r.port_mappings;
    a.dns = r.dns;
    return a;
  }

  CniOptions options_;
};

}  // namespace

std::unique_ptr<PodNetwork> NewCniPodNetwork(CniOptions options) {
  return std::make_unique<CniPodNetwork>(std::move(options));
}

}  // namespace vmmap::network
