// SetPodAnnotation edits text: the output is the input with exactly the
// annotation's bytes changed or inserted, for every layout kubectl users write.
#include "cli/annotate_edit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mapper/pod_manifest.h"

namespace vmmap {
namespace {

using ::testing::HasSubstr;

std::string Set(const std::string& yaml, const std::string& value = "4") {
  absl::StatusOr<std::string> out = SetPodAnnotation(yaml, "vmmap.io/vcpus", value);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return "";
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(*out);
  EXPECT_TRUE(pods.ok()) << pods.status() << "\n" << *out;
  if (pods.ok()) {
    for (const PodManifest& pod : *pods)
      EXPECT_EQ(pod.annotations.at("vmmap.io/vcpus"), value) << *out;
  }
  return *out;
}

const char kPodHead[] = "apiVersion: v1\nkind: Pod\n";
const char kSpec[] = "spec:\n  containers:\n  - name: vm\n    resources: {limits: {cpu: \"2\"}}\n";

TEST(AnnotateEditTest, ReplacesAnExistingValueKeepingCommentsAndQuotes) {
  const std::string in = std::string(kPodHead) +
                         "metadata:\n  name: web   # the name\n  annotations:\n"
                         "    other: 'x'\n    vmmap.io/vcpus: \"2\"   # sized for the load test\n" +
                         kSpec;
  std::string want = in;
  want.replace(want.find("\"2\"   #"), 3, "\"4\"");
  EXPECT_EQ(Set(in), want);
  // Plain and single-quoted values too.
  std::string plain = in;
  plain.replace(plain.find("\"2\"   #"), 3, "2");
  EXPECT_EQ(Set(plain), want);
  std::string single = in;
  single.replace(single.find("\"2\"   #"), 3, "'2'");
  EXPECT_EQ(Set(single), want);
}

TEST(AnnotateEditTest, InsertsIntoBlockAndFlowAnnotations) {
  const std::string block =
      std::string(kPodHead) + "metadata:\n  name: web\n  annotations:\n    a: b\n" + kSpec;
  EXPECT_EQ(Set(block),
            std::string(kPodHead) +
                "metadata:\n  name: web\n  annotations:\n    vmmap.io/vcpus: \"4\"\n    a: b\n" +
                kSpec);
  const std::string flow =
      std::string(kPodHead) + "metadata: {name: web, annotations: {a: b}}\n" + kSpec;
  EXPECT_EQ(Set(flow), std::string(kPodHead) +
                           "metadata: {name: web, annotations: {vmmap.io/vcpus: \"4\", a: b}}\n" +
                           kSpec);
  const std::string empty =
      std::string(kPodHead) + "metadata:\n  name: web\n  annotations: {}\n" + kSpec;
  EXPECT_EQ(Set(empty), std::string(kPodHead) +
                            "metadata:\n  name: web\n  annotations: {vmmap.io/vcpus: \"4\"}\n" +
                            kSpec);
}

TEST(AnnotateEditTest, CreatesAnnotationsAndTemplateMetadataWhereMissing) {
  const std::string pod = std::string(kPodHead) + "metadata:\n  name: web\n" + kSpec;
  EXPECT_EQ(Set(pod), std::string(kPodHead) +
                          "metadata:\n  annotations: {vmmap.io/vcpus: \"4\"}\n  name: web\n" +
                          kSpec);
  const std::string cronjob =
      "kind: CronJob\nmetadata: {name: nightly}\nspec:\n  jobTemplate:\n    spec:\n      "
      "template:\n"
      "        spec:\n          containers:\n          - name: vm\n";
  EXPECT_EQ(Set(cronjob),
            "kind: CronJob\nmetadata: {name: nightly}\nspec:\n  jobTemplate:\n    spec:\n      "
            "template:\n"
            "        metadata: {annotations: {vmmap.io/vcpus: \"4\"}}\n"
            "        spec:\n          containers:\n          - name: vm\n");
}

TEST(AnnotateEditTest, EveryDocumentOfAStreamAndMultibyteTextBeforeTheEdit) {
  // Characters of 2, 3 and 4 bytes before the edit: libyaml counts characters.
  const std::string doc = std::string("# é — 🚀\n") + kPodHead +
                          "metadata:\n  name: wéb\n  annotations:\n    a: b\n" + kSpec;
  const std::string out = Set("\xEF\xBB\xBF" + doc + "---\n" + doc + "---\n");
  const std::string edited =
      std::string("# é — 🚀\n") + kPodHead +
      "metadata:\n  name: wéb\n  annotations:\n    vmmap.io/vcpus: \"4\"\n    a: b\n" + kSpec;
  EXPECT_EQ(out, "\xEF\xBB\xBF" + edited + "---\n" + edited + "---\n");
}

TEST(AnnotateEditTest, KeepsWindowsLineEndings) {
  const std::string in =
      "apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: web\r\n  annotations:\r\n"
      "    vmmap.io/vcpus: \"2\"\r\nspec:\r\n  containers:\r\n  - name: vm\r\n";
  std::string want = in;
  want.replace(want.find("\"2\""), 3, "\"4\"");
  EXPECT_EQ(Set(in), want);
}

TEST(AnnotateEditTest, RefusesWhatItCannotEditNamingWhere) {
  absl::StatusOr<std::string> r = SetPodAnnotation(
      std::string(kPodHead) + "metadata:\n  name: web\n  annotations: null\n" + kSpec,
      "vmmap.io/vcpus", "4");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("line 5, column 16: metadata.annotations: expected a mapping"));
  r = SetPodAnnotation(
      std::string(kPodHead) +
          "metadata:\n  name: web\n  annotations:\n    vmmap.io/vcpus: |\n      2\n" + kSpec,
      "vmmap.io/vcpus", "4");
  EXPECT_THAT(r.status().message(), HasSubstr("block scalar"));
  r = SetPodAnnotation("kind: Service\nmetadata: {name: x}\n", "vmmap.io/vcpus", "4");
  EXPECT_THAT(r.status().message(), HasSubstr("kind: \"Service\" holds no pod"));
  r = SetPodAnnotation("kind: Pod\nmetadata: {name: x}\n", "vmmap.io/vcpus", "4\nx: y");
  EXPECT_THAT(r.status().message(), HasSubstr("must be letters, digits"));
  r = SetPodAnnotation("kind: Pod\nmetadata: [\n", "vmmap.io/vcpus", "4");
  EXPECT_THAT(r.status().message(), HasSubstr("malformed YAML"));
}

}  // namespace
}  // namespace vmmap
