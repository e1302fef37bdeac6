#include "server/stats/stats_collector.h"

#include <sys/stat.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/runtime/plan_input.h"
#include "server/stats/balloon_stats.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

// The container's own files: the qcow2 overlay, or for kernel bundles the
// container directory (console log, ...). Never follows symlinks.
struct LayerUsage {
  uint64_t bytes = 0;
  uint64_t inodes = 0;
};

LayerUsage ContainerLayerUsage(const ContainerRecord& record) {
  LayerUsage usage;
  struct stat st {};
  if (!record.overlay_path.empty()) {
    if (::lstat(record.overlay_path.c_str(), &st) == 0) {
      usage.bytes = static_cast<uint64_t>(st.st_blocks) * 512;
      usage.inodes = 1;
    }
    return usage;
  }
  if (record.console_path.empty()) return usage;
  const fs::path dir = fs::path(record.console_path).parent_path();
  if (::lstat(dir.c_str(), &st) != 0) return usage;
  usage.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  usage.inodes += 1;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (::lstat(it->path().c_str(), &st) != 0) continue;  // vanished meanwhile
    usage.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    usage.inodes += 1;
  }
  return usage;
}

// into += from, where a sum is known only if some part is.
void Add(std::optional<uint64_t>& into, const std::optional<uint64_t>& from) {
  if (!from) return;
  into = into.value_or(0) + *from;
}

}  // namespace

StatsCollector::StatsCollector(virt::Hypervisor* hypervisor, PodRuntime* runtime,
                               ImageStore* images, StatsOptions options)
    : hypervisor_(hypervisor),
      runtime_(runtime),
      images_(images),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()),
      sampler_(hypervisor, options_.cgroups ? *options_.cgroups : CgroupFs::Host(), clock_) {}

StatsCollector::~StatsCollector() = default;

uint64_t StatsCollector::refreshes() const {
  absl::MutexLock lock(&mu_);
  return refreshes_;
}

// ------------------------------------------------------------ the snapshot

absl::StatusOr<std::shared_ptr<const StatsCollector::Snapshot>> StatsCollector::Current() {
  std::shared_ptr<Flight> flight;
  {
    absl::MutexLock lock(&mu_);
    if (snapshot_ && clock_->SteadyNow() - snapshot_->taken < options_.freshness) {
      return snapshot_;
    }
    if (flight_) {
      // Single flight: wait for the refresh already under way.
      flight = flight_;
      mu_.Await(absl::Condition(&flight->done));
      return flight->result;
    }
    flight = std::make_shared<Flight>();
    flight_ = flight;
    ++refreshes_;
  }
  // Read without holding mu_, so cached reads never wait on libvirt.
  absl::StatusOr<std::shared_ptr<Snapshot>> fresh = Refresh();
  absl::MutexLock lock(&mu_);
  if (fresh.ok()) {
    Snapshot& snap = **fresh;
    absl::flat_hash_map<std::string, PrevCpu> next;
    for (auto& [name, figures] : snap.domains) {
      if (!figures.cgroup || !figures.cgroup->cpu_ns) continue;
      const uint64_t cpu_ns = *figures.cgroup->cpu_ns;
      auto it = prev_cpu_.find(name);
      if (it != prev_cpu_.end() && snap.timestamp_ns > it->second.timestamp_ns &&
          cpu_ns >= it->second.cpu_ns) {
        const long double used = cpu_ns - it->second.cpu_ns;
        const long double elapsed = snap.timestamp_ns - it->second.timestamp_ns;
        figures.cpu_rate_nano_cores = static_cast<uint64_t>(used * 1e9L / elapsed + 0.5L);
      }
      next[name] = PrevCpu{cpu_ns, snap.timestamp_ns};
    }
    prev_cpu_ = std::move(next);  // forgets domains that are gone
    snapshot_ = *std::move(fresh);
    flight->result = snapshot_;
  } else {
    flight->result = fresh.status();
  }
  flight->done = true;
  flight_.reset();
  return flight->result;
}

absl::StatusOr<std::shared_ptr<StatsCollector::Snapshot>> StatsCollector::Refresh() {
  auto snap = std::make_shared<Snapshot>();
  snap->taken = clock_->SteadyNow();
  const int64_t before = absl::ToUnixNanos(clock_->WallNow());
  absl::StatusOr<absl::flat_hash_map<std::string, DomainSample>> samples = sampler_.Sample();
  const int64_t after = absl::ToUnixNanos(clock_->WallNow());
  if (!samples.ok()) return samples.status();
  // The domains are read one after another; the middle of the refresh is
  // the best single instant for all of them.
  snap->timestamp_ns = before + (after - before) / 2;
  for (auto& [name, sample] : *samples) {
    DomainFigures& f = snap->domains[name];
    f.active = sample.active;
    f.cgroup = std::move(sample.cgroup);
  }
  snap->guest = GuestMemory();
  return snap;
}

std::shared_ptr<const absl::flat_hash_map<std::string, GuestMemoryStats>>
StatsCollector::GuestMemory() {
  if (options_.guest_memory_interval.count() <= 0) return nullptr;
  absl::MutexLock lock(&guest_mu_);
  const auto now = clock_->SteadyNow();
  if (guest_taken_ && now - *guest_taken_ < options_.guest_memory_interval) return guest_;
  guest_taken_ = now;  // also after a failure: the lower rate holds either way
  absl::StatusOr<std::vector<virt::DomainStats>> stats =
      hypervisor_->GetAllDomainStats(std::nullopt, virt::kStatsState | virt::kStatsBalloon);
  if (!stats.ok()) return guest_;  // keep the last reading
  const int64_t timestamp = absl::ToUnixNanos(clock_->WallNow());
  auto guest = std::make_shared<absl::flat_hash_map<std::string, GuestMemoryStats>>();
  for (const virt::DomainStats& d : *stats) {
    GuestMemoryStats g = GuestMemoryFromBalloon(d, timestamp);
    if (g.actual_bytes || g.available_bytes || g.unused_bytes || g.usable_bytes) {
      (*guest)[d.name] = std::move(g);
    }
  }
  guest_ = std::move(guest);
  return guest_;
}

const std::string& StatsCollector::FsMountpoint() {
  absl::MutexLock lock(&fs_mu_);
  if (!fs_mountpoint_) {
    std::string mountpoint = options_.fs_mountpoint;
    if (mountpoint.empty() && images_ != nullptr) {
      absl::StatusOr<FsUsage> usage = images_->Usage();
      if (!usage.ok()) {
        static const std::string kUnknown;
        return kUnknown;  // retried next time
      }
      mountpoint = usage->mountpoint;
    }
    fs_mountpoint_ = mountpoint;
  }
  return *fs_mountpoint_;
}

// ------------------------------------------------------------ records

ContainerStatsRecord StatsCollector::MakeContainerStats(const ContainerRecord& record,
                                                        const Snapshot& snapshot) {
  ContainerStatsRecord out;
  out.id = record.id;
  out.sandbox_id = record.sandbox_id;
  out.metadata = record.config.metadata;
  out.labels = record.config.labels;
  out.annotations = record.config.annotations;
  out.cpu.timestamp_ns = snapshot.timestamp_ns;
  out.memory.timestamp_ns = snapshot.timestamp_ns;
  auto it = snapshot.domains.find(record.domain_name);
  if (it != snapshot.domains.end() && it->second.active && it->second.cgroup) {
    const CgroupSample& s = *it->second.cgroup;
    out.cpu.usage_core_ns = s.cpu_ns;
    out.cpu.usage_nano_cores = it->second.cpu_rate_nano_cores;
    out.cpu.emulator_ns = s.emulator_ns;
    out.cpu.vcpu_ns = s.vcpu_ns;
    out.cpu.nr_periods = s.throttling.nr_periods;
    out.cpu.nr_throttled = s.throttling.nr_throttled;
    out.cpu.throttled_ns = s.throttling.throttled_ns;
    out.cpu.emulator_nr_throttled = s.emulator_throttling.nr_throttled;
    out.cpu.emulator_throttled_ns = s.emulator_throttling.throttled_ns;
    out.cpu.vcpu_nr_throttled = s.vcpu_throttling.nr_throttled;
    out.cpu.vcpu_throttled_ns = s.vcpu_throttling.throttled_ns;
    const CgroupMemory& m = s.memory;
    out.memory.usage_bytes = m.usage;
    out.memory.working_set_bytes = m.working_set;
    out.memory.rss_bytes = m.rss;
    out.memory.cache_bytes = m.cache;
    out.memory.limit_bytes = m.limit;
    if (m.limit && m.working_set) {
      out.memory.available_bytes = *m.limit > *m.working_set ? *m.limit - *m.working_set : 0;
    }
    out.memory.page_faults = m.page_faults;
    out.memory.major_page_faults = m.major_page_faults;
  }
  if (snapshot.guest != nullptr && it != snapshot.domains.end() && it->second.active) {
    auto g = snapshot.guest->find(record.domain_name);
    if (g != snapshot.guest->end()) out.guest_memory = g->second;
  }

  const LayerUsage layer = ContainerLayerUsage(record);
  out.writable_layer.timestamp_ns = absl::ToUnixNanos(clock_->WallNow());
  out.writable_layer.mountpoint = FsMountpoint();
  out.writable_layer.used_bytes = layer.bytes;
  out.writable_layer.inodes_used = layer.inodes;
  return out;
}

PodStatsRecord StatsCollector::MakePodStats(const SandboxRecord& sandbox,
                                            const std::vector<const ContainerRecord*>& containers,
                                            const Snapshot& snapshot) {
  PodStatsRecord out;
  out.id = sandbox.id;
  out.metadata = sandbox.config.metadata;
  out.labels = sandbox.config.labels;
  out.annotations = sandbox.config.annotations;
  out.cpu.timestamp_ns = snapshot.timestamp_ns;
  out.memory.timestamp_ns = snapshot.timestamp_ns;
  out.network.timestamp_ns = absl::ToUnixNanos(clock_->WallNow());
  // The pod is its VM: its CPU and memory are its container's (summed, should
  // a pod ever hold more than one). Per-vCPU figures stay per container.
  for (const ContainerRecord* record : containers) {
    ContainerStatsRecord c = MakeContainerStats(*record, snapshot);
    Add(out.cpu.usage_core_ns, c.cpu.usage_core_ns);
    Add(out.cpu.usage_nano_cores, c.cpu.usage_nano_cores);
    Add(out.cpu.emulator_ns, c.cpu.emulator_ns);
    Add(out.cpu.nr_periods, c.cpu.nr_periods);
    Add(out.cpu.nr_throttled, c.cpu.nr_throttled);
    Add(out.cpu.throttled_ns, c.cpu.throttled_ns);
    Add(out.cpu.emulator_nr_throttled, c.cpu.emulator_nr_throttled);
    Add(out.cpu.emulator_throttled_ns, c.cpu.emulator_throttled_ns);
    Add(out.cpu.vcpu_nr_throttled, c.cpu.vcpu_nr_throttled);
    Add(out.cpu.vcpu_throttled_ns, c.cpu.vcpu_throttled_ns);
    Add(out.memory.usage_bytes, c.memory.usage_bytes);
    Add(out.memory.working_set_bytes, c.memory.working_set_bytes);
    Add(out.memory.rss_bytes, c.memory.rss_bytes);
    Add(out.memory.cache_bytes, c.memory.cache_bytes);
    Add(out.memory.limit_bytes, c.memory.limit_bytes);
    Add(out.memory.available_bytes, c.memory.available_bytes);
    Add(out.memory.page_faults, c.memory.page_faults);
    Add(out.memory.major_page_faults, c.memory.major_page_faults);
    // Only beside figures of a running domain: a stopped VM has no guest.
    if (options_.node && c.memory.usage_bytes) {
      absl::StatusOr<int64_t> guest = PlannedGuestBytes(sandbox.config, *record, *options_.node);
      if (guest.ok()) Add(out.memory.guest_bytes, static_cast<uint64_t>(*guest));
    }
    out.containers.push_back(std::move(c));
  }
  if (options_.network_counters) {
    absl::StatusOr<std::vector<InterfaceStats>> interfaces = options_.network_counters(sandbox);
    if (interfaces.ok()) out.network.interfaces = *std::move(interfaces);
  }
  return out;
}

// ------------------------------------------------------------ requests

absl::StatusOr<ContainerStatsRecord> StatsCollector::ContainerStats(
    const std::string& container_id) {
  ContainerFilter filter;
  filter.id = container_id;
  absl::StatusOr<std::vector<ContainerStatsRecord>> list = ListContainerStats(filter);
  if (!list.ok()) return list.status();
  if (list->empty()) {
    return absl::NotFoundError(absl::StrCat("container ", container_id, " not found"));
  }
  return std::move(list->front());
}

absl::StatusOr<std::vector<ContainerStatsRecord>> StatsCollector::ListContainerStats(
    const ContainerFilter& filter) {
  absl::StatusOr<std::vector<ContainerRecord>> records = runtime_->Containers();
  if (!records.ok()) return records.status();
  std::vector<const ContainerRecord*> selected;
  for (const ContainerRecord& r : *records) {
    if (!r.pending && Matches(filter, r)) selected.push_back(&r);
  }
  std::vector<ContainerStatsRecord> out;
  if (selected.empty()) return out;  // nothing to read
  absl::StatusOr<std::shared_ptr<const Snapshot>> snapshot = Current();
  if (!snapshot.ok()) return snapshot.status();
  out.reserve(selected.size());
  for (const ContainerRecord* r : selected) out.push_back(MakeContainerStats(*r, **snapshot));
  return out;
}

absl::StatusOr<PodStatsRecord> StatsCollector::PodStats(const std::string& sandbox_id) {
  SandboxFilter filter;
  filter.id = sandbox_id;
  absl::StatusOr<std::vector<PodStatsRecord>> list = ListPodStats(filter);
  if (!list.ok()) return list.status();
  if (list->empty()) {
    return absl::NotFoundError(absl::StrCat("pod sandbox ", sandbox_id, " not found"));
  }
  return std::move(list->front());
}

absl::StatusOr<std::vector<PodStatsRecord>> StatsCollector::ListPodStats(
    const SandboxFilter& filter) {
  absl::StatusOr<std::vector<SandboxRecord>> sandboxes = runtime_->Sandboxes();
  if (!sandboxes.ok()) return sandboxes.status();
  std::vector<const SandboxRecord*> selected;
  for (const SandboxRecord& s : *sandboxes) {
    if (Matches(filter, s)) selected.push_back(&s);
  }
  std::vector<PodStatsRecord> out;
  if (selected.empty()) return out;
  absl::StatusOr<std::vector<ContainerRecord>> records = runtime_->Containers();
  if (!records.ok()) return records.status();
  absl::StatusOr<std::shared_ptr<const Snapshot>> snapshot = Current();
  if (!snapshot.ok()) return snapshot.status();
  out.reserve(selected.size());
  for (const SandboxRecord* s : selected) {
    std::vector<const ContainerRecord*> containers;
    for (const ContainerRecord& r : *records) {
      if (!r.pending && r.sandbox_id == s->id) containers.push_back(&r);
    }
    out.push_back(MakePodStats(*s, containers, **snapshot));
  }
  return out;
}

}  // namespace vmmap
