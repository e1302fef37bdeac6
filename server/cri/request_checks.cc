#include "server/cri/request_checks.h"

#include <arpa/inet.h>

#include <cstdint>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmmap {
namespace {

namespace v1 = runtime::v1;
using StringProtoMap = google::protobuf::Map<std::string, std::string>;

constexpr size_t kMaxKeyBytes = 317;
constexpr size_t kMaxMapBytes = 256 * 1024;
constexpr size_t kMaxPathBytes = 4096;
constexpr int kMaxWords = 1024;
constexpr size_t kMaxWordBytes = 2048;
constexpr size_t kMaxCpusetBytes = 1024;
constexpr int64_t kMaxQuotaUs = (int64_t{1} << 44) - 1;
constexpr int64_t kMaxMemoryBytes = int64_t{1} << 62;

absl::Status CheckMap(const StringProtoMap& map, absl::string_view field) {
  size_t total = 0;
  for (const auto& [key, value] : map) {
    if (key.empty() || key.size() > kMaxKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": key of ", key.size(), " bytes; keys have 1 to ", kMaxKeyBytes));
    }
    total += key.size() + value.size();
  }
  if (total > kMaxMapBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", total, " bytes of keys and values; at most ", kMaxMapBytes));
  }
  return absl::OkStatus();
}

absl::Status CheckPath(const std::string& path, absl::string_view field, bool absolute) {
  if (path.empty()) return absl::OkStatus();  // no logs wanted
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", path.size(), " bytes; at most ", kMaxPathBytes));
  }
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": contains a NUL byte"));
  }
  if (absolute != (path[0] == '/')) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " \"", path, "\": must be ", absolute ? "absolute" : "relative"));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " \"", path, "\": a \"..\" component is not allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckWords(const google::protobuf::RepeatedPtrField<std::string>& words,
                        absl::string_view field) {
  if (words.size() > kMaxWords) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", words.size(), " words; at most ", kMaxWords));
  }
  for (int i = 0; i < words.size(); ++i) {
    if (words[i].size() > kMaxWordBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "]: ", words[i].size(), " bytes; at most ", kMaxWordBytes));
    }
  }
  return absl::OkStatus();
}

absl::Status OutOfRange(absl::string_view field, absl::string_view name, int64_t value,
                        absl::string_view allowed) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ".", name, ": ", value, " is out of range (", allowed, ")"));
}

}  // namespace

absl::Status CheckResources(const v1::LinuxContainerResources& r, absl::string_view field) {
  const int64_t period = r.cpu_period();
  if (period != 0 && (period < 1000 || period > 1000000)) {
    return OutOfRange(field, "cpu_period", period, "0 or 1000 to 1000000 µs");
  }
  const int64_t quota = r.cpu_quota();
  if (quota != 0 && quota != -1 && (quota < 1000 || quota > kMaxQuotaUs)) {
    return OutOfRange(field, "cpu_quota", quota,
                      absl::StrCat("-1, 0 or 1000 to ", kMaxQuotaUs, " µs"));
  }
  const int64_t shares = r.cpu_shares();
  if (shares != 0 && (shares < 2 || shares > 262144)) {
    return OutOfRange(field, "cpu_shares", shares, "0 or 2 to 262144");
  }
  const int64_t memory = r.memory_limit_in_bytes();
  if (memory != 0 && (memory < 4096 || memory > kMaxMemoryBytes)) {
    return OutOfRange(field, "memory_limit_in_bytes", memory,
                      absl::StrCat("0 or 4096 to ", kMaxMemoryBytes));
  }
  if (r.cpuset_cpus().size() > kMaxCpusetBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".cpuset_cpus: ", r.cpuset_cpus().size(),
                                                   " bytes; at most ", kMaxCpusetBytes));
  }
  return absl::OkStatus();
}

namespace {

// Port mappings and DNS reach CNI plugins (JSON) and the guest's kernel
// command line: counts, ports, addresses and words are bounded here.
constexpr int kMaxPortMappings = 256;
constexpr int kMaxDnsEntries = 32;
constexpr size_t kMaxDnsWordBytes = 253;

bool IsIpAddress(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

absl::Status CheckPortMappings(const v1::PodSandboxConfig& config) {
  if (config.port_mappings_size() > kMaxPortMappings) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.port_mappings: ", config.port_mappings_size(), " mappings; at most ",
                     kMaxPortMappings));
  }
  for (int i = 0; i < config.port_mappings_size(); ++i) {
    const v1::PortMapping& p = config.port_mappings(i);
    const std::string field = absl::StrCat("config.port_mappings[", i, "]");
    if (p.container_port() < 0 || p.container_port() > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".container_port: ", p.container_port(), " is not 0..65535"));
    }
    if (p.host_port() < 0 || p.host_port() > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".host_port: ", p.host_port(), " is not 0..65535"));
    }
    if (!p.host_ip().empty() && !IsIpAddress(p.host_ip())) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".host_ip: \"",
                                                     absl::CHexEscape(p.host_ip().substr(0, 64)),
                                                     "\" is not an IP address"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDnsWords(const google::protobuf::RepeatedPtrField<std::string>& words,
                           const std::string& field, bool addresses) {
  if (words.size() > kMaxDnsEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", words.size(), " entries; at most ", kMaxDnsEntries));
  }
  for (int i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    bool printable = w.size() <= kMaxDnsWordBytes && !w.empty();
    for (char c : w) printable = printable && c > 0x20 && c < 0x7f;
    if (!printable || (addresses && !IsIpAddress(w))) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "]: \"", absl::CHexEscape(w.substr(0, 64)), "\" is not ",
                       addresses ? "an IP address" : "a printable word of at most 253 bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDnsConfig(const v1::DNSConfig& dns) {
  if (absl::Status s = CheckDnsWords(dns.servers(), "config.dns_config.servers", true); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDnsWords(dns.searches(), "config.dns_config.searches", false);
      !s.ok()) {
    return s;
  }
  return CheckDnsWords(dns.options(), "config.dns_config.options", false);
}

}  // namespace

absl::Status CheckSandboxConfig(const v1::PodSandboxConfig& config) {
  if (absl::Status s = CheckMap(config.labels(), "config.labels"); !s.ok()) return s;
  if (absl::Status s = CheckMap(config.annotations(), "config.annotations"); !s.ok()) return s;
  if (absl::Status s = CheckPath(config.log_directory(), "config.log_directory", true); !s.ok()) {
    return s;
  }
  if (config.hostname().size() > 253) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.hostname: ", config.hostname().size(), " bytes; at most 253"));
  }
  if (config.linux().cgroup_parent().size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.linux.cgroup_parent: ", config.linux().cgroup_parent().size(),
                     " bytes; at most ", kMaxPathBytes));
  }
  if (absl::Status s = CheckResources(config.linux().resources(), "config.linux.resources");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckPortMappings(config); !s.ok()) return s;
  if (absl::Status s = CheckDnsConfig(config.dns_config()); !s.ok()) return s;
  return CheckResources(config.linux().overhead(), "config.linux.overhead");
}

absl::Status CheckExecSyncRequest(const v1::ExecSyncRequest& request) {
  if (request.cmd().empty() || request.cmd(0).empty()) {
    return absl::InvalidArgumentError("cmd: empty; ExecSync needs a command to run");
  }
  if (absl::Status s = CheckWords(request.cmd(), "cmd"); !s.ok()) return s;
  constexpr int64_t kMaxTimeoutSeconds = int64_t{365} * 24 * 3600;
  if (request.timeout() < 0 || request.timeout() > kMaxTimeoutSeconds) {
    return absl::InvalidArgumentError(absl::StrCat("timeout: ", request.timeout(),
                                                   " s is out of range (0 for none, or up to ",
                                                   kMaxTimeoutSeconds, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckContainerConfig(const v1::ContainerConfig& config) {
  if (absl::Status s = CheckMap(config.labels(), "config.labels"); !s.ok()) return s;
  if (absl::Status s = CheckMap(config.annotations(), "config.annotations"); !s.ok()) return s;
  if (absl::Status s = CheckPath(config.log_path(), "config.log_path", false); !s.ok()) return s;
  if (absl::Status s = CheckWords(config.command(), "config.command"); !s.ok()) return s;
  if (absl::Status s = CheckWords(config.args(), "config.args"); !s.ok()) return s;
  if (config.image().image().size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.image.image: ", config.image().image().size(), " bytes; at most ", kMaxPathBytes));
  }
  return CheckResources(config.linux().resources(), "config.linux.resources");
}

}  // namespace vmmap
