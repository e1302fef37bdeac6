#include "server/state/schema.h"

namespace vmmap::state_internal {

// Strings are BLOBs (bound as such everywhere, so comparisons match); lists
// and maps use field_codec.h; resources are five columns each.
const char kSchemaSql[] = R"sql(
CREATE TABLE IF NOT EXISTS sandbox (
  id TEXT PRIMARY KEY,
  name BLOB NOT NULL,
  uid BLOB NOT NULL,
  namespace BLOB NOT NULL,
  attempt INTEGER NOT NULL,
  hostname BLOB NOT NULL,
  log_directory BLOB NOT NULL,
  labels BLOB NOT NULL,
  annotations BLOB NOT NULL,
  cgroup_parent BLOB NOT NULL,
  pod_cpu_period_us INTEGER NOT NULL,
  pod_cpu_quota_us INTEGER NOT NULL,
  pod_cpu_shares INTEGER NOT NULL,
  pod_memory_limit_bytes INTEGER NOT NULL,
  pod_cpuset_cpus BLOB NOT NULL,
  overhead_cpu_period_us INTEGER NOT NULL,
  overhead_cpu_quota_us INTEGER NOT NULL,
  overhead_cpu_shares INTEGER NOT NULL,
  overhead_memory_limit_bytes INTEGER NOT NULL,
  overhead_cpuset_cpus BLOB NOT NULL,
  runtime_handler BLOB NOT NULL,
  state INTEGER NOT NULL,
  created_at_ns INTEGER NOT NULL,
  host_network INTEGER NOT NULL DEFAULT 0,
  port_mappings BLOB NOT NULL DEFAULT X'',
  dns_servers BLOB NOT NULL DEFAULT X'',
  dns_searches BLOB NOT NULL DEFAULT X'',
  dns_options BLOB NOT NULL DEFAULT X'',
  network_pending INTEGER NOT NULL DEFAULT 0,
  netns_path BLOB NOT NULL DEFAULT X'',
  cni_result BLOB NOT NULL DEFAULT X'',
  pod_ips BLOB NOT NULL DEFAULT X''
);
CREATE TABLE IF NOT EXISTS container (
  id TEXT PRIMARY KEY,
  sandbox_id TEXT NOT NULL REFERENCES sandbox(id) ON DELETE CASCADE,
  name BLOB NOT NULL,
  attempt INTEGER NOT NULL,
  image_ref BLOB NOT NULL,
  command BLOB NOT NULL,
  args BLOB NOT NULL,
  log_path BLOB NOT NULL,
  labels BLOB NOT NULL,
  annotations BLOB NOT NULL,
  cpu_period_us INTEGER NOT NULL,
  cpu_quota_us INTEGER NOT NULL,
  cpu_shares INTEGER NOT NULL,
  memory_limit_bytes INTEGER NOT NULL,
  cpuset_cpus BLOB NOT NULL,
  image_id BLOB NOT NULL,
  domain_name BLOB NOT NULL,
  overlay_path BLOB NOT NULL,
  console_path BLOB NOT NULL,
  state INTEGER NOT NULL,
  pending INTEGER NOT NULL,
  created_at_ns INTEGER NOT NULL,
  started_at_ns INTEGER NOT NULL,
  finished_at_ns INTEGER NOT NULL,
  exit_code INTEGER NOT NULL,
  reason BLOB NOT NULL,
  message BLOB NOT NULL,
  mounts BLOB NOT NULL DEFAULT X''
);
)sql";

// Version 1 → 2: the sandbox's pod network (issue 10). Additive: the
// columns' defaults describe a sandbox without a pod network, which is what
// every version-1 sandbox was.
const char kMigrateV1ToV2Sql[] = R"sql(
ALTER TABLE sandbox ADD COLUMN host_network INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sandbox ADD COLUMN port_mappings BLOB NOT NULL DEFAULT X'';
ALTER TABLE sandbox ADD COLUMN dns_servers BLOB NOT NULL DEFAULT X'';
ALTER TABLE sandbox ADD COLUMN dns_searches BLOB NOT NULL DEFAULT X'';
ALTER TABLE sandbox ADD COLUMN dns_options BLOB NOT NULL DEFAULT X'';
ALTER TABLE sandbox ADD COLUMN network_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sandbox ADD COLUMN netns_path BLOB NOT NULL DEFAULT X'';
ALTER TABLE sandbox ADD COLUMN cni_result BLOB NOT NULL DEFAULT X'';
ALTER TABLE sandbox ADD COLUMN pod_ips BLOB NOT NULL DEFAULT X'';
)sql";

// Version 2 → 3: the container's volume mounts (issue 12). Additive: an
// empty list is what every version-2 container had (mounts were ignored).
const char kMigrateV2ToV3Sql[] = R"sql(
ALTER TABLE container ADD COLUMN mounts BLOB NOT NULL DEFAULT X'';
)sql";

const std::vector<std::string>& SandboxColumns() {
  static const std::vector<std::string> columns = {"id",
                                                   "name",
                                                   "uid",
                                                   "namespace",
                                                   "attempt",
                                                   "hostname",
                                                   "log_directory",
                                                   "labels",
                                                   "annotations",
                                                   "cgroup_parent",
                                                   "pod_cpu_period_us",
                                                   "pod_cpu_quota_us",
                                                   "pod_cpu_shares",
                                                   "pod_memory_limit_bytes",
                                                   "pod_cpuset_cpus",
                                                   "overhead_cpu_period_us",
                                                   "overhead_cpu_quota_us",
                                                   "overhead_cpu_shares",
                                                   "overhead_memory_limit_bytes",
                                                   "overhead_cpuset_cpus",
                                                   "runtime_handler",
                                                   "state",
                                                   "created_at_ns",
                                                   "host_network",
                                                   "port_mappings",
                                                   "dns_servers",
                                                   "dns_searches",
                                                   "dns_options",
                                                   "network_pending",
                                                   "netns_path",
                                                   "cni_result",
                                                   "pod_ips"};
  return columns;
}

const std::vector<std::string>& ContainerColumns() {
  static const std::vector<std::string> columns = {"id",
                                                   "sandbox_id",
                                                   "name",
                                                   "attempt",
                                                   "image_ref",
                                                   "command",
                                                   "args",
                                                   "log_path",
                                                   "labels",
                                                   "annotations",
                                                   "cpu_period_us",
                                                   "cpu_quota_us",
                                                   "cpu_shares",
                                                   "memory_limit_bytes",
                                                   "cpuset_cpus",
                                                   "image_id",
                                                   "domain_name",
                                                   "overlay_path",
                                                   "console_path",
                                                   "state",
                                                   "pending",
                                                   "created_at_ns",
                                                   "started_at_ns",
                                                   "finished_at_ns",
                                                   "exit_code",
                                                   "reason",
                                                   "message",
                                                   "mounts"};
  return columns;
}

}  // namespace vmmap::state_internal
