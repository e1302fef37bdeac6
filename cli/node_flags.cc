#include "cli/node_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "mapper/quantity.h"

namespace vmmap {
namespace {

absl::Status BadValue(const std::string& flag, const std::string& value,
                      absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(flag, "=\"", value, "\": expected ", expected));
}

absl::Status ParseInt(const std::string& flag, const std::string& value, int64_t lo, int64_t hi,
                      int64_t* out) {
  if (!absl::SimpleAtoi(value, out) || *out < lo || *out > hi) {
    return BadValue(flag, value, absl::StrCat("a whole number in [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

absl::Status ParseBytes(const std::string& flag, const std::string& value, int64_t* out) {
  absl::StatusOr<Quantity> q = Quantity::Parse(value, flag);
  if (!q.ok()) return q.status();
  absl::StatusOr<int64_t> bytes = q->Units();
  if (!bytes.ok()) return bytes.status();
  *out = *bytes;
  return absl::OkStatus();
}

}  // namespace

const char* NodeFlagsHelp() {
  return "node flags:\n"
         "  --cgroup-version 1|2          host cgroup version (2 turns shares into cpu.weight) "
         "[1]\n"
         "  --cgroup-driver cgroupfs|systemd  kubelet's cgroup driver [cgroupfs]\n"
         "  --node-partition PATH         libvirt partition on cgroupfs nodes [/vmmap]\n"
         "  --domain-type kvm|qemu        libvirt domain type [kvm]\n"
         "  --max-vcpus N                 most vCPUs a pod may have [16]\n"
         "  --default-memory QUANTITY     guest memory without a memory limit [1Gi]\n"
         "  --min-memory QUANTITY         smallest guest memory allowed [64Mi]\n"
         "  --emulator-cpu MILLI          emulator threads' CPU slice in millicores [100]\n"
         "  --emulator PATH               QEMU binary for <emulator> [libvirt's default]\n"
         "  --balloon-period SECONDS      balloon statistics period [10]\n";
}

absl::Status ParseNodeFlag(const std::string& flag, const std::string& value, NodeConfig& node,
                           bool* consumed) {
  *consumed = true;
  int64_t n = 0;
  if (flag == "--cgroup-version") {
    if (value != "1" && value != "2") return BadValue(flag, value, "1 or 2");
    node.cgroup_version = value == "1" ? 1 : 2;
  } else if (flag == "--cgroup-driver") {
    if (value == "cgroupfs") {
      node.cgroup_driver = CgroupDriver::kCgroupfs;
    } else if (value == "systemd") {
      node.cgroup_driver = CgroupDriver::kSystemd;
    } else {
      return BadValue(flag, value, "cgroupfs or systemd");
    }
  } else if (flag == "--node-partition") {
    if (value.empty() || value[0] != '/')
      return BadValue(flag, value, "an absolute path such as /vmmap");
    node.node_partition = value;
  } else if (flag == "--domain-type") {
    if (value == "kvm") {
      node.domain_type = DomainType::kKvm;
    } else if (value == "qemu") {
      node.domain_type = DomainType::kQemu;
    } else {
      return BadValue(flag, value, "kvm or qemu");
    }
  } else if (flag == "--max-vcpus") {
    if (absl::Status s = ParseInt(flag, value, 1, 4096, &n); !s.ok()) return s;
    node.max_vcpus = static_cast<int>(n);
  } else if (flag == "--default-memory") {
    return ParseBytes(flag, value, &node.default_guest_memory_bytes);
  } else if (flag == "--min-memory") {
    return ParseBytes(flag, value, &node.min_guest_memory_bytes);
  } else if (flag == "--emulator-cpu") {
    return ParseInt(flag, value, node.min_emulator_milli, node.max_emulator_milli,
                    &node.default_emulator_milli);
  } else if (flag == "--emulator") {
    node.emulator_path = value;
  } else if (flag == "--balloon-period") {
    if (absl::Status s = ParseInt(flag, value, 0, 3600, &n); !s.ok()) return s;
    node.balloon_stats_period_s = static_cast<int>(n);
  } else {
    *consumed = false;
  }
  return absl::OkStatus();
}

}  // namespace vmmap
