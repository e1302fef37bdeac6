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

}  // namespace
}  // namespace vmmap
