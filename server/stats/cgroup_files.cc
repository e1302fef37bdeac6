#include "server/stats/cgroup_files.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace vmmap {

std::optional<uint64_t> KeyedValues::Get(absl::string_view key) const {
  if (key.empty()) return std::nullopt;
  const char* p = text_.data();
  const char* const end = p + text_.size();
  while (p < end) {
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (eol == nullptr) eol = end;
    // A whole key at a line start: "rss" is neither "total_rss" nor "rss_huge".
    const size_t length = eol - p;
    if (length > key.size() && p[key.size()] == ' ' && p[0] == key[0] &&
        std::memcmp(p, key.data(), key.size()) == 0) {
      uint64_t value = 0;
      if (!absl::SimpleAtoi(absl::string_view(p + key.size() + 1, length - key.size() - 1),
                            &value)) {
        return std::nullopt;
      }
      return value;
    }
    p = eol + 1;
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseSingleValue(absl::string_view text) {
  uint64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) return std::nullopt;
  return value;
}

std::vector<ProcCgroupEntry> ParseProcCgroup(absl::string_view text) {
  std::vector<ProcCgroupEntry> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    // The path may itself hold ':' only after the second one.
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    ProcCgroupEntry entry;
    if (!absl::SimpleAtoi(parts[0], &entry.hierarchy) || entry.hierarchy < 0) continue;
    for (absl::string_view c : absl::StrSplit(parts[1], ',', absl::SkipEmpty())) {
      entry.controllers.emplace_back(c);
    }
    entry.path = std::string(parts[2]);
    if (entry.path.empty() || entry.path[0] != '/') continue;
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<CgroupMount> ParseCgroupMounts(absl::string_view mountinfo) {
  // "36 25 0:31 / /sys/fs/cgroup/cpu rw,relatime shared:12 - cgroup cgroup rw,cpu"
  std::vector<CgroupMount> out;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    const size_t dash = line.find(" - ");
    if (dash == absl::string_view::npos) continue;
    std::vector<absl::string_view> head = absl::StrSplit(line.substr(0, dash), ' ');
    std::vector<absl::string_view> tail = absl::StrSplit(line.substr(dash + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    CgroupMount mount;
    if (tail[0] == "cgroup2") {
      mount.v2 = true;
    } else if (tail[0] == "cgroup") {
      for (absl::string_view option : absl::StrSplit(tail[2], ',')) {
        if (option == "rw" || option == "ro" || option == "clone_children" ||
            option == "noprefix" || absl::StartsWith(option, "release_agent=")) {
          continue;
        }
        mount.controllers.emplace_back(option);
      }
    } else {
      continue;
    }
    // mountinfo escapes ' ', '\t', '\n' and '\\' as octal; cgroup mounts
    // containing those are not worth supporting.
    if (head[3].find('\\') != absl::string_view::npos ||
        head[4].find('\\') != absl::string_view::npos) {
      continue;
    }
    mount.root = std::string(head[3]);
    mount.mountpoint = std::string(head[4]);
    out.push_back(std::move(mount));
  }
  return out;
}

namespace {

std::optional<uint64_t> Get(const KeyedValues& stat, const char* key) { return stat.Get(key); }

void FinishMemory(CgroupMemory& m, std::optional<uint64_t> inactive_file) {
  if (m.usage) {
    m.working_set = *m.usage;
    if (inactive_file) {
      m.working_set = *inactive_file < *m.usage ? *m.usage - *inactive_file : 0;
    }
  }
}

}  // namespace

CgroupMemory MemoryFromV1(std::optional<uint64_t> usage, const KeyedValues& stat,
                          std::optional<uint64_t> limit) {
  CgroupMemory m;
  m.usage = usage;
  m.rss = Get(stat, "total_rss");
  m.cache = Get(stat, "total_cache");
  m.page_faults = Get(stat, "total_pgfault");
  m.major_page_faults = Get(stat, "total_pgmajfault");
  // v1 reports "no limit" as PAGE_COUNTER_MAX pages, a value near 2^63.
  if (limit && *limit < (uint64_t{1} << 62)) m.limit = limit;
  FinishMemory(m, Get(stat, "total_inactive_file"));
  return m;
}

CgroupMemory MemoryFromV2(std::optional<uint64_t> current, const KeyedValues& stat,
                          std::optional<uint64_t> max) {
  CgroupMemory m;
  m.usage = current;
  m.rss = Get(stat, "anon");
  m.cache = Get(stat, "file");
  m.page_faults = Get(stat, "pgfault");
  m.major_page_faults = Get(stat, "pgmajfault");
  m.limit = max;
  FinishMemory(m, Get(stat, "inactive_file"));
  return m;
}

CgroupThrottling ThrottlingFromCpuStat(const KeyedValues& stat, bool v2) {
  CgroupThrottling t;
  t.nr_periods = Get(stat, "nr_periods");
  t.nr_throttled = Get(stat, "nr_throttled");
  if (v2) {
    if (std::optional<uint64_t> us = Get(stat, "throttled_usec")) t.throttled_ns = *us * 1000;
  } else {
    t.throttled_ns = Get(stat, "throttled_time");
  }
  return t;
}

CgroupThrottling SumThrottling(const std::vector<CgroupThrottling>& parts) {
  CgroupThrottling sum{0, 0, 0};
  auto add = [](std::optional<uint64_t>& total, const std::optional<uint64_t>& part) {
    if (total && part) {
      *total += *part;
    } else {
      total.reset();
    }
  };
  for (const CgroupThrottling& p : parts) {
    add(sum.nr_periods, p.nr_periods);
    add(sum.nr_throttled, p.nr_throttled);
    add(sum.throttled_ns, p.throttled_ns);
  }
  return sum;
}

std::optional<uint64_t> UsageFromV2CpuStat(const KeyedValues& stat) {
  std::optional<uint64_t> us = Get(stat, "usage_usec");
  if (!us) return std::nullopt;
  return *us * 1000;
}

std::optional<std::string> UuidFromCmdline(absl::string_view cmdline) {
  bool after_flag = false;
  for (absl::string_view arg : absl::StrSplit(cmdline, '\0')) {
    if (after_flag) return absl::AsciiStrToLower(arg);
    after_flag = arg == "-uuid";
  }
  return std::nullopt;
}

}  // namespace vmmap
