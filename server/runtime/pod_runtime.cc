#include "server/runtime/pod_runtime.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <pugixml.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "mapper/domain_xml.h"
#include "mapper/planner.h"
#include "server/base/log.h"
#include "server/cri/cri_input.h"
#include "server/runtime/ids.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;

constexpr auto kStopPollInterval = std::chrono::milliseconds(100);
constexpr size_t kMaxKernelArgsLength = 2048;
constexpr int32_t kExitKilled = 137;  // what a runc container killed by SIGKILL reports

// Owner attributes of a vmmap domain, parsed from its metadata element.
struct Owner {
  std::string sandbox_id;
  std::string container_id;
};

std::optional<Owner> ParseOwner(const std::string& metadata) {
  if (metadata.empty()) return std::nullopt;
  pugi::xml_document doc;
  if (!doc.load_string(metadata.c_str())) return std::nullopt;
  pugi::xml_node pod = doc.first_child();
  Owner owner{pod.attribute("sandbox-id").value(), pod.attribute("container-id").value()};
  if (owner.container_id.empty()) return std::nullopt;
  return owner;
}

// Kernel arguments from the container's command and args: printable ASCII
// only, bounded, because a pod author writes them and they reach the XML.
absl::StatusOr<std::string> KernelArgs(const v1::ContainerConfig& config) {
  std::vector<std::string> words(config.command().begin(), config.command().end());
  words.insert(words.end(), config.args().begin(), config.args().end());
  std::string joined = absl::StrJoin(words, " ");
  if (joined.size() > kMaxKernelArgsLength) {
    return absl::InvalidArgumentError(absl::StrCat("container command and args: ", joined.size(),
                                                   " bytes exceed the kernel command line limit of ",
                                                   kMaxKernelArgsLength));
  }
  for (char c : joined) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "container command and args: only printable ASCII may reach the kernel command line");
    }
  }
  return joined;
}

v1::ContainerState ToCri(ContainerState s) { return static_cast<v1::ContainerState>(s); }

}  // namespace

PodRuntime::PodRuntime(RuntimeOptions options, virt::Hypervisor* hypervisor, StateStore* store,
                       ImageStore* images)
    : options_(std::move(options)), hypervisor_(hypervisor), store_(store), images_(images) {}

absl::Mutex* PodRuntime::LockFor(const std::string& id) {
  absl::MutexLock lock(&locks_mu_);
  std::unique_ptr<absl::Mutex>& mu = locks_[id];
  if (!mu) mu = std::make_unique<absl::Mutex>();
  return mu.get();
}

std::string PodRuntime::ContainerDir(const std::string& id) const {
  return absl::StrCat(options_.state_dir, "/containers/", id);
}

// ---------------------------------------------------------------- sandboxes

absl::StatusOr<std::string> PodRuntime::RunPodSandbox(const v1::PodSandboxConfig& config,
                                                      const std::string& runtime_handler) {
  // Validate now, so that a pod that can never become a VM fails here, with
  // the field named, rather than at CreateContainer.
  absl::StatusOr<DomainPlan> plan = PlanDomain(
      SandboxInputFromCri(config, config.linux().resources(), 0), options_.node);
  if (!plan.ok()) return plan.status();
  SandboxRecord record;
  record.id = NewObjectId();
  record.config = config.SerializeAsString();
  record.runtime_handler = runtime_handler;
  record.state = SandboxState::kReady;
  record.created_at_ns = NowNanos();
  if (absl::Status s = store_->PutSandbox(record); !s.ok()) return s;
  return record.id;
}

absl::Status PodRuntime::StopPodSandbox(const std::string& id) {
  absl::MutexLock lock(LockFor(id));
  absl::StatusOr<SandboxRecord> sandbox = store_->GetSandbox(id);
  if (!sandbox.ok()) return sandbox.status();
  absl::StatusOr<std::vector<ContainerRecord>> containers = store_->ListContainers();
  if (!containers.ok()) return containers.status();
  for (const ContainerRecord& c : *containers) {
    if (c.sandbox_id != id) continue;
    // StopPodSandbox forcibly stops what StopContainer did not.
    if (absl::Status s = StopContainer(c.id, 0); !s.ok() && !absl::IsNotFound(s)) return s;
  }
  sandbox->state = SandboxState::kNotReady;
  return store_->PutSandbox(*sandbox);
}

absl::Status PodRuntime::RemovePodSandbox(const std::string& id) {
  absl::MutexLock lock(LockFor(id));
  absl::StatusOr<SandboxRecord> sandbox = store_->GetSandbox(id);
  if (absl::IsNotFound(sandbox.status())) return absl::OkStatus();  // idempotent
  if (!sandbox.ok()) return sandbox.status();
  absl::StatusOr<std::vector<ContainerRecord>> containers = store_->ListContainers();
  if (!containers.ok()) return containers.status();
  for (const ContainerRecord& c : *containers) {
    if (c.sandbox_id != id) continue;
    if (absl::Status s = RemoveContainer(c.id); !s.ok()) return s;
  }
  return store_->DeleteSandbox(id);
}

absl::StatusOr<v1::PodSandboxStatus> PodRuntime::PodSandboxStatus(const std::string& id) {
  absl::StatusOr<SandboxRecord> record = store_->GetSandbox(id);
  if (!record.ok()) return record.status();
  v1::PodSandboxConfig config;
  config.ParseFromString(record->config);
  v1::PodSandboxStatus status;
  status.set_id(record->id);
  *status.mutable_metadata() = config.metadata();
  status.set_state(static_cast<v1::PodSandboxState>(record->state));
  status.set_created_at(record->created_at_ns);
  status.mutable_network();  // VMs get no pod network yet; an empty IP
  status.mutable_linux()->mutable_namespaces()->mutable_options();
  *status.mutable_labels() = config.labels();
  *status.mutable_annotations() = config.annotations();
  status.set_runtime_handler(record->runtime_handler);
  return status;
}

absl::StatusOr<std::vector<v1::PodSandbox>> PodRuntime::ListPodSandbox(
    const v1::PodSandboxFilter& filter) {
  absl::StatusOr<std::vector<SandboxRecord>> records = store_->ListSandboxes();
  if (!records.ok()) return records.status();
  std::vector<v1::PodSandbox> out;
  for (const SandboxRecord& r : *records) {
    if (!filter.id().empty() && r.id != filter.id()) continue;
    if (filter.has_state() && static_cast<int>(filter.state().state()) != static_cast<int>(r.state)) {
      continue;
    }
    v1::PodSandboxConfig config;
    config.ParseFromString(r.config);
    if (!MatchesSelector(config.labels(), filter.label_selector())) continue;
    v1::PodSandbox item;
    item.set_id(r.id);
    *item.mutable_metadata() = config.metadata();
    item.set_state(static_cast<v1::PodSandboxState>(r.state));
    item.set_created_at(r.created_at_ns);
    *item.mutable_labels() = config.labels();
    *item.mutable_annotations() = config.annotations();
    item.set_runtime_handler(r.runtime_handler);
    out.push_back(std::move(item));
  }
  return out;
}

// --------------------------------------------------------------- containers

absl::StatusOr<std::string> PodRuntime::CreateContainer(const std::string& sandbox_id,
                                                        const v1::ContainerConfig& config) {
  absl::MutexLock sandbox_lock(LockFor(sandbox_id));
  absl::StatusOr<SandboxRecord> sandbox = store_->GetSandbox(sandbox_id);
  if (!sandbox.ok()) return sandbox.status();
  if (sandbox->state != SandboxState::kReady) {
    return absl::FailedPreconditionError(absl::StrCat("pod sandbox ", sandbox_id, " is not ready"));
  }
  absl::StatusOr<std::vector<ContainerRecord>> existing = store_->ListContainers();
  if (!existing.ok()) return existing.status();
  for (const ContainerRecord& c : *existing) {
    if (c.sandbox_id == sandbox_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "pod sandbox ", sandbox_id, " already has container ", c.id,
          "; vmmap runs one VM per pod, so a pod has exactly one container (remove it first)"));
    }
  }
  absl::StatusOr<ImageRecord> image = images_->Find(config.image().image());
  if (!image.ok()) return image.status();

  v1::PodSandboxConfig sandbox_config;
  sandbox_config.ParseFromString(sandbox->config);
  absl::StatusOr<DomainPlan> plan = PlanDomain(
      SandboxInputFromCri(sandbox_config, config.linux().resources(), config.metadata().attempt()),
      options_.node);
  if (!plan.ok()) return plan.status();

  ContainerRecord record;
  record.id = NewObjectId();
  record.sandbox_id = sandbox_id;
  record.config = config.SerializeAsString();
  record.resources = config.linux().resources().SerializeAsString();
  record.image_id = image->id;
  record.image_ref = config.image().image();
  record.domain_name = plan->spec.name;
  record.console_path = absl::StrCat(ContainerDir(record.id), "/console.log");
  record.created_at_ns = NowNanos();
  record.pending = true;

  DomainSpec& spec = plan->spec;
  spec.owner.sandbox_id = sandbox_id;
  spec.owner.container_id = record.id;
  spec.console_log_path = record.console_path;
  if (image->kind == ImageKind::kKernelBundle) {
    absl::StatusOr<std::string> args = KernelArgs(config);
    if (!args.ok()) return args.status();
    std::string cmdline = image->cmdline.empty() ? "console=ttyS0" : image->cmdline;
    if (!args->empty()) absl::StrAppend(&cmdline, " ", *args);
    spec.kernel_boot = DirectKernelBoot{image->kernel_path, image->initrd_path, cmdline};
  } else {
    record.overlay_path = absl::StrCat(ContainerDir(record.id), "/disk.qcow2");
    spec.disks.push_back(DiskSpec{record.overlay_path, "qcow2", "vda"});
  }
  absl::StatusOr<std::string> xml = RenderDomainXml(spec);
  if (!xml.ok()) return xml.status();

  // Intent first: a crash from here on is rolled back by Recover().
  if (absl::Status s = store_->PutContainer(record); !s.ok()) return s;
  auto roll_back = [&](absl::Status cause) {
    std::error_code ignored;
    fs::remove_all(ContainerDir(record.id), ignored);
    store_->DeleteContainer(record.id).IgnoreError();
    return cause;
  };
  std::error_code ec;
  fs::create_directories(ContainerDir(record.id), ec);
  if (ec) {
    return roll_back(absl::InternalError(absl::StrCat(ContainerDir(record.id), ": ", ec.message())));
  }
  if (!record.overlay_path.empty()) {
    if (absl::Status s = images_->CreateOverlay(*image, record.overlay_path); !s.ok()) {
      return roll_back(s);
    }
  }
  absl::StatusOr<virt::DomainId> defined = hypervisor_->DefineDomain(*xml);
  if (!defined.ok()) return roll_back(defined.status());
  record.pending = false;
  if (absl::Status s = store_->PutContainer(record); !s.ok()) {
    DestroyAndUndefine(record.domain_name).IgnoreError();
    return roll_back(s);
  }
  for (const std::string& warning : plan->explanation.warnings) {
    VMMAP_LOG(kWarning, "container ", record.id, ": ", warning);
  }
  return record.id;
}

absl::Status PodRuntime::StartContainer(const std::string& id) {
  absl::MutexLock lock(LockFor(id));
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (!record.ok()) return record.status();
  if (record->state != ContainerState::kCreated) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container ", id, " is ", v1::ContainerState_Name(ToCri(record->state)),
        "; only a CREATED container can be started"));
  }
  // virDomainCreate returns once QEMU runs; it does not wait for the guest.
  if (absl::Status s = hypervisor_->StartDomain(record->domain_name); !s.ok()) return s;
  record->state = ContainerState::kRunning;
  record->started_at_ns = NowNanos();
  return store_->PutContainer(*record);
}

absl::Status PodRuntime::StopContainer(const std::string& id, int64_t timeout_seconds) {
  absl::MutexLock lock(LockFor(id));
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (!record.ok()) return record.status();
  ContainerRecord current = Refresh(*record, hypervisor_->DomainState(record->domain_name));
  if (current.state != ContainerState::kRunning) {
    if (current.state == ContainerState::kCreated) {
      current.state = ContainerState::kExited;
      current.finished_at_ns = NowNanos();
      current.reason = "Stopped";
      return store_->PutContainer(current);
    }
    return absl::OkStatus();  // already stopped: idempotent
  }
  bool graceful = false;
  if (timeout_seconds > 0 && hypervisor_->ShutdownDomain(current.domain_name).ok()) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      absl::StatusOr<virt::DomainStatus> st = hypervisor_->DomainState(current.domain_name);
      if (!st.ok() || st->state == virt::PowerState::kShutoff) {
        graceful = true;
        break;
      }
      std::this_thread::sleep_for(kStopPollInterval);
    }
  }
  if (!graceful) {
    absl::Status s = hypervisor_->DestroyDomain(current.domain_name);
    if (!s.ok() && !absl::IsFailedPrecondition(s) && !absl::IsNotFound(s)) return s;
  }
  current.state = ContainerState::kExited;
  current.finished_at_ns = NowNanos();
  current.exit_code = graceful ? 0 : kExitKilled;
  current.reason = graceful ? "Completed" : "Killed";
  current.message = graceful ? "guest powered off after an ACPI shutdown request"
                             : "guest did not power off within the timeout; destroyed";
  return store_->PutContainer(current);
}

absl::Status PodRuntime::DestroyAndUndefine(const std::string& domain_name) {
  absl::Status destroyed = hypervisor_->DestroyDomain(domain_name);
  if (!destroyed.ok() && !absl::IsFailedPrecondition(destroyed) && !absl::IsNotFound(destroyed)) {
    return destroyed;
  }
  absl::Status undefined = hypervisor_->UndefineDomain(domain_name);
  if (!undefined.ok() && !absl::IsNotFound(undefined)) return undefined;
  return absl::OkStatus();
}

absl::Status PodRuntime::RemoveContainerLocked(const ContainerRecord& record) {
  if (absl::Status s = DestroyAndUndefine(record.domain_name); !s.ok()) return s;
  std::error_code ec;
  fs::remove_all(ContainerDir(record.id), ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("removing ", ContainerDir(record.id), ": ", ec.message()));
  }
  return store_->DeleteContainer(record.id);
}

absl::Status PodRuntime::RemoveContainer(const std::string& id) {
  absl::MutexLock lock(LockFor(id));
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (absl::IsNotFound(record.status())) return absl::OkStatus();  // idempotent
  if (!record.ok()) return record.status();
  return RemoveContainerLocked(*record);
}

ContainerRecord PodRuntime::Refresh(ContainerRecord record,
                                    const absl::StatusOr<virt::DomainStatus>& status) {
  if (record.pending || record.state == ContainerState::kExited) return record;
  ContainerRecord updated = record;
  if (absl::IsNotFound(status.status())) {
    updated.state = ContainerState::kExited;
    updated.exit_code = 255;
    updated.reason = "DomainVanished";
    updated.message = absl::StrCat("libvirt domain ", record.domain_name, " no longer exists");
  } else if (!status.ok()) {
    return record;  // libvirt unreachable: report what we last knew
  } else if (record.state == ContainerState::kRunning &&
             (status->state == virt::PowerState::kShutoff ||
              status->state == virt::PowerState::kCrashed)) {
    const bool crashed = status->state == virt::PowerState::kCrashed;
    updated.state = ContainerState::kExited;
    updated.exit_code = crashed ? 1 : 0;
    updated.reason = crashed ? "Crashed" : "Completed";
    updated.message = crashed ? "the guest crashed" : "the guest powered off";
  } else {
    return record;
  }
  updated.finished_at_ns = NowNanos();
  store_->PutContainer(updated).IgnoreError();
  return updated;
}

ContainerRecord PodRuntime::RefreshUnlessBusy(ContainerRecord record,
                                              const absl::StatusOr<virt::DomainStatus>& status) {
  // A Start/Stop/Remove in progress owns the row and will write it; reading
  // calls never wait for it (StopContainer may take its whole timeout).
  absl::Mutex* mu = LockFor(record.id);
  if (!mu->TryLock()) return record;
  absl::StatusOr<ContainerRecord> current = store_->GetContainer(record.id);
  ContainerRecord refreshed = current.ok() ? Refresh(*current, status) : record;
  mu->Unlock();
  return refreshed;
}

absl::StatusOr<v1::ContainerStatus> PodRuntime::ContainerStatus(const std::string& id) {
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (!record.ok()) return record.status();
  ContainerRecord r = RefreshUnlessBusy(*record, hypervisor_->DomainState(record->domain_name));
  v1::ContainerConfig config;
  config.ParseFromString(r.config);
  v1::ContainerStatus status;
  status.set_id(r.id);
  *status.mutable_metadata() = config.metadata();
  status.set_state(ToCri(r.state));
  status.set_created_at(r.created_at_ns);
  status.set_started_at(r.started_at_ns);
  status.set_finished_at(r.finished_at_ns);
  status.set_exit_code(r.exit_code);
  *status.mutable_image() = config.image();
  status.set_image_ref(r.image_id);
  status.set_reason(r.reason);
  status.set_message(r.message);
  *status.mutable_labels() = config.labels();
  *status.mutable_annotations() = config.annotations();
  status.set_log_path(config.log_path());
  status.mutable_resources()->mutable_linux()->ParseFromString(r.resources);
  return status;
}

absl::StatusOr<std::vector<v1::Container>> PodRuntime::ListContainers(
    const v1::ContainerFilter& filter) {
  absl::StatusOr<std::vector<ContainerRecord>> records = store_->ListContainers();
  if (!records.ok()) return records.status();
  // One libvirt listing for all containers, not a call per container.
  absl::flat_hash_map<std::string, virt::DomainStatus> domains;
  absl::StatusOr<std::vector<virt::DomainInfo>> listed = hypervisor_->ListDomains();
  if (listed.ok()) {
    for (const virt::DomainInfo& d : *listed) domains[d.name] = d.status;
  }
  std::vector<v1::Container> out;
  for (const ContainerRecord& stored : *records) {
    if (stored.pending) continue;
    if (!filter.id().empty() && stored.id != filter.id()) continue;
    if (!filter.pod_sandbox_id().empty() && stored.sandbox_id != filter.pod_sandbox_id()) continue;
    ContainerRecord r = stored;
    if (listed.ok()) {
      auto it = domains.find(r.domain_name);
      r = RefreshUnlessBusy(r, it == domains.end()
                                    ? absl::StatusOr<virt::DomainStatus>(absl::NotFoundError("gone"))
                                    : absl::StatusOr<virt::DomainStatus>(it->second));
    }
    if (filter.has_state() && static_cast<int>(filter.state().state()) != static_cast<int>(r.state)) {
      continue;
    }
    v1::ContainerConfig config;
    config.ParseFromString(r.config);
    if (!MatchesSelector(config.labels(), filter.label_selector())) continue;
    v1::Container item;
    item.set_id(r.id);
    item.set_pod_sandbox_id(r.sandbox_id);
    *item.mutable_metadata() = config.metadata();
    *item.mutable_image() = config.image();
    item.set_image_ref(r.image_id);
    item.set_state(ToCri(r.state));
    item.set_created_at(r.created_at_ns);
    *item.mutable_labels() = config.labels();
    *item.mutable_annotations() = config.annotations();
    out.push_back(std::move(item));
  }
  return out;
}

absl::Status PodRuntime::UpdateContainerResources(const std::string& id,
                                                  const v1::LinuxContainerResources& resources) {
  absl::MutexLock lock(LockFor(id));
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (!record.ok()) return record.status();
  absl::StatusOr<SandboxRecord> sandbox = store_->GetSandbox(record->sandbox_id);
  if (!sandbox.ok()) return sandbox.status();
  v1::PodSandboxConfig sandbox_config;
  sandbox_config.ParseFromString(sandbox->config);
  v1::ContainerConfig config;
  config.ParseFromString(record->config);

  // The new limits are the container's; the VM keeps its vCPU count (vCPUs
  // cannot be hot-plugged here), so the split is planned for that count.
  PodSandboxInput input =
      SandboxInputFromCri(sandbox_config, resources, config.metadata().attempt());
  input.pod_resources = LinuxResources();
  absl::StatusOr<std::string> live_xml = hypervisor_->DomainXml(record->domain_name);
  if (!live_xml.ok()) return live_xml.status();
  pugi::xml_document doc;
  doc.load_string(live_xml->c_str());
  const int vcpus = doc.child("domain").child("vcpu").text().as_int(1);
  input.annotations.erase("VirtletVCPUCount");
  input.annotations["vmmap.io/vcpus"] = absl::StrCat(vcpus);
  absl::StatusOr<DomainPlan> plan = PlanDomain(input, options_.node);
  if (!plan.ok()) return plan.status();

  const CpuTune& t = plan->spec.cputune;
  virt::CpuTuneUpdate update;
  if (t.shares) update.shares = *t.shares;
  // Unset quotas become "unlimited" (-1): a removed limit must be lifted.
  update.global_period = t.global_period_us.value_or(100000);
  update.global_quota = t.global_quota_us.value_or(-1);
  update.period = t.period_us.value_or(100000);
  update.quota = t.quota_us.value_or(-1);
  update.emulator_period = t.emulator_period_us.value_or(100000);
  update.emulator_quota = t.emulator_quota_us.value_or(-1);
  if (absl::Status s = hypervisor_->SetSchedulerParameters(record->domain_name, update, true);
      !s.ok()) {
    return s;
  }
  if (plan->spec.hard_limit_kib) {
    if (absl::Status s =
            hypervisor_->SetMemoryHardLimit(record->domain_name, *plan->spec.hard_limit_kib);
        !s.ok()) {
      return s;
    }
  }
  VMMAP_LOG(kInfo, "container ", id, ": limits updated live: global_quota ", *update.global_quota,
            ", vCPU quota ", *update.quota, " x ", vcpus, ", emulator_quota ",
            *update.emulator_quota, " (µs per ", *update.global_period, "), hard_limit ",
            plan->spec.hard_limit_kib.value_or(0), " KiB");
  record->resources = resources.SerializeAsString();
  return store_->PutContainer(*record);
}

std::optional<std::string> PodRuntime::ImageUser(const std::string& image_id) {
  absl::StatusOr<std::vector<ContainerRecord>> records = store_->ListContainers();
  if (!records.ok()) return "unknown (state store unavailable)";
  for (const ContainerRecord& r : *records) {
    if (r.image_id == image_id) return absl::StrCat("container ", r.id);
  }
  return std::nullopt;
}

// ----------------------------------------------------------------- recovery

absl::Status PodRuntime::Recover() {
  absl::StatusOr<std::vector<ContainerRecord>> records = store_->ListContainers();
  if (!records.ok()) return records.status();
  absl::StatusOr<std::vector<virt::DomainInfo>> domains =
      hypervisor_->ListDomainsWithMetadata(kMetadataNamespaceUri);
  if (!domains.ok()) return domains.status();

  absl::flat_hash_map<std::string, const ContainerRecord*> by_id;
  for (const ContainerRecord& r : *records) by_id[r.id] = &r;

  // vmmap domains no committed row knows: a crash between define and commit.
  for (const virt::DomainInfo& d : *domains) {
    std::optional<Owner> owner = ParseOwner(d.metadata);
    if (!owner) continue;  // not ours: never touched
    auto it = by_id.find(owner->container_id);
    if (it == by_id.end() || it->second->pending) {
      VMMAP_LOG(kInfo, "recovery: removing orphaned domain ", d.name);
      if (absl::Status s = DestroyAndUndefine(d.name); !s.ok()) return s;
    }
  }
  // Pending rows: roll back whatever part was created.
  for (const ContainerRecord& r : *records) {
    if (!r.pending) continue;
    VMMAP_LOG(kInfo, "recovery: rolling back half-created container ", r.id);
    std::error_code ignored;
    fs::remove_all(ContainerDir(r.id), ignored);
    if (absl::Status s = store_->DeleteContainer(r.id); !s.ok()) return s;
  }
  // Container directories no row knows (collected first: no removal while iterating).
  std::error_code ec;
  std::vector<fs::path> orphaned_dirs;
  for (const auto& entry : fs::directory_iterator(options_.state_dir + "/containers", ec)) {
    auto it = by_id.find(entry.path().filename().string());
    if (it == by_id.end() || it->second->pending) orphaned_dirs.push_back(entry.path());
  }
  for (const fs::path& dir : orphaned_dirs) fs::remove_all(dir, ec);
  // Committed rows: learn what happened to their domains while we were away.
  absl::StatusOr<std::vector<ContainerRecord>> remaining = store_->ListContainers();
  if (!remaining.ok()) return remaining.status();
  for (const ContainerRecord& r : *remaining) Refresh(r, hypervisor_->DomainState(r.domain_name));
  return absl::OkStatus();
}

}  // namespace vmmap
