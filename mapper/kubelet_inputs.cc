#include "mapper/kubelet_inputs.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "mapper/kubelet_math.h"

namespace vmmap {
namespace {

// Requests default to limits when only the limit is given.
std::optional<int64_t> EffectiveRequest(const std::optional<int64_t>& request,
                                        const std::optional<int64_t>& limit) {
  return request.has_value() ? request : limit;
}

struct Totals {
  int64_t cpu_request = 0;
  int64_t memory_request = 0;
  std::optional<int64_t> cpu_limit = 0;  // nullopt once a container has none
  std::optional<int64_t> memory_limit = 0;
};

void AddContainer(const ContainerSpec& c, Totals& t) {
  t.cpu_request = SaturatingAdd(
      t.cpu_request, EffectiveRequest(c.cpu_request_milli, c.cpu_limit_milli).value_or(0));
  t.memory_request = SaturatingAdd(
      t.memory_request, EffectiveRequest(c.memory_request_bytes, c.memory_limit_bytes).value_or(0));
  t.cpu_limit = (t.cpu_limit && c.cpu_limit_milli)
                    ? std::optional(SaturatingAdd(*t.cpu_limit, *c.cpu_limit_milli))
                    : std::nullopt;
  t.memory_limit = (t.memory_limit && c.memory_limit_bytes)
                       ? std::optional(SaturatingAdd(*t.memory_limit, *c.memory_limit_bytes))
                       : std::nullopt;
}

void MaxWithInit(const ContainerSpec& c, Totals& t) {
  t.cpu_request =
      std::max(t.cpu_request, EffectiveRequest(c.cpu_request_milli, c.cpu_limit_milli).value_or(0));
  t.memory_request = std::max(
      t.memory_request, EffectiveRequest(c.memory_request_bytes, c.memory_limit_bytes).value_or(0));
  t.cpu_limit = (t.cpu_limit && c.cpu_limit_milli)
                    ? std::optional(std::max(*t.cpu_limit, *c.cpu_limit_milli))
                    : std::nullopt;
  t.memory_limit = (t.memory_limit && c.memory_limit_bytes)
                       ? std::optional(std::max(*t.memory_limit, *c.memory_limit_bytes))
                       : std::nullopt;
}

LinuxResources Translate(int64_t cpu_request_milli, std::optional<int64_t> cpu_limit_milli,
                         std::optional<int64_t> memory_limit_bytes) {
  LinuxResources r;
  r.cpu_period_us = kDefaultQuotaPeriodUs;
  r.cpu_shares = MilliCpuToShares(cpu_request_milli);
  if (cpu_limit_milli) r.cpu_quota_us = MilliCpuToQuota(*cpu_limit_milli, kDefaultQuotaPeriodUs);
  if (memory_limit_bytes) r.memory_limit_bytes = *memory_limit_bytes;
  return r;
}

}  // namespace

const char* QosClassName(QosClass qos) {
  switch (qos) {
    case QosClass::kGuaranteed:
      return "Guaranteed";
    case QosClass::kBurstable:
      return "Burstable";
    case QosClass::kBestEffort:
      return "BestEffort";
  }
  return "Burstable";
}

QosClass ComputeQosClass(const PodManifest& pod) {
  bool any_set = false;
  bool guaranteed = true;
  auto visit = [&](const ContainerSpec& c) {
    const bool has_any =
        c.cpu_request_milli || c.cpu_limit_milli || c.memory_request_bytes || c.memory_limit_bytes;
    any_set = any_set || has_any;
    const auto cpu_req = EffectiveRequest(c.cpu_request_milli, c.cpu_limit_milli);
    const auto mem_req = EffectiveRequest(c.memory_request_bytes, c.memory_limit_bytes);
    if (!c.cpu_limit_milli || !c.memory_limit_bytes || cpu_req != c.cpu_limit_milli ||
        mem_req != c.memory_limit_bytes) {
      guaranteed = false;
    }
  };
  for (const ContainerSpec& c : pod.containers) visit(c);
  for (const ContainerSpec& c : pod.init_containers) visit(c);
  if (!any_set) return QosClass::kBestEffort;
  return guaranteed ? QosClass::kGuaranteed : QosClass::kBurstable;
}

LinuxResources ContainerResourcesFor(const ContainerSpec& c) {
  return Translate(EffectiveRequest(c.cpu_request_milli, c.cpu_limit_milli).value_or(0),
                   c.cpu_limit_milli, c.memory_limit_bytes);
}

LinuxResources PodResourcesFor(const PodManifest& pod) {
  Totals t;
  for (const ContainerSpec& c : pod.containers) AddContainer(c, t);
  for (const ContainerSpec& c : pod.init_containers) MaxWithInit(c, t);
  return Translate(t.cpu_request, t.cpu_limit, t.memory_limit);
}

LinuxResources OverheadFor(const PodManifest& pod) {
  LinuxResources r;
  if (pod.overhead_cpu_milli && *pod.overhead_cpu_milli > 0) {
    r.cpu_period_us = kDefaultQuotaPeriodUs;
    r.cpu_shares = MilliCpuToShares(*pod.overhead_cpu_milli);
    r.cpu_quota_us = MilliCpuToQuota(*pod.overhead_cpu_milli, kDefaultQuotaPeriodUs);
  }
  r.memory_limit_bytes = pod.overhead_memory_bytes.value_or(0);
  return r;
}

std::string CgroupParentFor(const PodManifest& pod, CgroupDriver driver) {
  const QosClass qos = ComputeQosClass(pod);
  if (driver == CgroupDriver::kSystemd) {
    const std::string uid = absl::StrReplaceAll(pod.uid, {{"-", "_"}});
    switch (qos) {
      case QosClass::kGuaranteed:
        return absl::StrCat("kubepods-pod", uid, ".slice");
      case QosClass::kBurstable:
        return absl::StrCat("kubepods-burstable-pod", uid, ".slice");
      case QosClass::kBestEffort:
        return absl::StrCat("kubepods-besteffort-pod", uid, ".slice");
    }
  }
  switch (qos) {
    case QosClass::kGuaranteed:
      return absl::StrCat("/kubepods/pod", pod.uid);
    case QosClass::kBurstable:
      return absl::StrCat("/kubepods/burstable/pod", pod.uid);
    case QosClass::kBestEffort:
      return absl::StrCat("/kubepods/besteffort/pod", pod.uid);
  }
  return "";
}

namespace {

constexpr char kKubeletPods[] = "/var/lib/kubelet/pods/";
constexpr char kServiceAccountPath[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// kubelet's directory for a volume plugin ("emptyDir" → kubernetes.io~empty-dir).
std::string PluginDir(const std::string& source) {
  struct Plugin {
    const char* source;
    const char* dir;
  };
  static constexpr Plugin kPlugins[] = {
      {"emptyDir", "kubernetes.io~empty-dir"},
      {"configMap", "kubernetes.io~configmap"},
      {"secret", "kubernetes.io~secret"},
      {"projected", "kubernetes.io~projected"},
      {"downwardAPI", "kubernetes.io~downward-api"},
  };
  for (const Plugin& p : kPlugins) {
    if (source == p.source) return p.dir;
  }
  return "kubernetes.io~csi";  // persistentVolumeClaim, csi, ephemeral, …: a CSI mount
}

bool KeysAreFiles(const std::string& source) {
  return source == "configMap" || source == "secret" || source == "projected" ||
         source == "downwardAPI";
}

}  // namespace

std::vector<VolumeMount> KubeletMountsFor(const PodManifest& pod, const ContainerSpec& container) {
  const std::string pod_dir = absl::StrCat(kKubeletPods, pod.uid.empty() ? "POD_UID" : pod.uid);
  std::vector<VolumeMountSpec> specs = container.volume_mounts;
  std::vector<VolumeSpec> volumes = pod.volumes;
  auto mounted_at = [&specs](const std::string& path) {
    return std::any_of(specs.begin(), specs.end(),
                       [&path](const VolumeMountSpec& m) { return m.mount_path == path; });
  };
  if (pod.automount_service_account_token && !mounted_at(kServiceAccountPath)) {
    volumes.push_back({"kube-api-access", "projected", ""});
    specs.push_back({"kube-api-access", kServiceAccountPath, "", true});
  }
  std::vector<VolumeMount> mounts;
  for (size_t i = 0; i < specs.size(); ++i) {
    const VolumeMountSpec& spec = specs[i];
    auto volume = std::find_if(volumes.begin(), volumes.end(),
                               [&spec](const VolumeSpec& v) { return v.name == spec.name; });
    if (volume == volumes.end()) continue;  // pod_manifest.cc refuses such a pod
    VolumeMount m;
    m.container_path = spec.mount_path;
    m.read_only = spec.read_only;
    if (!spec.sub_path.empty()) {
      // kubelet bind-mounts the subPath at volume-subpaths/<volume>/<container>/<index>.
      m.host_path =
          absl::StrCat(pod_dir, "/volume-subpaths/", spec.name, "/", container.name, "/", i);
      m.host_kind = KeysAreFiles(volume->source) ? HostPathKind::kFile : HostPathKind::kDirectory;
    } else if (volume->source == "hostPath") {
      m.host_path = volume->host_path;
    } else {
      m.host_path = absl::StrCat(pod_dir, "/volumes/", PluginDir(volume->source), "/", spec.name);
    }
    mounts.push_back(std::move(m));
  }
  if (!mounted_at("/etc/hosts")) {
    VolumeMount hosts;
    hosts.container_path = "/etc/hosts";
    hosts.host_path = absl::StrCat(pod_dir, "/etc-hosts");
    hosts.host_kind = HostPathKind::kFile;
    mounts.push_back(std::move(hosts));
  }
  if (!container.termination_message_path.empty()) {
    VolumeMount log;
    log.container_path = container.termination_message_path;
    log.host_path = absl::StrCat(pod_dir, "/containers/", container.name, "/termination-log");
    log.host_kind = HostPathKind::kFile;
    mounts.push_back(std::move(log));
  }
  return mounts;
}

PodSandboxInput SandboxInputFor(const PodManifest& pod, CgroupDriver driver) {
  PodSandboxInput in;
  in.identity.name = pod.name;
  in.identity.namespace_name = pod.namespace_name;
  in.identity.uid = pod.uid;
  in.labels = pod.labels;
  in.annotations = pod.annotations;
  in.cgroup_parent = CgroupParentFor(pod, driver);
  in.pod_resources = PodResourcesFor(pod);
  in.overhead = OverheadFor(pod);
  in.container_resources = ContainerResourcesFor(pod.containers.front());
  in.mounts = KubeletMountsFor(pod, pod.containers.front());
  return in;
}

}  // namespace vmmap
