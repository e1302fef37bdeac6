// Bounds on what a pod author or a client can send, checked at the CRI edge
// before any value reaches arithmetic, a path or the store. Each failure is
// InvalidArgument naming the field and the value (or its size).
//
//  * labels and annotations: keys 1…317 bytes (DNS prefix + '/' + name),
//    at most 256 KiB of keys and values per map (Kubernetes' own limit);
//  * log_directory absolute, log_path relative, neither with a ".."
//    component or a NUL byte, each at most 4096 bytes;
//  * command and args: at most 1024 words of at most 2048 bytes each (the
//    kernel command line is bounded again where it is built);
//  * resources: cpu_period 0 or 1000…1000000 µs, cpu_quota −1, 0 or
//    1000…2^44−1 µs, cpu_shares 0 or 2…262144, memory_limit_in_bytes 0 or
//    4096…2^62, cpuset_cpus at most 1024 bytes.
#ifndef VMMAP_SERVER_CRI_REQUEST_CHECKS_H_
#define VMMAP_SERVER_CRI_REQUEST_CHECKS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime_v1.pb.h"

namespace vmmap {

absl::Status CheckSandboxConfig(const runtime::v1::PodSandboxConfig& config);
absl::Status CheckContainerConfig(const runtime::v1::ContainerConfig& config);
// cmd: 1…1024 words of at most 2048 bytes, cmd[0] non-empty; timeout
// 0 (none) to one year.
absl::Status CheckExecSyncRequest(const runtime::v1::ExecSyncRequest& request);
// `field` prefixes the names in messages, e.g. "config.linux.resources".
absl::Status CheckResources(const runtime::v1::LinuxContainerResources& resources,
                            absl::string_view field);

}  // namespace vmmap

#endif  // VMMAP_SERVER_CRI_REQUEST_CHECKS_H_
