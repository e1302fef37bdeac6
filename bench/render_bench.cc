// The in-process cost of `vmmap render` for one typical pod, and its parts,
// side by side in one run:
//   BM_RenderPod   parse YAML -> kubelet inputs -> plan -> XML (the whole path)
//   BM_ParseYaml   ParsePodManifests only
//   BM_Plan        SandboxInputFor + PlanDomain only
//   BM_RenderXml   RenderDomainXml only
//   BM_YamlTree    yaml::Tree::Build alone: the node tree ParsePodManifests reads
//   BM_LibyamlEvents yaml_parser_parse alone: libyaml's share of BM_YamlTree,
//                  the floor for any parser built on libyaml
//   BM_LibyamlLoad yaml_parser_load alone (the document API, no longer used)
// Target: BM_RenderPod <= 20 µs per pod.
#include <benchmark/benchmark.h>
#include <yaml.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "mapper/domain_xml.h"
#include "mapper/kubelet_inputs.h"
#include "mapper/node_config.h"
#include "mapper/planner.h"
#include "mapper/pod_manifest.h"
#include "mapper/yaml_tree.h"

namespace vmmap {
namespace {

// examples/burstable-2vcpu.yaml: a burstable pod with a vCPU annotation and a
// RuntimeClass overhead, as a pod author would write it.
constexpr char kTypicalPod[] = R"(apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  uid: 6b1c5a0e-8f0a-4a39-9d53-1b2f0c7d9e11
  labels:
    app: web
    tier: frontend
  annotations:
    vmmap.io/vcpus: "2"
spec:
  runtimeClassName: vmmap
  overhead:
    cpu: 100m
    memory: 160Mi
  containers:
  - name: vm
    image: file:///var/lib/vmmap/images/debian.qcow2
    resources:
      requests:
        cpu: 500m
        memory: 512Mi
      limits:
        cpu: 1500m
        memory: 512Mi
)";

template <typename T>
const T& OrDie(const absl::StatusOr<T>& value) {
  if (!value.ok()) {
    std::cerr << "render_bench: " << value.status() << "\n";
    std::abort();
  }
  return *value;
}

void BM_RenderPod(benchmark::State& state) {
  const NodeConfig node;
  for (auto _ : state) {
    absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(kTypicalPod);
    for (const PodManifest& pod : OrDie(pods)) {
      absl::StatusOr<DomainPlan> plan = PlanDomain(SandboxInputFor(pod, node.cgroup_driver), node);
      absl::StatusOr<std::string> xml = RenderDomainXml(OrDie(plan).spec);
      benchmark::DoNotOptimize(OrDie(xml).data());
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ParseYaml(benchmark::State& state) {
  for (auto _ : state) {
    absl::StatusOr<std::vector<PodManifest>> pods = ParsePodManifests(kTypicalPod);
    benchmark::DoNotOptimize(OrDie(pods).data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Plan(benchmark::State& state) {
  const NodeConfig node;
  const PodManifest pod = OrDie(ParsePodManifests(kTypicalPod)).front();
  for (auto _ : state) {
    absl::StatusOr<DomainPlan> plan = PlanDomain(SandboxInputFor(pod, node.cgroup_driver), node);
    benchmark::DoNotOptimize(OrDie(plan).spec.vcpus);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RenderXml(benchmark::State& state) {
  const NodeConfig node;
  const PodManifest pod = OrDie(ParsePodManifests(kTypicalPod)).front();
  const DomainSpec spec = OrDie(PlanDomain(SandboxInputFor(pod, node.cgroup_driver), node)).spec;
  for (auto _ : state) {
    absl::StatusOr<std::string> xml = RenderDomainXml(spec);
    benchmark::DoNotOptimize(OrDie(xml).data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_YamlTree(benchmark::State& state) {
  for (auto _ : state) {
    yaml::Tree tree;
    const absl::Status status = tree.Build(kTypicalPod);
    if (!status.ok()) std::abort();
    benchmark::DoNotOptimize(tree.documents().data());
  }
  state.SetItemsProcessed(state.iterations());
}

// Every event of the stream, each freed at once.
void BM_LibyamlEvents(benchmark::State& state) {
  const std::string text = kTypicalPod;
  for (auto _ : state) {
    yaml_parser_t parser;
    if (yaml_parser_initialize(&parser) == 0) std::abort();
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    while (true) {
      yaml_event_t event;
      if (yaml_parser_parse(&parser, &event) == 0) std::abort();
      const bool end = event.type == YAML_STREAM_END_EVENT;
      benchmark::DoNotOptimize(event.start_mark.index);
      yaml_event_delete(&event);
      if (end) break;
    }
    yaml_parser_delete(&parser);
  }
  state.SetItemsProcessed(state.iterations());
}

// Loads every document of the stream, as ParsePodManifests did before yaml::Tree,
// then frees it.
void BM_LibyamlLoad(benchmark::State& state) {
  const std::string text = kTypicalPod;
  for (auto _ : state) {
    yaml_parser_t parser;
    if (yaml_parser_initialize(&parser) == 0) std::abort();
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    while (true) {
      yaml_document_t doc;
      if (yaml_parser_load(&parser, &doc) == 0) std::abort();
      const bool end = yaml_document_get_root_node(&doc) == nullptr;
      benchmark::DoNotOptimize(doc.nodes.start);
      yaml_document_delete(&doc);
      if (end) break;
    }
    yaml_parser_delete(&parser);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_RenderPod)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ParseYaml)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Plan)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RenderXml)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_YamlTree)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LibyamlEvents)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LibyamlLoad)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace vmmap

BENCHMARK_MAIN();
