#include "server/cri/cri_convert.h"

namespace vmmap {
namespace {

namespace v1 = runtime::v1;

StringMap FromCri(const google::protobuf::Map<std::string, std::string>& map) {
  return StringMap(map.begin(), map.end());
}

void ToCri(const StringMap& from, google::protobuf::Map<std::string, std::string>* to) {
  to->insert(from.begin(), from.end());
}

void ToCri(const PodMetadata& from, v1::PodSandboxMetadata* to) {
  to->set_name(from.name);
  to->set_uid(from.uid);
  to->set_namespace_(from.namespace_name);
  to->set_attempt(from.attempt);
}

void ToCri(const ContainerMetadata& from, v1::ContainerMetadata* to) {
  to->set_name(from.name);
  to->set_attempt(from.attempt);
}

// The fields a list item and a status share (PodSandbox / PodSandboxStatus,
// Container / ContainerStatus), filled one way for both.
template <typename SandboxMessage>
void FillShared(const SandboxRecord& r, SandboxMessage* to) {
  to->set_id(r.id);
  ToCri(r.config.metadata, to->mutable_metadata());
  to->set_state(static_cast<v1::PodSandboxState>(r.state));
  to->set_created_at(r.created_at_ns);
  ToCri(r.config.labels, to->mutable_labels());
  ToCri(r.config.annotations, to->mutable_annotations());
  to->set_runtime_handler(r.config.runtime_handler);
}

template <typename ContainerMessage>
void FillShared(const ContainerRecord& r, ContainerMessage* to) {
  to->set_id(r.id);
  ToCri(r.config.metadata, to->mutable_metadata());
  to->mutable_image()->set_image(r.config.image_ref);
  to->set_image_ref(r.image_id);
  to->set_state(static_cast<v1::ContainerState>(r.state));
  to->set_created_at(r.created_at_ns);
  ToCri(r.config.labels, to->mutable_labels());
  ToCri(r.config.annotations, to->mutable_annotations());
}

}  // namespace

LinuxResources FromCri(const v1::LinuxContainerResources& r) {
  LinuxResources out;
  out.cpu_period_us = r.cpu_period();
  out.cpu_quota_us = r.cpu_quota();
  out.cpu_shares = r.cpu_shares();
  out.memory_limit_bytes = r.memory_limit_in_bytes();
  out.cpuset_cpus = r.cpuset_cpus();
  return out;
}

v1::LinuxContainerResources ToCri(const LinuxResources& r) {
  v1::LinuxContainerResources out;
  out.set_cpu_period(r.cpu_period_us);
  out.set_cpu_quota(r.cpu_quota_us);
  out.set_cpu_shares(r.cpu_shares);
  out.set_memory_limit_in_bytes(r.memory_limit_bytes);
  out.set_cpuset_cpus(r.cpuset_cpus);
  return out;
}

SandboxConfig FromCri(const v1::PodSandboxConfig& config, const std::string& runtime_handler) {
  SandboxConfig out;
  out.metadata.name = config.metadata().name();
  out.metadata.uid = config.metadata().uid();
  out.metadata.namespace_name = config.metadata().namespace_();
  out.metadata.attempt = config.metadata().attempt();
  out.hostname = config.hostname();
  out.log_directory = config.log_directory();
  out.labels = FromCri(config.labels());
  out.annotations = FromCri(config.annotations());
  out.cgroup_parent = config.linux().cgroup_parent();
  if (config.linux().has_resources()) out.pod_resources = FromCri(config.linux().resources());
  if (config.linux().has_overhead()) out.overhead = FromCri(config.linux().overhead());
  out.runtime_handler = runtime_handler;
  out.host_network =
      config.linux().security_context().namespace_options().network() == v1::NamespaceMode::NODE;
  for (const v1::PortMapping& p : config.port_mappings()) {
    // Only a host port needs the portmap plugin (containerd's rule too).
    if (p.host_port() <= 0) continue;
    PortMapping m;
    m.protocol = p.protocol() == v1::Protocol::UDP    ? "udp"
                 : p.protocol() == v1::Protocol::SCTP ? "sctp"
                                                      : "tcp";
    m.container_port = p.container_port();
    m.host_port = p.host_port();
    m.host_ip = p.host_ip();
    out.port_mappings.push_back(std::move(m));
  }
  const v1::DNSConfig& dns = config.dns_config();
  out.dns.servers.assign(dns.servers().begin(), dns.servers().end());
  out.dns.searches.assign(dns.searches().begin(), dns.searches().end());
  out.dns.options.assign(dns.options().begin(), dns.options().end());
  return out;
}

ContainerConfig FromCri(const v1::ContainerConfig& config) {
  ContainerConfig out;
  out.metadata.name = config.metadata().name();
  out.metadata.attempt = config.metadata().attempt();
  out.image_ref = config.image().image();
  out.command.assign(config.command().begin(), config.command().end());
  out.args.assign(config.args().begin(), config.args().end());
  out.log_path = config.log_path();
  out.labels = FromCri(config.labels());
  out.annotations = FromCri(config.annotations());
  for (const v1::Mount& m : config.mounts()) {
    VolumeMount mount;
    mount.container_path = m.container_path();
    mount.host_path = m.host_path();
    mount.read_only = m.readonly();
    mount.selinux_relabel = m.selinux_relabel();
    // Unknown enum values (a newer kubelet) read as private: the VM's shares
    // never propagate mounts back to the host in any mode (docs/volumes.md).
    const int propagation = static_cast<int>(m.propagation());
    mount.propagation = propagation >= 0 && propagation <= 2
                            ? static_cast<MountPropagation>(propagation)
                            : MountPropagation::kPrivate;
    out.mounts.push_back(std::move(mount));
  }
  return out;
}

SandboxFilter FromCri(const v1::PodSandboxFilter& filter) {
  SandboxFilter out;
  out.id = filter.id();
  if (filter.has_state()) out.state = static_cast<SandboxState>(filter.state().state());
  out.label_selector = FromCri(filter.label_selector());
  return out;
}

ContainerFilter FromCri(const v1::ContainerFilter& filter) {
  ContainerFilter out;
  out.id = filter.id();
  out.sandbox_id = filter.pod_sandbox_id();
  if (filter.has_state()) out.state = static_cast<ContainerState>(filter.state().state());
  out.label_selector = FromCri(filter.label_selector());
  return out;
}

v1::PodSandboxStatus ToCriStatus(const SandboxRecord& r) {
  v1::PodSandboxStatus status;
  FillShared(r, &status);
  // What the pod's CNI result gave it (crictl inspectp's "network"); empty
  // for hostNetwork pods, whose address kubelet takes from the node.
  v1::PodSandboxNetworkStatus* network = status.mutable_network();
  if (!r.network.ips.empty()) {
    network->set_ip(r.network.ips.front());
    for (size_t i = 1; i < r.network.ips.size(); ++i) {
      network->add_additional_ips()->set_ip(r.network.ips[i]);
    }
  }
  status.mutable_linux()->mutable_namespaces()->mutable_options()->set_network(
      r.config.host_network ? v1::NamespaceMode::NODE : v1::NamespaceMode::POD);
  return status;
}

v1::PodSandbox ToCriItem(const SandboxRecord& r) {
  v1::PodSandbox item;
  FillShared(r, &item);
  return item;
}

v1::ContainerStatus ToCriStatus(const ContainerRecord& r) {
  v1::ContainerStatus status;
  FillShared(r, &status);
  status.set_started_at(r.started_at_ns);
  status.set_finished_at(r.finished_at_ns);
  status.set_exit_code(r.exit_code);
  status.set_reason(r.reason);
  status.set_message(r.message);
  status.set_log_path(r.config.log_path);
  *status.mutable_resources()->mutable_linux() = ToCri(r.resources);
  for (const VolumeMount& m : r.config.mounts) {
    v1::Mount* mount = status.add_mounts();
    mount->set_container_path(m.container_path);
    mount->set_host_path(m.host_path);
    mount->set_readonly(m.read_only);
    mount->set_selinux_relabel(m.selinux_relabel);
    mount->set_propagation(static_cast<v1::MountPropagation>(m.propagation));
  }
  return status;
}

v1::Container ToCriItem(const ContainerRecord& r) {
  v1::Container item;
  FillShared(r, &item);
  item.set_pod_sandbox_id(r.sandbox_id);
  return item;
}

}  // namespace vmmap
