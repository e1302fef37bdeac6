#include "server/cri/stats_convert.h"

namespace vmmap {
namespace {

namespace v1 = runtime::v1;

// Sets the field `mutable_field` gives only when the value is known.
template <typename MutableFn>
void SetIfKnown(const std::optional<uint64_t>& value, MutableFn mutable_field) {
  if (value) mutable_field()->set_value(*value);
}

void ToCri(const CpuStats& in, v1::CpuUsage* out) {
  out->set_timestamp(in.timestamp_ns);
  SetIfKnown(in.usage_core_ns, [&] { return out->mutable_usage_core_nano_seconds(); });
  SetIfKnown(in.usage_nano_cores, [&] { return out->mutable_usage_nano_cores(); });
}

void ToCri(const MemoryStats& in, v1::MemoryUsage* out) {
  out->set_timestamp(in.timestamp_ns);
  SetIfKnown(in.working_set_bytes, [&] { return out->mutable_working_set_bytes(); });
  SetIfKnown(in.available_bytes, [&] { return out->mutable_available_bytes(); });
  SetIfKnown(in.usage_bytes, [&] { return out->mutable_usage_bytes(); });
  SetIfKnown(in.rss_bytes, [&] { return out->mutable_rss_bytes(); });
  SetIfKnown(in.page_faults, [&] { return out->mutable_page_faults(); });
  SetIfKnown(in.major_page_faults, [&] { return out->mutable_major_page_faults(); });
}

void ToCri(const InterfaceStats& in, v1::NetworkInterfaceUsage* out) {
  out->set_name(in.name);
  out->mutable_rx_bytes()->set_value(in.rx_bytes);
  out->mutable_rx_errors()->set_value(in.rx_errors);
  out->mutable_tx_bytes()->set_value(in.tx_bytes);
  out->mutable_tx_errors()->set_value(in.tx_errors);
}

}  // namespace

ContainerFilter FromCri(const v1::ContainerStatsFilter& filter) {
  ContainerFilter out;
  out.id = filter.id();
  out.sandbox_id = filter.pod_sandbox_id();
  out.label_selector = StringMap(filter.label_selector().begin(), filter.label_selector().end());
  return out;
}

SandboxFilter FromCri(const v1::PodSandboxStatsFilter& filter) {
  SandboxFilter out;
  out.id = filter.id();
  out.label_selector = StringMap(filter.label_selector().begin(), filter.label_selector().end());
  return out;
}

v1::ContainerStats ToCri(const ContainerStatsRecord& stats) {
  v1::ContainerStats out;
  v1::ContainerAttributes* attributes = out.mutable_attributes();
  attributes->set_id(stats.id);
  attributes->mutable_metadata()->set_name(stats.metadata.name);
  attributes->mutable_metadata()->set_attempt(stats.metadata.attempt);
  attributes->mutable_labels()->insert(stats.labels.begin(), stats.labels.end());
  attributes->mutable_annotations()->insert(stats.annotations.begin(), stats.annotations.end());
  ToCri(stats.cpu, out.mutable_cpu());
  ToCri(stats.memory, out.mutable_memory());
  v1::FilesystemUsage* layer = out.mutable_writable_layer();
  layer->set_timestamp(stats.writable_layer.timestamp_ns);
  layer->mutable_fs_id()->set_mountpoint(stats.writable_layer.mountpoint);
  layer->mutable_used_bytes()->set_value(stats.writable_layer.used_bytes);
  layer->mutable_inodes_used()->set_value(stats.writable_layer.inodes_used);
  return out;
}

v1::PodSandboxStats ToCri(const PodStatsRecord& stats) {
  v1::PodSandboxStats out;
  v1::PodSandboxAttributes* attributes = out.mutable_attributes();
  attributes->set_id(stats.id);
  attributes->mutable_metadata()->set_name(stats.metadata.name);
  attributes->mutable_metadata()->set_uid(stats.metadata.uid);
  attributes->mutable_metadata()->set_namespace_(stats.metadata.namespace_name);
  attributes->mutable_metadata()->set_attempt(stats.metadata.attempt);
  attributes->mutable_labels()->insert(stats.labels.begin(), stats.labels.end());
  attributes->mutable_annotations()->insert(stats.annotations.begin(), stats.annotations.end());
  v1::LinuxPodSandboxStats* linux_stats = out.mutable_linux();
  ToCri(stats.cpu, linux_stats->mutable_cpu());
  ToCri(stats.memory, linux_stats->mutable_memory());
  v1::NetworkUsage* network = linux_stats->mutable_network();
  network->set_timestamp(stats.network.timestamp_ns);
  for (const InterfaceStats& i : stats.network.interfaces) ToCri(i, network->add_interfaces());
  if (!stats.network.interfaces.empty()) {
    ToCri(stats.network.interfaces.front(), network->mutable_default_interface());
  }
  for (const ContainerStatsRecord& c : stats.containers) *linux_stats->add_containers() = ToCri(c);
  return out;
}

}  // namespace vmmap
