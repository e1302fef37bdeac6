// List filters as kubelet sends them (ListPodSandbox, ListContainers), typed.
#ifndef VMMAP_SERVER_RUNTIME_FILTERS_H_
#define VMMAP_SERVER_RUNTIME_FILTERS_H_

#include <optional>
#include <string>

#include "server/state/records.h"

namespace vmmap {

struct SandboxFilter {
  std::string id;  // empty: any
  std::optional<SandboxState> state;
  StringMap label_selector;
};

struct ContainerFilter {
  std::string id;          // empty: any
  std::string sandbox_id;  // empty: any
  std::optional<ContainerState> state;
  StringMap label_selector;
};

// Does every selector entry match a label? (CRI label selectors are equality only.)
bool MatchesSelector(const StringMap& labels, const StringMap& selector);

bool Matches(const SandboxFilter& filter, const SandboxRecord& sandbox);
bool Matches(const ContainerFilter& filter, const ContainerRecord& container);

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_FILTERS_H_
