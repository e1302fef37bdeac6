// Golden tests: each tests/golden/<scenario>.yaml (+ optional .flags) is
// rendered in-process exactly as `vmmap render --no-kubelet-mounts` does it, and the XML must equal
// tests/golden/<scenario>.xml byte for byte. The goldens were computed by hand
// (the arithmetic is the comment at the top of each .xml, see README.md); this
// test never writes them.
//
// Each golden must also be accepted by libvirt itself: it is defined on the
// test driver (test:///default) with VIR_DOMAIN_DEFINE_VALIDATE (the RNG
// schema check) and undefined again.

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>
#include <dirent.h>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "mapper/domain_xml.h"
#include "mapper/kubelet_inputs.h"
#include "mapper/node_config.h"
#include "mapper/planner.h"
#include "mapper/pod_manifest.h"
#include "cli/node_flags.h"

#ifndef VMMAP_GOLDEN_DIR
#error "VMMAP_GOLDEN_DIR must name tests/golden"
#endif

namespace vmmap {
namespace {

// Every scenario, in review order. GoldenDirTest.EveryScenarioIsListed keeps
// this list and the directory in step.
const char* const kScenarios[] = {
    "guaranteed-1cpu",
    "burstable-2vcpu-overhead",
    "besteffort-no-limits",
    "fractional-cpu",
    "fractional-cpu-250m",
    "too-small-to-split",
    "virtlet-annotation",
    "emulator-annotation",
    "multi-container-with-init",
    "cgroup-v2-weight",
    "systemd-partition",
    "systemd-guaranteed",
    "many-vcpus-capped",
    "deployment-template",
    "cronjob-template",
    "hostile-names-and-annotations",
    "node-flags",
};

std::string GoldenPath(const std::string& scenario, const char* extension) {
  return std::string(VMMAP_GOLDEN_DIR) + "/" + scenario + extension;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

std::string MustRead(const std::string& path) {
  std::string text;
  if (!ReadFile(path, &text)) ADD_FAILURE() << "cannot read " << path;
  return text;
}

// Non-empty lines of an optional file.
std::vector<std::string> Lines(const std::string& path) {
  std::string text;
  std::vector<std::string> lines;
  if (!ReadFile(path, &text)) return lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.emplace_back(line);
  }
  return lines;
}

// The golden without its leading hand-computation comment: everything up to
// and including the first "-->\n" when the file starts with "<!--".
std::string ExpectedXml(const std::string& golden) {
  if (golden.rfind("<!--", 0) != 0) return golden;
  const size_t end = golden.find("-->\n");
  if (end == std::string::npos) return golden;
  return golden.substr(end + 4);
}

// A unified-style line diff (LCS based; goldens are ~50 lines).
std::string UnifiedDiff(const std::string& expected, const std::string& actual) {
  const std::vector<std::string> a = absl::StrSplit(expected, '\n');
  const std::vector<std::string> b = absl::StrSplit(actual, '\n');
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  struct Line {
    char tag;
    std::string text;
  };
  std::vector<Line> script;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      script.push_back({' ', a[i]}), ++i, ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      script.push_back({'-', a[i]}), ++i;
    } else {
      script.push_back({'+', b[j]}), ++j;
    }
  }
  // Print changed lines with three lines of context, "@@" between hunks.
  constexpr size_t kContext = 3;
  std::vector<bool> show(script.size(), false);
  for (size_t k = 0; k < script.size(); ++k) {
    if (script[k].tag == ' ') continue;
    const size_t lo = k >= kContext ? k - kContext : 0;
    const size_t hi = std::min(script.size(), k + kContext + 1);
    for (size_t s = lo; s < hi; ++s) show[s] = true;
  }
  std::ostringstream out;
  out << "--- golden (expected)\n+++ rendered (actual)\n";
  bool in_hunk = false;
  for (size_t k = 0; k < script.size(); ++k) {
    if (!show[k]) {
      in_hunk = false;
      continue;
    }
    if (!in_hunk) out << "@@\n";
    in_hunk = true;
    out << script[k].tag << script[k].text << "\n";
  }
  return out.str();
}

struct Rendered {
  std::string xml;
  std::vector<std::string> warnings;
};

// What `vmmap render [flags] <scenario>.yaml` prints, computed in-process.
::testing::AssertionResult Render(const std::string& scenario, Rendered* out) {
  NodeConfig node;
  for (const std::string& line : Lines(GoldenPath(scenario, ".flags"))) {
    std::string flag = line, value;
    if (size_t eq = line.find('='); eq != std::string::npos) {
      flag = line.substr(0, eq), value = line.substr(eq + 1);
    } else if (size_t space = line.find(' '); space != std::string::npos) {
      flag = line.substr(0, space), value = line.substr(space + 1);
    }
    bool consumed = false;
    absl::Status s = ParseNodeFlag(flag, value, node, &consumed);
    if (!s.ok()) return ::testing::AssertionFailure() << scenario << ".flags: " << s;
    if (!consumed) return ::testing::AssertionFailure() << scenario << ".flags: unknown " << flag;
  }
  const std::string yaml = MustRead(GoldenPath(scenario, ".yaml"));
  absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(yaml);
  if (!pods.ok()) return ::testing::AssertionFailure() << "ParsePodManifests: " << pods.status();
  if (pods->size() != 1) {
    return ::testing::AssertionFailure() << "a golden scenario holds one pod, got " << pods->size();
  }
  // As `vmmap render --no-kubelet-mounts`: the goldens pin the CPU and
  // memory rules; kubelet's mounts are pinned by KubeletInputsTest and the
  // shares by tests/volumes.
  PodSandboxInput input = SandboxInputFor(pods->front(), node.cgroup_driver);
  input.mounts.clear();
  absl::StatusOr<DomainPlan> plan = PlanDomain(input, node);
  if (!plan.ok()) return ::testing::AssertionFailure() << "PlanDomain: " << plan.status();
  absl::StatusOr<std::string> xml = RenderDomainXml(plan->spec);
  if (!xml.ok()) return ::testing::AssertionFailure() << "RenderDomainXml: " << xml.status();
  out->xml = *xml;
  out->warnings = plan->explanation.warnings;
  return ::testing::AssertionSuccess();
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, RenderMatchesGoldenByteForByte) {
  const std::string scenario = GetParam();
  const std::string expected = ExpectedXml(MustRead(GoldenPath(scenario, ".xml")));
  ASSERT_FALSE(expected.empty());
  Rendered rendered;
  ASSERT_TRUE(Render(scenario, &rendered));
  if (rendered.xml != expected) {
    ADD_FAILURE() << scenario << ".xml differs from the rendered domain (the golden is a reviewed, "
                  << "hand-computed file: fix the mapper or review the golden by hand):\n"
                  << UnifiedDiff(expected, rendered.xml);
  }
}

// <scenario>.warnings: one expected substring per warning, in order; no file
// or an empty file means no warnings.
TEST_P(GoldenTest, WarningsAreTheExpectedOnes) {
  const std::string scenario = GetParam();
  Rendered rendered;
  ASSERT_TRUE(Render(scenario, &rendered));
  const std::vector<std::string> expected = Lines(GoldenPath(scenario, ".warnings"));
  std::string all;
  for (const std::string& w : rendered.warnings) all += "\n  " + w;
  ASSERT_EQ(rendered.warnings.size(), expected.size()) << "warnings:" << all;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NE(rendered.warnings[i].find(expected[i]), std::string::npos)
        << "warning " << i << " is\n  " << rendered.warnings[i] << "\nexpected it to contain\n  "
        << expected[i];
  }
}

// The golden must be acceptable to libvirt: defined with schema validation on
// the test driver, then undefined.
TEST_P(GoldenTest, GoldenDefinesOnLibvirtTestDriver) {
  const std::string scenario = GetParam();
  const std::string golden = MustRead(GoldenPath(scenario, ".xml"));
  virConnectPtr conn = virConnectOpen("test:///default");
  ASSERT_NE(conn, nullptr) << "virConnectOpen(test:///default): " << virGetLastErrorMessage();
  virDomainPtr dom = virDomainDefineXMLFlags(conn, golden.c_str(), VIR_DOMAIN_DEFINE_VALIDATE);
  EXPECT_NE(dom, nullptr) << scenario << ".xml rejected by libvirt: " << virGetLastErrorMessage();
  if (dom != nullptr) {
    EXPECT_EQ(virDomainUndefine(dom), 0) << virGetLastErrorMessage();
    virDomainFree(dom);
  }
  virConnectClose(conn);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, GoldenTest,
                         ::testing::ValuesIn(std::vector<std::string>(std::begin(kScenarios),
                                                                      std::end(kScenarios))),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// Pod-supplied text must never become markup: the hostile scenario's labels
// and annotations are full of it, and none of it may survive into the XML.
TEST(GoldenHostileTest, NoPodTextBecomesMarkup) {
  Rendered rendered;
  ASSERT_TRUE(Render("hostile-names-and-annotations", &rendered));
  const std::string& xml = rendered.xml;
  for (const char* forbidden : {"]]>", "<![CDATA[", "<script", "<injected", "<tag", "<!--", "&xxe;",
                                "&#60;", "weird<key>"}) {
    EXPECT_EQ(xml.find(forbidden), std::string::npos) << "found " << forbidden << " in\n" << xml;
  }
  // Every '&' starts one of XML's predefined entities.
  for (size_t at = xml.find('&'); at != std::string::npos; at = xml.find('&', at + 1)) {
    const absl::string_view rest = absl::string_view(xml).substr(at);
    const bool entity = absl::StartsWith(rest, "&amp;") || absl::StartsWith(rest, "&lt;") ||
                        absl::StartsWith(rest, "&gt;") || absl::StartsWith(rest, "&quot;") ||
                        absl::StartsWith(rest, "&apos;");
    EXPECT_TRUE(entity) << "bare '&' at offset " << at;
  }
  // Labels and annotations are the pod author's; only identity reaches <metadata>.
  absl::StatusOr<std::vector<PodManifest>> pods =
      ParsePodManifests(MustRead(GoldenPath("hostile-names-and-annotations", ".yaml")));
  ASSERT_TRUE(pods.ok()) << pods.status();
  for (const auto* map : {&pods->front().labels, &pods->front().annotations}) {
    ASSERT_FALSE(map->empty());
    for (const auto& [key, value] : *map) {
      EXPECT_EQ(xml.find(value), std::string::npos) << "value of " << key << " reached the XML";
    }
  }
}

// The scenario list and the directory agree: a new .yaml without a listed
// scenario (or a listed scenario without its files) fails here.
TEST(GoldenDirTest, EveryScenarioIsListed) {
  std::set<std::string> on_disk;
  DIR* dir = opendir(VMMAP_GOLDEN_DIR);
  ASSERT_NE(dir, nullptr);
  while (dirent* entry = readdir(dir)) {
    absl::string_view name = entry->d_name;
    if (absl::ConsumeSuffix(&name, ".yaml")) on_disk.emplace(name);
  }
  closedir(dir);
  const std::set<std::string> listed(std::begin(kScenarios), std::end(kScenarios));
  EXPECT_EQ(on_disk, listed);
  for (const std::string& scenario : listed) {
    std::string unused;
    EXPECT_TRUE(ReadFile(GoldenPath(scenario, ".xml"), &unused)) << scenario << ".xml missing";
  }
}

}  // namespace
}  // namespace vmmap
