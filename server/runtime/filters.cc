#include "server/runtime/filters.h"

namespace vmmap {

bool MatchesSelector(const StringMap& labels, const StringMap& selector) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

bool Matches(const SandboxFilter& filter, const SandboxRecord& sandbox) {
  if (!filter.id.empty() && sandbox.id != filter.id) return false;
  if (filter.state && *filter.state != sandbox.state) return false;
  return MatchesSelector(sandbox.config.labels, filter.label_selector);
}

bool Matches(const ContainerFilter& filter, const ContainerRecord& container) {
  if (!filter.id.empty() && container.id != filter.id) return false;
  if (!filter.sandbox_id.empty() && container.sandbox_id != filter.sandbox_id) return false;
  if (filter.state && *filter.state != container.state) return false;
  return MatchesSelector(container.config.labels, filter.label_selector);
}

}  // namespace vmmap
