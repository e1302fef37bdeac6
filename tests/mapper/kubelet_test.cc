#include <gtest/gtest.h>

#include <limits>

#include "mapper/kubelet_inputs.h"
#include "mapper/kubelet_math.h"
#include "mapper/pod_manifest.h"

namespace vmmap {
namespace {

TEST(KubeletMathTest, SharesMatchKubelet) {
  EXPECT_EQ(MilliCpuToShares(0), 2);
  EXPECT_EQ(MilliCpuToShares(1), 2);
  EXPECT_EQ(MilliCpuToShares(100), 102);
  EXPECT_EQ(MilliCpuToShares(500), 512);
  EXPECT_EQ(MilliCpuToShares(1000), 1024);
  EXPECT_EQ(MilliCpuToShares(1500), 1536);
}

TEST(KubeletMathTest, QuotaMatchesKubelet) {
  EXPECT_EQ(MilliCpuToQuota(0, 100000), 0);
  EXPECT_EQ(MilliCpuToQuota(1, 100000), 1000);  // floor of 1000 µs
  EXPECT_EQ(MilliCpuToQuota(10, 100000), 1000);
  EXPECT_EQ(MilliCpuToQuota(250, 100000), 25000);
  EXPECT_EQ(MilliCpuToQuota(1500, 100000), 150000);
  EXPECT_EQ(QuotaToMilliCpu(150000, 100000), 1500);
  EXPECT_EQ(QuotaToMilliCpu(1000, 100000), 10);
}

TEST(KubeletMathTest, WeightConversionCoversTheV2Range) {
  EXPECT_EQ(SharesToWeight(2), 1);
  EXPECT_EQ(SharesToWeight(1024), 39);
  EXPECT_EQ(SharesToWeight(262144), 10000);
  EXPECT_EQ(SharesToWeight(1), 1);            // clamped
  EXPECT_EQ(SharesToWeight(1 << 30), 10000);  // clamped
}

PodManifest ParseOne(const char* yaml) {
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(yaml);
  EXPECT_TRUE(pods.ok()) << pods.status();
  return pods->front();
}

TEST(KubeletInputsTest, RequestDefaultsToLimit) {
  PodManifest pod = ParseOne(R"(
kind: Pod
metadata: {name: a}
spec:
  containers:
  - name: c
    resources: {limits: {cpu: 2, memory: 1Gi}}
)");
  LinuxResources r = ContainerResourcesFor(pod.containers[0]);
  EXPECT_EQ(r.cpu_shares, 2048);
  EXPECT_EQ(r.cpu_quota_us, 200000);
  EXPECT_EQ(r.cpu_period_us, 100000);
  EXPECT_EQ(r.memory_limit_bytes, int64_t{1} << 30);
  EXPECT_EQ(ComputeQosClass(pod), QosClass::kGuaranteed);
  EXPECT_EQ(CgroupParentFor(pod, CgroupDriver::kCgroupfs), "/kubepods/pod");
}

TEST(KubeletInputsTest, PodTotalsSumAppsAndMaxWithInit) {
  PodManifest pod = ParseOne(R"(
kind: Pod
metadata: {name: a, uid: 1-2}
spec:
  initContainers:
  - name: big-init
    resources: {requests: {cpu: 3}, limits: {cpu: 3, memory: 2Gi}}
  containers:
  - name: c1
    resources: {requests: {cpu: 250m}, limits: {cpu: 500m, memory: 256Mi}}
  - name: c2
    resources: {requests: {cpu: 250m}, limits: {cpu: 1, memory: 256Mi}}
)");
  LinuxResources r = PodResourcesFor(pod);
  EXPECT_EQ(r.cpu_shares, MilliCpuToShares(3000));  // max(500, 3000)
  EXPECT_EQ(r.cpu_quota_us, 300000);                // max(1500m, 3000m)
  EXPECT_EQ(r.memory_limit_bytes, int64_t{2} << 30);
  EXPECT_EQ(ComputeQosClass(pod), QosClass::kBurstable);
  EXPECT_EQ(CgroupParentFor(pod, CgroupDriver::kSystemd), "kubepods-burstable-pod1_2.slice");
}

TEST(KubeletInputsTest, NoPodLimitUnlessEveryContainerHasOne) {
  PodManifest pod = ParseOne(R"(
kind: Pod
metadata: {name: a}
spec:
  containers:
  - name: limited
    resources: {limits: {cpu: 1, memory: 1Gi}}
  - name: sidecar
    resources: {requests: {cpu: 100m}}
)");
  LinuxResources r = PodResourcesFor(pod);
  EXPECT_EQ(r.cpu_quota_us, 0);
  EXPECT_EQ(r.memory_limit_bytes, 0);
  EXPECT_EQ(r.cpu_shares, MilliCpuToShares(1100));
}

TEST(KubeletInputsTest, OverheadTranslatedLikeKubelet) {
  PodManifest pod = ParseOne(R"(
kind: Pod
metadata: {name: a}
spec:
  overhead: {cpu: 250m, memory: 160Mi}
  containers: [{name: c}]
)");
  LinuxResources o = OverheadFor(pod);
  EXPECT_EQ(o.cpu_quota_us, 25000);
  EXPECT_EQ(o.cpu_shares, 256);
  EXPECT_EQ(o.memory_limit_bytes, 160 << 20);
  EXPECT_EQ(ComputeQosClass(pod), QosClass::kBestEffort);
}

}  // namespace
}  // namespace vmmap

namespace vmmap {
namespace {

// Found by tests/fuzz/manifest_fuzz: a CPU limit of 143474512Mi cores
// overflowed milli × 1024. Results saturate; the planner then clamps or refuses.
TEST(KubeletMathTest, HugeValuesSaturateInsteadOfWrapping) {
  const int64_t huge = std::numeric_limits<int64_t>::max() - 1;  // millicores
  EXPECT_EQ(MilliCpuToShares(huge), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(MilliCpuToQuota(huge, kDefaultQuotaPeriodUs), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(QuotaToMilliCpu(std::numeric_limits<int64_t>::max(), 1000),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(QuotaToMilliCpu(150001, 100000), 1501);  // still rounds up
  EXPECT_EQ(QuotaToMilliCpu(150000, 100000), 1500);
  EXPECT_EQ(SaturatingAdd(std::numeric_limits<int64_t>::max(), 1),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(SaturatingAdd(std::numeric_limits<int64_t>::min(), -1),
            std::numeric_limits<int64_t>::min());
}

PodManifest OnePod(const std::string& yaml) {
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(yaml);
  EXPECT_TRUE(pods.ok()) << pods.status();
  return pods.ok() ? pods->front() : PodManifest{};
}

// What kubelet sends for a plain pod: the service-account token the
// admission plugin adds, then /etc/hosts and the termination log (files).
TEST(KubeletInputsTest, EveryPodGetsTheTokenHostsAndTerminationLog) {
  const PodManifest pod = OnePod(R"(kind: Pod
metadata: {name: a, uid: 1234}
spec: {containers: [{name: app}]}
)");
  const std::vector<VolumeMount> mounts = KubeletMountsFor(pod, pod.containers.front());
  ASSERT_EQ(mounts.size(), 3u);
  EXPECT_EQ(mounts[0].container_path, "/var/run/secrets/kubernetes.io/serviceaccount");
  EXPECT_EQ(mounts[0].host_path,
            "/var/lib/kubelet/pods/1234/volumes/kubernetes.io~projected/kube-api-access");
  EXPECT_TRUE(mounts[0].read_only);
  EXPECT_EQ(mounts[0].host_kind, HostPathKind::kDirectory);
  EXPECT_EQ(mounts[1].container_path, "/etc/hosts");
  EXPECT_EQ(mounts[1].host_path, "/var/lib/kubelet/pods/1234/etc-hosts");
  EXPECT_EQ(mounts[1].host_kind, HostPathKind::kFile);
  EXPECT_EQ(mounts[2].container_path, "/dev/termination-log");
  EXPECT_EQ(mounts[2].host_kind, HostPathKind::kFile);
  EXPECT_FALSE(mounts[2].read_only);  // the container writes it, kubelet reads it
  EXPECT_EQ(SandboxInputFor(pod, CgroupDriver::kCgroupfs).mounts.size(), 3u);
}

TEST(KubeletInputsTest, VolumeMountsBecomeKubeletsHostPaths) {
  const PodManifest pod = OnePod(R"(kind: Pod
metadata: {name: a, uid: u}
spec:
  automountServiceAccountToken: false
  volumes:
  - {name: cache, emptyDir: {}}
  - {name: cfg, configMap: {name: app}}
  - {name: host, hostPath: {path: /srv/data}}
  - {name: db, persistentVolumeClaim: {claimName: db}}
  containers:
  - name: app
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: cfg, mountPath: /etc/app.conf, subPath: app.conf, readOnly: true}
    - {name: host, mountPath: /data}
    - {name: db, mountPath: /var/lib/db, subPath: pgdata}
    - {name: cfg, mountPath: /etc/hosts, subPath: hosts}
)");
  const std::vector<VolumeMount> mounts = KubeletMountsFor(pod, pod.containers.front());
  ASSERT_EQ(mounts.size(), 6u);  // no token; the pod's own /etc/hosts replaces kubelet's
  EXPECT_EQ(mounts[0].host_path, "/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/cache");
  EXPECT_EQ(mounts[1].host_path, "/var/lib/kubelet/pods/u/volume-subpaths/cfg/app/1");
  EXPECT_EQ(mounts[1].host_kind, HostPathKind::kFile);  // one key of the configMap
  EXPECT_TRUE(mounts[1].read_only);
  EXPECT_EQ(mounts[2].host_path, "/srv/data");
  EXPECT_EQ(mounts[3].host_kind, HostPathKind::kDirectory);  // a subPath of a PVC: a directory
  EXPECT_EQ(mounts[4].container_path, "/etc/hosts");
  EXPECT_EQ(mounts[5].container_path, "/dev/termination-log");
}

}  // namespace
}  // namespace vmmap
