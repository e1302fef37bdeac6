// CRI messages ↔ the runtime's typed records: the only place that knows both.
// Requests become typed inputs here; records become responses here.
#ifndef VMMAP_SERVER_CRI_CRI_CONVERT_H_
#define VMMAP_SERVER_CRI_CRI_CONVERT_H_

#include "runtime_v1.pb.h"
#include "server/runtime/filters.h"
#include "server/state/records.h"

namespace vmmap {

LinuxResources FromCri(const runtime::v1::LinuxContainerResources& resources);
SandboxConfig FromCri(const runtime::v1::PodSandboxConfig& config,
                      const std::string& runtime_handler);
ContainerConfig FromCri(const runtime::v1::ContainerConfig& config);
SandboxFilter FromCri(const runtime::v1::PodSandboxFilter& filter);
ContainerFilter FromCri(const runtime::v1::ContainerFilter& filter);

runtime::v1::LinuxContainerResources ToCri(const LinuxResources& resources);
runtime::v1::PodSandboxStatus ToCriStatus(const SandboxRecord& sandbox);
runtime::v1::PodSandbox ToCriItem(const SandboxRecord& sandbox);
runtime::v1::ContainerStatus ToCriStatus(const ContainerRecord& container);
runtime::v1::Container ToCriItem(const ContainerRecord& container);

}  // namespace vmmap

#endif  // VMMAP_SERVER_CRI_CRI_CONVERT_H_
