#include "server/stats/balloon_stats.h"

#include <optional>
#include <string>
#include <type_traits>
#include <variant>

namespace vmmap {
namespace {

std::optional<uint64_t> Unsigned(const virt::DomainStats& stats, const std::string& key) {
  auto it = stats.params.find(key);
  if (it == stats.params.end()) return std::nullopt;
  return std::visit(
      [](const auto& v) -> std::optional<uint64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, uint64_t>) {
          return v;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          if (v < 0) return std::nullopt;
          return static_cast<uint64_t>(v);
        } else {
          return std::nullopt;
        }
      },
      it->second);
}

std::optional<uint64_t> KiB(const virt::DomainStats& stats, const std::string& key) {
  std::optional<uint64_t> kib = Unsigned(stats, key);
  if (!kib || *kib > (UINT64_MAX >> 10)) return std::nullopt;
  return *kib << 10;
}

}  // namespace

GuestMemoryStats GuestMemoryFromBalloon(const virt::DomainStats& stats, int64_t timestamp_ns) {
  GuestMemoryStats g;
  g.timestamp_ns = timestamp_ns;
  g.actual_bytes = KiB(stats, "balloon.current");
  g.available_bytes = KiB(stats, "balloon.available");
  g.unused_bytes = KiB(stats, "balloon.unused");
  g.usable_bytes = KiB(stats, "balloon.usable");
  g.page_faults = Unsigned(stats, "balloon.minor_fault");
  g.major_page_faults = Unsigned(stats, "balloon.major_fault");
  return g;
}

}  // namespace vmmap
