// Stats records (server/stats) ↔ CRI stats messages. The only place that
// knows both; the stats room never sees runtime.v1.
#ifndef VMMAP_SERVER_CRI_STATS_CONVERT_H_
#define VMMAP_SERVER_CRI_STATS_CONVERT_H_

#include "runtime_v1.pb.h"
#include "server/runtime/filters.h"
#include "server/stats/stats_records.h"

namespace vmmap {

ContainerFilter FromCri(const runtime::v1::ContainerStatsFilter& filter);
SandboxFilter FromCri(const runtime::v1::PodSandboxStatsFilter& filter);

// Attributes and metadata are always set (kubelet dereferences them); a
// figure the record does not know is left unset, never zero.
runtime::v1::ContainerStats ToCri(const ContainerStatsRecord& stats);
runtime::v1::PodSandboxStats ToCri(const PodStatsRecord& stats);

}  // namespace vmmap

#endif  // VMMAP_SERVER_CRI_STATS_CONVERT_H_
