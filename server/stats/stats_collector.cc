#include "server/stats/stats_collector.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <type_traits>
#include <variant>

#include <pugixml.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/runtime/filters.h"
#include "server/runtime/ids.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

// virDomainState values.
constexpr int64_t kVirDomainRunning = 1;
constexpr int64_t kVirDomainBlocked = 2;
constexpr int64_t kVirDomainPaused = 3;

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
        } else if constexpr (std::is_same_v<T, double>) {
          if (v < 0) return std::nullopt;
          return static_cast<uint64_t>(v);
        } else {
          return std::nullopt;
        }
      },
      it->second);
}

std::string Text(const virt::DomainStats& stats, const std::string& key) {
  auto it = stats.params.find(key);
  if (it == stats.params.end()) return "";
  if (const std::string* s = std::get_if<std::string>(&it->second)) return *s;
  return "";
}

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

// <memtune><hard_limit> of a domain's XML, in bytes (libvirt writes KiB).
std::optional<uint64_t> ParseHardLimit(const std::string& xml) {
  pugi::xml_document doc;
  if (!doc.load_string(xml.c_str())) return std::nullopt;
  pugi::xml_node node = doc.child("domain").child("memtune").child("hard_limit");
  if (!node) return std::nullopt;
  uint64_t value = 0;
  if (!absl::SimpleAtoi(node.text().get(), &value)) return std::nullopt;
  const std::string unit = node.attribute("unit").value();
  uint64_t scale = 1024;  // libvirt's default and output unit is KiB
  if (unit == "b" || unit == "bytes") scale = 1;
  else if (unit == "M" || unit == "MiB") scale = 1ull << 20;
  else if (unit == "G" || unit == "GiB") scale = 1ull << 30;
  // libvirt reports "unlimited" as 2^53-1 KiB (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED).
  if (value >= (1ull << 53) - 1) return std::nullopt;
  return value * scale;
}

void Set(v1::UInt64Value* field, uint64_t value) { field->set_value(value); }

}  // namespace

DomainSample ParseDomainStats(const virt::DomainStats& stats) {
  DomainSample s;
  const std::optional<uint64_t> state = Unsigned(stats, "state.state");
  s.active = state && (*state == kVirDomainRunning || *state == kVirDomainBlocked ||
                       *state == kVirDomainPaused);
  if (!s.active) return s;  // a shut-off domain's leftovers mean nothing
  s.cpu_time_ns = Unsigned(stats, "cpu.time");
  if (std::optional<uint64_t> rss = Unsigned(stats, "balloon.rss")) s.rss_bytes = *rss * 1024;
  s.minor_faults = Unsigned(stats, "balloon.minor_fault");
  s.major_faults = Unsigned(stats, "balloon.major_fault");
  const uint64_t nets = Unsigned(stats, "net.count").value_or(0);
  for (uint64_t i = 0; i < nets && i < 64; ++i) {
    const std::string p = absl::StrCat("net.", i, ".");
    DomainSample::Interface iface;
    iface.name = Text(stats, p + "name");
    if (iface.name.empty()) iface.name = absl::StrCat("net", i);
    iface.rx_bytes = Unsigned(stats, p + "rx.bytes");
    iface.rx_errors = Unsigned(stats, p + "rx.errs");
    iface.tx_bytes = Unsigned(stats, p + "tx.bytes");
    iface.tx_errors = Unsigned(stats, p + "tx.errs");
    s.interfaces.push_back(std::move(iface));
  }
  return s;
}

StatsCollector::StatsCollector(virt::Hypervisor* hypervisor, PodRuntime* runtime,
                               ImageStore* images, StatsOptions options)
    : hypervisor_(hypervisor),
      runtime_(runtime),
      images_(images),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {}

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
    if (snapshot_ &&
        clock_->SteadyNow() - snapshot_->taken < options_.freshness) {
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
  // libvirt is asked without holding mu_, so cached reads never wait on it.
  absl::StatusOr<std::shared_ptr<Snapshot>> fresh = Refresh();
  absl::MutexLock lock(&mu_);
  if (fresh.ok()) {
    Snapshot& snap = **fresh;
    absl::flat_hash_map<std::string, PrevCpu> next;
    for (auto& [name, sample] : snap.domains) {
      if (!sample.cpu_time_ns) continue;
      auto it = prev_cpu_.find(name);
      if (it != prev_cpu_.end() && snap.timestamp_ns > it->second.timestamp_ns &&
          *sample.cpu_time_ns >= it->second.cpu_time_ns) {
        const long double used = *sample.cpu_time_ns - it->second.cpu_time_ns;
        const long double elapsed = snap.timestamp_ns - it->second.timestamp_ns;
        sample.cpu_rate_nano_cores = static_cast<uint64_t>(used * 1e9L / elapsed + 0.5L);
      }
      next[name] = PrevCpu{*sample.cpu_time_ns, snap.timestamp_ns};
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
  absl::StatusOr<std::vector<ContainerRecord>> records = runtime_->Containers();
  if (!records.ok()) return records.status();
  auto snap = std::make_shared<Snapshot>();
  snap->taken = clock_->SteadyNow();
  const int64_t before = absl::ToUnixNanos(clock_->WallNow());
  // The one bulk call: every domain on the connection, all groups at once.
  absl::StatusOr<std::vector<virt::DomainStats>> stats =
      hypervisor_->GetAllDomainStats(std::nullopt, options_.groups);
  const int64_t after = absl::ToUnixNanos(clock_->WallNow());
  if (!stats.ok()) return stats.status();
  // libvirt reads the domains one after another during the call; its middle
  // is the best single instant for all of them.
  snap->timestamp_ns = before + (after - before) / 2;
  for (const virt::DomainStats& d : *stats) snap->domains[d.name] = ParseDomainStats(d);
  for (const ContainerRecord& r : *records) {
    if (r.pending) continue;
    auto it = snap->domains.find(r.domain_name);
    if (it == snap->domains.end() || !it->second.active) continue;
    it->second.hard_limit_bytes = HardLimitBytes(r);
  }
  return snap;
}

std::optional<uint64_t> StatsCollector::HardLimitBytes(const ContainerRecord& record) {
  {
    absl::MutexLock lock(&limits_mu_);
    auto it = hard_limits_.find(record.id);
    if (it != hard_limits_.end() && it->second.resources == record.resources) {
      return it->second.bytes;
    }
  }
  // Once per container (and again after UpdateContainerResources), not per
  // request: the limit only changes when the resources do.
  absl::StatusOr<std::string> xml = hypervisor_->DomainXml(record.domain_name);
  if (!xml.ok()) return std::nullopt;  // not cached: retried next refresh
  HardLimit limit{record.resources, ParseHardLimit(*xml)};
  absl::MutexLock lock(&limits_mu_);
  if (hard_limits_.size() > 4096) hard_limits_.clear();  // bound stale entries
  hard_limits_[record.id] = limit;
  return limit.bytes;
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

// ------------------------------------------------------------ conversions

v1::ContainerStats StatsCollector::MakeContainerStats(const ContainerRecord& record,
                                                      const Snapshot& snapshot) {
  v1::ContainerStats out;
  v1::ContainerAttributes* attributes = out.mutable_attributes();
  attributes->set_id(record.id);
  attributes->mutable_metadata()->set_name(record.config.metadata.name);
  attributes->mutable_metadata()->set_attempt(record.config.metadata.attempt);
  attributes->mutable_labels()->insert(record.config.labels.begin(), record.config.labels.end());
  attributes->mutable_annotations()->insert(record.config.annotations.begin(),
                                            record.config.annotations.end());

  v1::CpuUsage* cpu = out.mutable_cpu();
  cpu->set_timestamp(snapshot.timestamp_ns);
  v1::MemoryUsage* memory = out.mutable_memory();
  memory->set_timestamp(snapshot.timestamp_ns);
  auto it = snapshot.domains.find(record.domain_name);
  if (it != snapshot.domains.end() && it->second.active) {
    const DomainSample& s = it->second;
    if (s.cpu_time_ns) Set(cpu->mutable_usage_core_nano_seconds(), *s.cpu_time_ns);
    if (s.cpu_rate_nano_cores) Set(cpu->mutable_usage_nano_cores(), *s.cpu_rate_nano_cores);
    if (s.rss_bytes) {
      Set(memory->mutable_working_set_bytes(), *s.rss_bytes);
      Set(memory->mutable_usage_bytes(), *s.rss_bytes);
      Set(memory->mutable_rss_bytes(), *s.rss_bytes);
      if (s.hard_limit_bytes) {
        Set(memory->mutable_available_bytes(),
            *s.hard_limit_bytes > *s.rss_bytes ? *s.hard_limit_bytes - *s.rss_bytes : 0);
      }
    }
    if (s.minor_faults) Set(memory->mutable_page_faults(), *s.minor_faults);
    if (s.major_faults) Set(memory->mutable_major_page_faults(), *s.major_faults);
  }

  const LayerUsage layer = ContainerLayerUsage(record);
  v1::FilesystemUsage* fs_usage = out.mutable_writable_layer();
  fs_usage->set_timestamp(absl::ToUnixNanos(clock_->WallNow()));
  fs_usage->mutable_fs_id()->set_mountpoint(FsMountpoint());
  Set(fs_usage->mutable_used_bytes(), layer.bytes);
  Set(fs_usage->mutable_inodes_used(), layer.inodes);
  return out;
}

namespace {

// Adds `from` into the field `mutable_into` would create, only if `has`.
template <typename MutableFn>
void AddOptional(MutableFn mutable_into, const v1::UInt64Value& from, bool has) {
  if (!has) return;
  v1::UInt64Value* into = mutable_into();
  into->set_value(into->value() + from.value());
}

}  // namespace

v1::PodSandboxStats StatsCollector::MakePodStats(
    const SandboxRecord& sandbox, const std::vector<const ContainerRecord*>& containers,
    const Snapshot& snapshot) {
  const SandboxConfig& config = sandbox.config;
  v1::PodSandboxStats out;
  v1::PodSandboxAttributes* attributes = out.mutable_attributes();
  attributes->set_id(sandbox.id);
  attributes->mutable_metadata()->set_name(config.metadata.name);
  attributes->mutable_metadata()->set_uid(config.metadata.uid);
  attributes->mutable_metadata()->set_namespace_(config.metadata.namespace_name);
  attributes->mutable_metadata()->set_attempt(config.metadata.attempt);
  attributes->mutable_labels()->insert(config.labels.begin(), config.labels.end());
  attributes->mutable_annotations()->insert(config.annotations.begin(), config.annotations.end());

  v1::LinuxPodSandboxStats* linux_stats = out.mutable_linux();
  v1::CpuUsage* cpu = linux_stats->mutable_cpu();
  cpu->set_timestamp(snapshot.timestamp_ns);
  v1::MemoryUsage* memory = linux_stats->mutable_memory();
  memory->set_timestamp(snapshot.timestamp_ns);
  v1::NetworkUsage* network = linux_stats->mutable_network();
  network->set_timestamp(snapshot.timestamp_ns);
  // The pod is its VM: its CPU and memory are its container's (summed, should
  // a pod ever hold more than one).
  for (const ContainerRecord* record : containers) {
    v1::ContainerStats c = MakeContainerStats(*record, snapshot);
    AddOptional([&] { return cpu->mutable_usage_core_nano_seconds(); }, c.cpu().usage_core_nano_seconds(),
                c.cpu().has_usage_core_nano_seconds());
    AddOptional([&] { return cpu->mutable_usage_nano_cores(); }, c.cpu().usage_nano_cores(),
                c.cpu().has_usage_nano_cores());
    const v1::MemoryUsage& m = c.memory();
    AddOptional([&] { return memory->mutable_working_set_bytes(); }, m.working_set_bytes(), m.has_working_set_bytes());
    AddOptional([&] { return memory->mutable_available_bytes(); }, m.available_bytes(), m.has_available_bytes());
    AddOptional([&] { return memory->mutable_usage_bytes(); }, m.usage_bytes(), m.has_usage_bytes());
    AddOptional([&] { return memory->mutable_rss_bytes(); }, m.rss_bytes(), m.has_rss_bytes());
    AddOptional([&] { return memory->mutable_page_faults(); }, m.page_faults(), m.has_page_faults());
    AddOptional([&] { return memory->mutable_major_page_faults(); }, m.major_page_faults(), m.has_major_page_faults());
    auto it = snapshot.domains.find(record->domain_name);
    if (it != snapshot.domains.end() && it->second.active) {
      for (const DomainSample::Interface& iface : it->second.interfaces) {
        v1::NetworkInterfaceUsage* n = network->add_interfaces();
        n->set_name(iface.name);
        if (iface.rx_bytes) Set(n->mutable_rx_bytes(), *iface.rx_bytes);
        if (iface.rx_errors) Set(n->mutable_rx_errors(), *iface.rx_errors);
        if (iface.tx_bytes) Set(n->mutable_tx_bytes(), *iface.tx_bytes);
        if (iface.tx_errors) Set(n->mutable_tx_errors(), *iface.tx_errors);
      }
    }
    *linux_stats->add_containers() = std::move(c);
  }
  if (network->interfaces_size() > 0) *network->mutable_default_interface() = network->interfaces(0);
  return out;
}

// ------------------------------------------------------------ CRI calls

absl::StatusOr<v1::ContainerStats> StatsCollector::ContainerStats(const std::string& container_id) {
  absl::StatusOr<std::vector<ContainerRecord>> records = runtime_->Containers();
  if (!records.ok()) return records.status();
  const ContainerRecord* record = nullptr;
  for (const ContainerRecord& r : *records) {
    if (r.id == container_id && !r.pending) record = &r;
  }
  if (record == nullptr) {
    return absl::NotFoundError(absl::StrCat("container ", container_id, " not found"));
  }
  absl::StatusOr<std::shared_ptr<const Snapshot>> snapshot = Current();
  if (!snapshot.ok()) return snapshot.status();
  return MakeContainerStats(*record, **snapshot);
}

absl::StatusOr<std::vector<v1::ContainerStats>> StatsCollector::ListContainerStats(
    const v1::ContainerStatsFilter& filter) {
  absl::StatusOr<std::vector<ContainerRecord>> records = runtime_->Containers();
  if (!records.ok()) return records.status();
  std::vector<const ContainerRecord*> selected;
  for (const ContainerRecord& r : *records) {
    if (r.pending) continue;
    if (!filter.id().empty() && r.id != filter.id()) continue;
    if (!filter.pod_sandbox_id().empty() && r.sandbox_id != filter.pod_sandbox_id()) continue;
    if (!MatchesSelector(r.config.labels, StringMap(filter.label_selector().begin(),
                                                    filter.label_selector().end()))) {
      continue;
    }
    selected.push_back(&r);
  }
  std::vector<v1::ContainerStats> out;
  if (selected.empty()) return out;  // nothing to ask libvirt about
  absl::StatusOr<std::shared_ptr<const Snapshot>> snapshot = Current();
  if (!snapshot.ok()) return snapshot.status();
  out.reserve(selected.size());
  for (const ContainerRecord* r : selected) out.push_back(MakeContainerStats(*r, **snapshot));
  return out;
}

absl::StatusOr<v1::PodSandboxStats> StatsCollector::PodSandboxStats(const std::string& sandbox_id) {
  v1::PodSandboxStatsFilter filter;
  filter.set_id(sandbox_id);
  absl::StatusOr<std::vector<v1::PodSandboxStats>> list = ListPodSandboxStats(filter);
  if (!list.ok()) return list.status();
  if (list->empty()) {
    return absl::NotFoundError(absl::StrCat("pod sandbox ", sandbox_id, " not found"));
  }
  return std::move(list->front());
}

absl::StatusOr<std::vector<v1::PodSandboxStats>> StatsCollector::ListPodSandboxStats(
    const v1::PodSandboxStatsFilter& filter) {
  absl::StatusOr<std::vector<SandboxRecord>> sandboxes = runtime_->Sandboxes();
  if (!sandboxes.ok()) return sandboxes.status();
  std::vector<const SandboxRecord*> selected;
  for (const SandboxRecord& s : *sandboxes) {
    if (!filter.id().empty() && s.id != filter.id()) continue;
    if (!MatchesSelector(s.config.labels, StringMap(filter.label_selector().begin(),
                                                    filter.label_selector().end()))) {
      continue;
    }
    selected.push_back(&s);
  }
  std::vector<v1::PodSandboxStats> out;
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
