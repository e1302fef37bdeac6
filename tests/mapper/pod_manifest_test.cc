#include "mapper/pod_manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmmap {
namespace {

using ::testing::HasSubstr;

TEST(PodManifestTest, WorkloadTemplatesTakeTheWorkloadsName) {
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(R"(
kind: CronJob
metadata: {name: nightly, namespace: batch}
spec:
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: x}}
        spec:
          containers: [{name: c, resources: {limits: {cpu: 1}}}]
---
---
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: c}]
)");
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->size(), 2u);
  EXPECT_EQ((*pods)[0].source_kind, "CronJob");
  EXPECT_EQ((*pods)[0].name, "nightly");
  EXPECT_EQ((*pods)[0].namespace_name, "batch");
  EXPECT_EQ((*pods)[0].labels.at("app"), "x");
  EXPECT_EQ((*pods)[0].containers[0].cpu_limit_milli, 1000);
  EXPECT_EQ((*pods)[1].name, "web");
  EXPECT_EQ((*pods)[1].namespace_name, "default");
}

TEST(PodManifestTest, MalformedYamlNamesLineAndColumn) {
  absl::StatusOr<std::vector<PodManifest>> pods =
      ParsePodManifests("kind: Pod\nmetadata: {name: a\nspec: [\n");
  ASSERT_FALSE(pods.ok());
  EXPECT_EQ(pods.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pods.status().message(), HasSubstr("line "));
  EXPECT_THAT(pods.status().message(), HasSubstr("column "));
}

TEST(PodManifestTest, BadQuantityNamesPathValueAndLine) {
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(R"(kind: Pod
metadata: {name: a}
spec:
  containers:
  - name: c
    resources:
      limits:
        cpu: 1.5x
)");
  ASSERT_FALSE(pods.ok());
  EXPECT_THAT(pods.status().message(), HasSubstr("line 8, column 14"));
  EXPECT_THAT(pods.status().message(), HasSubstr("spec.containers[0].resources.limits.cpu"));
  EXPECT_THAT(pods.status().message(), HasSubstr("\"1.5x\""));
}

TEST(PodManifestTest, StructuralErrors) {
  struct Case {
    const char* yaml;
    const char* message;
  } cases[] = {
      {"kind: Service\nmetadata: {name: a}\n", "holds no pod"},
      {"metadata: {name: a}\n", "kind: missing"},
      {"kind: Pod\nspec: {containers: [{name: c}]}\n", "metadata.name: missing"},
      {"kind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n", "at least one container"},
      {"kind: Pod\nmetadata: {name: a}\nspec: {containers: {}}\n", "expected a list"},
      {"kind: Deployment\nmetadata: {name: a}\nspec: {}\n", "spec.template: missing"},
      {"kind: Pod\nmetadata: {name: a, annotations: {x: [1]}}\nspec: {containers: [{name: c}]}\n",
       "metadata.annotations.x: expected a string"},
      {"", "no pod found"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(c.yaml);
    ASSERT_FALSE(pods.ok()) << c.yaml;
    EXPECT_THAT(pods.status().message(), HasSubstr(c.message)) << c.yaml;
  }
}

TEST(PodManifestTest, VolumesAndVolumeMountsAreRead) {
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(R"(kind: Pod
metadata: {name: a}
spec:
  automountServiceAccountToken: false
  volumes:
  - {name: config, configMap: {name: app}}
  - {name: logs, hostPath: {path: /var/log/app}}
  containers:
  - name: c
    terminationMessagePath: /tmp/why
    volumeMounts:
    - {name: config, mountPath: /etc/app, readOnly: true, subPath: app.conf}
    - {name: logs, mountPath: /logs}
)");
  ASSERT_TRUE(pods.ok()) << pods.status();
  const PodManifest& pod = pods->front();
  EXPECT_FALSE(pod.automount_service_account_token);
  ASSERT_EQ(pod.volumes.size(), 2u);
  EXPECT_EQ(pod.volumes[0].source, "configMap");
  EXPECT_EQ(pod.volumes[1].source, "hostPath");
  EXPECT_EQ(pod.volumes[1].host_path, "/var/log/app");
  const ContainerSpec& c = pod.containers.front();
  EXPECT_EQ(c.termination_message_path, "/tmp/why");
  ASSERT_EQ(c.volume_mounts.size(), 2u);
  EXPECT_EQ(c.volume_mounts[0].mount_path, "/etc/app");
  EXPECT_EQ(c.volume_mounts[0].sub_path, "app.conf");
  EXPECT_TRUE(c.volume_mounts[0].read_only);
  EXPECT_FALSE(c.volume_mounts[1].read_only);
}

TEST(PodManifestTest, BadVolumesNameTheFieldAndValue) {
  struct Case {
    const char* spec;
    const char* message;
  } cases[] = {
      {"volumes: [{name: v, emptyDir: {}}]\n  containers: [{name: c, volumeMounts: [{name: w, "
       "mountPath: /w}]}]",
       "spec.containers[0].volumeMounts[0].name: no volume \"w\" in spec.volumes"},
      {"volumes: [{name: v, emptyDir: {}}]\n  containers: [{name: c, volumeMounts: [{name: v}]}]",
       "spec.containers[0].volumeMounts[0].mountPath: missing"},
      {"volumes: [{name: v, emptyDir: {}}]\n  containers: [{name: c, volumeMounts: [{name: v, "
       "mountPath: /v, readOnly: yes}]}]",
       "spec.containers[0].volumeMounts[0].readOnly: expected true or false, got \"yes\""},
      {"volumes: [{name: v}]\n  containers: [{name: c}]",
       "spec.volumes[0]: volume \"v\" has no source"},
      {"volumes: [{name: v, emptyDir: {}}, {name: v, emptyDir: {}}]\n  containers: [{name: c}]",
       "spec.volumes[1].name: \"v\" is used twice"},
      {"volumes: [{name: v, hostPath: {type: Directory}}]\n  containers: [{name: c}]",
       "spec.volumes[0].hostPath.path: missing"},
      {"volumes: {v: 1}\n  containers: [{name: c}]", "spec.volumes: expected a list"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<PodManifest>> pods =
        ParsePodManifests(std::string("kind: Pod\nmetadata: {name: a}\nspec:\n  ") + c.spec + "\n");
    ASSERT_FALSE(pods.ok()) << c.spec;
    EXPECT_EQ(pods.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(pods.status().message(), HasSubstr(c.message)) << c.spec;
  }
}

}  // namespace
}  // namespace vmmap
