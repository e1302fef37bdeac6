// The probes behind `vmmap check`: each looks at one thing the node needs and
// returns a finding with its fix. Paths are parameters so tests can point
// them at directories they prepared.
#ifndef VMMAP_CLI_NODE_PROBES_H_
#define VMMAP_CLI_NODE_PROBES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "cli/node_findings.h"

namespace vmmap {

// Opens `device`, creates a VM with one vCPU and runs a guest `hlt`: KVM is
// usable only if the vCPU comes back with KVM_EXIT_HLT. May hang under
// nested virtualisation: run it through RunIsolated. Not required when
// `kvm_required` is false (the node runs `--domain-type qemu`).
Finding ProbeKvm(const std::string& device, bool kvm_required);

// Opens `uri` (an embedded driver gets a fresh root, removed afterwards) and
// reads the library and hypervisor versions. Run it through RunIsolated.
Finding ProbeLibvirt(const std::string& uri);

// cgroup v1 or v2 under `root` (/sys/fs/cgroup) with the cpu, cpuacct (v1),
// memory and cpuset controllers vmmap's domains need.
Finding CheckCgroups(const std::string& root);

// Locked guest memory: RLIMIT_MEMLOCK unlimited, or CAP_SYS_RESOURCE so
// libvirt can raise it to each domain's hard_limit.
Finding CheckMemlock();

// A CNI config in `conf_dir` whose every plugin type is an executable in one
// of `bin_dirs`.
Finding CheckCni(const std::string& conf_dir, const std::vector<std::string>& bin_dirs);

// The first executable of `candidates` (absolute paths, or names looked up
// in PATH). `name` and `package` go into the finding and its fix.
Finding FindTool(const std::string& name, const std::vector<std::string>& candidates,
                 const std::string& package, bool required);

// Free space where `state_dir` is (or would be created): fail below
// `min_free_bytes`, warn below 4 × that.
Finding CheckDiskSpace(const std::string& state_dir, int64_t min_free_bytes);

}  // namespace vmmap

#endif  // VMMAP_CLI_NODE_PROBES_H_
