#include "server/runtime/sandbox_network.h"

#include "absl/strings/str_cat.h"
#include "mapper/shared_dirs.h"
#include "server/network/nocloud_image.h"
#include "server/network/nocloud_seed.h"
#include "server/runtime/container_layout.h"

namespace vmmap {

network::PodNetworkRequest NetworkRequestFor(const SandboxRecord& sandbox) {
  const SandboxConfig& c = sandbox.config;
  network::PodNetworkRequest request;
  request.sandbox_id = sandbox.id;
  request.pod_namespace = c.metadata.namespace_name;
  request.pod_name = c.metadata.name;
  request.pod_uid = c.metadata.uid;
  request.host_network = c.host_network;
  for (const PortMapping& p : c.port_mappings) {
    request.port_mappings.push_back({p.host_port, p.container_port, p.protocol, p.host_ip});
  }
  request.dns = {c.dns.servers, c.dns.searches, c.dns.options};
  return request;
}

network::PodNetworkState NetworkStateOf(const SandboxRecord& sandbox) {
  return {sandbox.network.netns_path, sandbox.network.cni_result_json, sandbox.network.ips};
}

absl::Status AddGuestNic(const network::GuestNic& nic, const std::string& seed_path,
                         DomainSpec& spec) {
  spec.network_interface = NetworkInterfaceSpec{nic.tap, nic.mac, nic.mtu};
  if (!spec.kernel_boot) {
    // vda is the container's overlay (container_layout.h).
    AttachGuestSeed(seed_path, spec);
    return absl::OkStatus();
  }
  std::string& cmdline = spec.kernel_boot->cmdline;
  std::string added = nic.kernel_ip_arg;
  if (!nic.kernel_dns_arg.empty()) absl::StrAppend(&added, " ", nic.kernel_dns_arg);
  if (cmdline.size() + 1 + added.size() > kMaxKernelCommandLine) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kernel command line: ", cmdline.size(), " bytes plus the pod network's ", added.size(),
        " bytes (", added, ") exceed the x86 limit of ", kMaxKernelCommandLine));
  }
  absl::StrAppend(&cmdline, " ", added);
  return absl::OkStatus();
}

void AttachGuestSeed(const std::string& seed_path, DomainSpec& spec) {
  if (spec.kernel_boot) return;
  for (const DiskSpec& disk : spec.disks) {
    if (disk.path == seed_path) return;
  }
  spec.disks.push_back(DiskSpec{seed_path, "raw", "vdb", /*read_only=*/true});
}

absl::Status WriteGuestSeed(const network::GuestNic* nic, const DomainSpec& spec,
                            const std::string& container_id, const std::string& seed_path) {
  if (spec.kernel_boot) return absl::OkStatus();
  std::vector<network::BootCommand> bootcmd;
  for (const SharedDirectory& share : spec.shared_dirs) {
    for (std::vector<std::string>& command : GuestMountCommands(share)) {
      bootcmd.push_back(std::move(command));
    }
  }
  absl::StatusOr<network::NoCloudSeed> seed = network::RenderNoCloudSeed(
      container_id, nic != nullptr ? &nic->addressing : nullptr, bootcmd);
  if (!seed.ok()) return seed.status();
  return network::WriteNoCloudImage(*seed, seed_path);
}

absl::Status ReleaseSandboxNetwork(network::PodNetwork& network, const SandboxRecord& sandbox,
                                   bool remove_namespace) {
  // Sandboxes from before pod networks, hostNetwork pods: nothing to undo.
  if (!sandbox.network.pending && sandbox.network.netns_path.empty()) return absl::OkStatus();
  const network::PodNetworkRequest request = NetworkRequestFor(sandbox);
  absl::Status torn_down = network.TearDown(request, NetworkStateOf(sandbox));
  if (!remove_namespace) return torn_down;
  absl::Status removed = network.Remove(request);
  return torn_down.ok() ? removed : torn_down;
}

}  // namespace vmmap
