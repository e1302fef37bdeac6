#include "server/runtime/pod_runtime.h"

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "mapper/domain_xml.h"
#include "mapper/planner.h"
#include "mapper/shared_dirs.h"
#include "mapper/startup_limits.h"
#include "server/base/files.h"
#include "server/base/log.h"
#include "server/base/step_times.h"
#include "server/guest/agent_socket.h"
#include "server/runtime/container_layout.h"
#include "server/runtime/container_volumes.h"
#include "server/runtime/domain_observation.h"
#include "server/runtime/domain_cgroups.h"
#include "server/runtime/domains.h"
#include "server/runtime/ids.h"
#include "server/runtime/live_resize.h"
#include "server/runtime/plan_input.h"
#include "server/runtime/post_start.h"
#include "server/runtime/recovery.h"
#include "server/runtime/sandbox_network.h"
#include "server/volumes/host_paths.h"
#include "server/volumes/share_views.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;

constexpr auto kStopPollInterval = std::chrono::milliseconds(100);
constexpr int32_t kExitKilled = 137;  // what a runc container killed by SIGKILL reports

const char* StateName(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated:
      return "CONTAINER_CREATED";
    case ContainerState::kRunning:
      return "CONTAINER_RUNNING";
    case ContainerState::kExited:
      return "CONTAINER_EXITED";
    case ContainerState::kUnknown:
      return "CONTAINER_UNKNOWN";
  }
  return "CONTAINER_UNKNOWN";
}

}  // namespace

PodRuntime::PodRuntime(RuntimeOptions options, virt::Hypervisor* hypervisor, StateStore* store,
                       ImageStore* images)
    : options_(std::move(options)), hypervisor_(hypervisor), store_(store), images_(images) {}

std::string PodRuntime::ContainerDir(const std::string& id) const {
  return absl::StrCat(options_.state_dir, "/containers/", id);
}

absl::Status PodRuntime::Recover() {
  if (absl::Status s =
          RecoverState(*hypervisor_, *store_, absl::StrCat(options_.state_dir, "/containers"),
                       options_.node, options_.cgroup_root, options_.network);
      !s.ok()) {
    return s;
  }
  return RecoverVolumes(*hypervisor_, *store_, options_.node,
                        {options_.state_dir, options_.cgroup_root});
}

// ---------------------------------------------------------------- sandboxes

absl::StatusOr<std::string> PodRuntime::RunPodSandbox(const SandboxConfig& config) {
  StepTimes steps("RunPodSandbox", "");
  // Validate now, so that a pod that can never become a VM fails here, with
  // the field named, rather than at CreateContainer.
  absl::StatusOr<DomainPlan> plan =
      PlanDomain(PlanInputFor(config, config.pod_resources, 0), options_.node);
  if (!plan.ok()) return plan.status();
  steps.Mark("plan");
  // The metadata tuple names one sandbox, as in containerd: a second
  // RunPodSandbox with it (kubelet retrying a call that timed out) while the
  // first exists is AlreadyExists naming the first. The name's lock makes
  // check-and-insert atomic against a concurrent retry.
  const PodMetadata& m = config.metadata;
  LockTable::Guard reservation = locks_.Lock(
      absl::StrCat("sandbox-name:", m.namespace_name, "/", m.name, "/", m.uid, "/", m.attempt));
  absl::StatusOr<std::vector<SandboxRecord>> existing = store_->ListSandboxes();
  if (!existing.ok()) return existing.status();
  for (const SandboxRecord& other : *existing) {
    const PodMetadata& o = other.config.metadata;
    if (o.name == m.name && o.namespace_name == m.namespace_name && o.uid == m.uid &&
        o.attempt == m.attempt) {
      if (other.network.pending) {
        // A set-up that a crash (or a failed delete) abandoned: never
        // returned to kubelet, listed by nothing, and its creator no longer
        // holds the name's lock. Undo it rather than answer AlreadyExists
        // naming a sandbox kubelet cannot see (found by KillLoopTest).
        if (absl::Status s = UndoAbandonedSandbox(other); !s.ok()) return s;
        continue;
      }
      return absl::AlreadyExistsError(
          absl::StrCat("pod sandbox ", m.namespace_name, "/", m.name, " (uid \"", m.uid,
                       "\", attempt ", m.attempt, ") already exists as ", other.id,
                       "; remove it first or run the sandbox with the next attempt"));
    }
  }
  steps.Mark("lookup");
  SandboxRecord record;
  record.id = NewObjectId();
  record.config = config;
  record.state = SandboxState::kReady;
  record.created_at_ns = NowNanos();
  network::PodNetwork* const net = config.host_network ? nullptr : options_.network;
  if (net == nullptr) {
    if (absl::Status s = store_->PutSandbox(record); !s.ok()) return s;
    steps.Mark("store");
    steps.Done(record.id);
    return record.id;
  }
  // Intent first: a crash after this write and before the result is
  // recorded leaves a pending row, for which Recover() runs DEL.
  record.network.pending = true;
  if (absl::Status s = store_->PutSandbox(record); !s.ok()) return s;
  steps.Mark("store_intent");
  absl::StatusOr<network::PodNetworkState> state = net->SetUp(NetworkRequestFor(record));
  steps.Mark("network");
  if (!state.ok()) {
    // SetUp left nothing behind; the row goes too.
    if (absl::Status s = store_->DeleteSandbox(record.id); !s.ok()) {
      VMMAP_LOG(kWarning, "sandbox ", record.id,
                ": deleting the row of a failed network set-up: ", s.message(),
                " (recovery deletes it)");
    }
    return absl::Status(state.status().code(),
                        absl::StrCat("pod network for ", m.namespace_name, "/", m.name, ": ",
                                     state.status().message()));
  }
  record.network.pending = false;
  record.network.netns_path = state->netns_path;
  record.network.cni_result_json = state->cni_result_json;
  record.network.ips = state->ips;
  if (absl::Status s = store_->PutSandbox(record); !s.ok()) {
    // The pending row (if it is still there) lets recovery finish the undo.
    absl::Status undone = ReleaseSandboxNetwork(*net, record, true);
    if (undone.ok()) store_->DeleteSandbox(record.id).IgnoreError();
    return s;
  }
  steps.Mark("store");
  steps.Done(record.id);
  VMMAP_LOG(kInfo, "sandbox ", record.id, " (", m.namespace_name, "/", m.name, "): pod IP ",
            record.network.ips.front(), " in ", record.network.netns_path);
  return record.id;
}

absl::Status PodRuntime::UndoAbandonedSandbox(const SandboxRecord& sandbox) {
  const PodMetadata& m = sandbox.config.metadata;
  if (options_.network == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "pod sandbox ", m.namespace_name, "/", m.name, ": an interrupted RunPodSandbox left ",
        sandbox.id, " setting up its pod network, and no pod network is configured to undo it"));
  }
  VMMAP_LOG(kInfo, "sandbox ", sandbox.id, " (", m.namespace_name, "/", m.name,
            ") was abandoned while setting up its pod network: running CNI DEL before the retry");
  if (absl::Status s = ReleaseSandboxNetwork(*options_.network, sandbox, true); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("pod sandbox ", m.namespace_name, "/", m.name,
                                               ": undoing the interrupted set-up of ", sandbox.id,
                                               ": ", s.message()));
  }
  return store_->DeleteSandbox(sandbox.id);
}

absl::Status PodRuntime::StopPodSandbox(const std::string& id) {
  LockTable::Guard lock = locks_.Lock(id);
  absl::StatusOr<SandboxRecord> sandbox = store_->GetSandbox(id);
  if (!sandbox.ok()) return sandbox.status();
  absl::StatusOr<std::vector<ContainerRecord>> containers = store_->ListContainers();
  if (!containers.ok()) return containers.status();
  for (const ContainerRecord& c : *containers) {
    if (c.sandbox_id != id) continue;
    // StopPodSandbox forcibly stops what StopContainer did not.
    if (absl::Status s = StopContainer(c.id, 0); !s.ok() && !absl::IsNotFound(s)) return s;
  }
  // DEL on every stop (idempotent), so a stop after a crash also cleans up;
  // the namespace stays until RemovePodSandbox, as in containerd.
  if (options_.network != nullptr) {
    if (absl::Status s = ReleaseSandboxNetwork(*options_.network, *sandbox, false); !s.ok()) {
      return s;
    }
  }
  if (sandbox->state == SandboxState::kNotReady) return absl::OkStatus();
  sandbox->state = SandboxState::kNotReady;
  return store_->PutSandbox(*sandbox);
}

absl::Status PodRuntime::RemovePodSandbox(const std::string& id) {
  LockTable::Guard lock = locks_.Lock(id);
  absl::StatusOr<SandboxRecord> sandbox = store_->GetSandbox(id);
  if (absl::IsNotFound(sandbox.status())) return absl::OkStatus();  // idempotent
  if (!sandbox.ok()) return sandbox.status();
  absl::StatusOr<std::vector<ContainerRecord>> containers = store_->ListContainers();
  if (!containers.ok()) return containers.status();
  for (const ContainerRecord& c : *containers) {
    if (c.sandbox_id != id) continue;
    if (absl::Status s = RemoveContainer(c.id); !s.ok()) return s;
  }
  if (options_.network != nullptr) {
    // DEL again (a remove without a stop must not leak the lease), then the
    // namespace, which deletes the tap inside it.
    if (absl::Status s = ReleaseSandboxNetwork(*options_.network, *sandbox, true); !s.ok()) {
      return s;
    }
  }
  return store_->DeleteSandbox(id);
}

absl::StatusOr<SandboxRecord> PodRuntime::PodSandboxStatus(const std::string& id) {
  absl::StatusOr<SandboxRecord> sandbox = store_->GetSandbox(id);
  if (sandbox.ok() && sandbox->network.pending) {
    return absl::NotFoundError(absl::StrCat("pod sandbox ", id, " not found (still being set up)"));
  }
  return sandbox;
}

network::NetworkReadiness PodRuntime::NetworkReadiness() const {
  if (options_.network == nullptr) return {true, "", ""};
  return options_.network->Readiness();
}

absl::StatusOr<std::optional<network::GuestNic>> PodRuntime::GuestNicOf(
    const SandboxRecord& sandbox) {
  if (options_.network == nullptr || sandbox.network.netns_path.empty()) {
    return std::optional<network::GuestNic>();
  }
  absl::StatusOr<network::GuestNic> nic = options_.network->GuestNicFor(
      NetworkRequestFor(sandbox), NetworkStateOf(sandbox), sandbox.config.hostname);
  if (!nic.ok()) return nic.status();
  return std::optional<network::GuestNic>(*std::move(nic));
}

absl::StatusOr<std::vector<SandboxRecord>> PodRuntime::ListPodSandbox(const SandboxFilter& filter) {
  absl::StatusOr<std::vector<SandboxRecord>> records = store_->ListSandboxes();
  if (!records.ok()) return records.status();
  std::vector<SandboxRecord> out;
  for (SandboxRecord& r : *records) {
    if (!r.network.pending && Matches(filter, r)) out.push_back(std::move(r));
  }
  return out;
}

// --------------------------------------------------------------- containers

absl::StatusOr<std::string> PodRuntime::CreateContainer(const std::string& sandbox_id,
                                                        const ContainerConfig& config,
                                                        const LinuxResources& resources) {
  StepTimes steps("CreateContainer", "");
  LockTable::Guard sandbox_lock = locks_.Lock(sandbox_id);
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
  absl::StatusOr<ImageRecord> image = images_->Find(config.image_ref);
  if (!image.ok()) return image.status();
  steps.Mark("lookup");

  PodSandboxInput input = PlanInputFor(sandbox->config, resources, config.metadata.attempt);
  input.mounts = config.mounts;
  // Directories and files are shared differently; the mapper cannot look.
  if (absl::Status s = volumes::ClassifyHostPaths(input.mounts); !s.ok()) return s;
  absl::StatusOr<DomainPlan> plan = PlanDomain(input, options_.node);
  if (!plan.ok()) return plan.status();
  steps.Mark("plan");

  ContainerRecord record;
  record.id = NewObjectId();
  record.sandbox_id = sandbox_id;
  record.config = config;
  record.resources = resources;
  record.image_id = image->id;
  record.created_at_ns = NowNanos();
  record.pending = true;
  absl::StatusOr<std::string> agent_socket = guest::AgentSocketPath(options_.state_dir, record.id);
  if (!agent_socket.ok()) return agent_socket.status();
  // The shares point at vmmap's views of the volumes (server/volumes).
  absl::StatusOr<volumes::ResolvedShares> shares =
      volumes::ResolveShares(std::move(plan->spec.shared_dirs), options_.state_dir, record.id);
  if (!shares.ok()) return shares.status();
  plan->spec.shared_dirs = shares->shares;
  plan->spec.memory_shared = false;
  for (const SharedDirectory& share : shares->shares) {
    if (share.driver == SharedFsDriver::kVirtiofs) plan->spec.memory_shared = true;
  }
  absl::StatusOr<ContainerLayout> layout = LayOutContainerDomain(
      plan->spec, *image, config, {sandbox_id, record.id, ContainerDir(record.id)});
  if (!layout.ok()) return layout.status();
  absl::StatusOr<std::optional<network::GuestNic>> nic = GuestNicOf(*sandbox);
  if (!nic.ok()) return nic.status();
  const std::string seed_path = absl::StrCat(ContainerDir(record.id), "/cidata.iso");
  if (nic->has_value()) {
    if (absl::Status s = AddGuestNic(**nic, seed_path, layout->spec); !s.ok()) return s;
  }
  // A disk image learns its mounts from the seed (kernel images: cmdline).
  const bool seeded = nic->has_value() || !layout->spec.shared_dirs.empty();
  if (seeded) AttachGuestSeed(seed_path, layout->spec);
  layout->spec.guest_agent_socket = *agent_socket;
  record.domain_name = layout->spec.name;
  record.overlay_path = layout->overlay_path;
  record.console_path = layout->console_path;
  // Defined without the limits that would throttle QEMU's start-up;
  // StartContainer applies them once QEMU runs (mapper/startup_limits.h).
  absl::StatusOr<std::string> xml = RenderDomainXml(SplitStartupLimits(layout->spec).boot);
  if (!xml.ok()) return xml.status();
  steps.Mark("layout_xml");

  // Intent first: a crash from here on is rolled back by Recover().
  if (absl::Status s = store_->PutContainer(record); !s.ok()) return s;
  steps.Mark("store_intent");
  auto roll_back = [&](absl::Status cause) {
    std::error_code ignored;
    ReleaseContainerVolumes({options_.state_dir, options_.cgroup_root}, record.id).IgnoreError();
    fs::remove_all(ContainerDir(record.id), ignored);
    store_->DeleteContainer(record.id).IgnoreError();
    return cause;
  };
  if (absl::Status s = MakeDirectories(ContainerDir(record.id), 0711); !s.ok()) {
    return roll_back(s);
  }
  if (absl::Status s = MakeDirectories(guest::AgentSocketDir(options_.state_dir), 0711); !s.ok()) {
    return roll_back(s);
  }
  steps.Mark("dirs");
  if (!record.overlay_path.empty()) {
    if (absl::Status s = images_->CreateOverlay(*image, record.overlay_path); !s.ok()) {
      return roll_back(s);
    }
  }
  steps.Mark("overlay");
  if (absl::Status s = volumes::MountViews(shares->views, options_.state_dir, record.id); !s.ok()) {
    return roll_back(s);
  }
  if (seeded) {
    if (absl::Status s =
            WriteGuestSeed(nic->has_value() ? &**nic : nullptr, layout->spec, record.id, seed_path);
        !s.ok()) {
      return roll_back(s);
    }
  }
  steps.Mark("seed");
  absl::StatusOr<virt::DomainId> defined = hypervisor_->DefineDomain(*xml);
  if (!defined.ok()) {
    // libvirtd may have defined it before the failure (a daemon killed
    // before it replied): the name is this container's alone, so remove it
    // if it is there (if libvirtd is still away, the next Recover() does).
    DestroyAndUndefine(*hypervisor_, record.domain_name).IgnoreError();
    return roll_back(defined.status());
  }
  steps.Mark("define");
  record.pending = false;
  if (absl::Status s = store_->PutContainer(record); !s.ok()) {
    DestroyAndUndefine(*hypervisor_, record.domain_name).IgnoreError();
    return roll_back(s);
  }
  steps.Mark("store");
  steps.Done(record.id);
  for (const std::string& warning : plan->explanation.warnings) {
    VMMAP_LOG(kWarning, "container ", record.id, ": ", warning);
  }
  return record.id;
}

absl::Status PodRuntime::StartContainer(const std::string& id) {
  StepTimes steps("StartContainer", id);
  LockTable::Guard lock = locks_.Lock(id);
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (!record.ok()) return record.status();
  if (record->state != ContainerState::kCreated) {
    return absl::FailedPreconditionError(absl::StrCat("container ", id, " is ",
                                                      StateName(record->state),
                                                      "; only a CREATED container can be started"));
  }
  absl::StatusOr<SandboxRecord> sandbox = store_->GetSandbox(record->sandbox_id);
  if (!sandbox.ok()) return sandbox.status();
  // Planned before the start, so that a plan error starts nothing.
  absl::StatusOr<PostStartLimits> after_start =
      PlanPostStartLimits(sandbox->config, *record, options_.node);
  if (!after_start.ok()) return after_start.status();
  absl::StatusOr<std::optional<network::GuestNic>> nic = GuestNicOf(*sandbox);
  if (!nic.ok()) return nic.status();
  steps.Mark("lookup_plan");
  // libvirt opens the tap by name in its own namespace (tap_link.h).
  if (nic->has_value()) {
    if (absl::Status s = options_.network->PrepareTap(**nic); !s.ok()) return s;
  }
  steps.Mark("tap");
  // virDomainCreate returns once QEMU runs; it does not wait for the guest.
  if (absl::Status s = hypervisor_->StartDomain(record->domain_name); !s.ok()) {
    // A CREATED row whose domain runs: an earlier start that libvirt
    // finished but whose answer was lost (libvirtd killed before it
    // replied). Finish that start instead of failing "already running".
    absl::StatusOr<virt::DomainStatus> now = hypervisor_->DomainState(record->domain_name);
    if (!now.ok() || now->state != virt::PowerState::kRunning || now->starting_up) return s;
    VMMAP_LOG(kInfo, "container ", id, ": domain ", record->domain_name,
              " already runs (an earlier start's answer was lost); finishing that start");
  }
  steps.Mark("start_domain");
  if (nic->has_value()) {
    if (absl::Status s = options_.network->AttachTap(**nic, NetworkStateOf(*sandbox)); !s.ok()) {
      // Never a running VM cut off from its pod network.
      hypervisor_->DestroyDomain(record->domain_name).IgnoreError();
      return s;
    }
  }
  steps.Mark("attach_tap");
  // Never a running VM whose virtiofsd escapes the pod's limits.
  if (absl::Status s = AdoptVirtiofsd(options_.node, {options_.state_dir, options_.cgroup_root}, id,
                                      record->domain_name);
      !s.ok()) {
    hypervisor_->DestroyDomain(record->domain_name).IgnoreError();
    return s;
  }
  if (PostStartOutcome applied =
          ApplyPostStartLimits(*hypervisor_, record->domain_name, *after_start);
      !applied.status.ok()) {
    return applied.status;
  }
  steps.Mark("limits");
  record->state = ContainerState::kRunning;
  record->started_at_ns = NowNanos();
  if (absl::Status s = store_->PutContainer(*record); !s.ok()) return s;
  steps.Mark("store");
  steps.Done();
  return absl::OkStatus();
}

absl::Status PodRuntime::StopContainer(const std::string& id, int64_t timeout_seconds,
                                       const CancelledFn& cancelled) {
  LockTable::Guard lock = locks_.Lock(id);
  return StopContainerLocked(id, timeout_seconds, cancelled);
}

absl::Status PodRuntime::StopContainerLocked(const std::string& id, int64_t timeout_seconds,
                                             const CancelledFn& cancelled) {
  absl::StatusOr<ContainerRecord> current = RefreshLocked(id);
  if (!current.ok()) return current.status();
  if (current->state != ContainerState::kRunning) {
    if (current->state == ContainerState::kCreated) {
      current->state = ContainerState::kExited;
      current->finished_at_ns = NowNanos();
      current->reason = "Stopped";
      return store_->PutContainer(*current);
    }
    return absl::OkStatus();  // already stopped: idempotent
  }
  bool graceful = false;
  if (timeout_seconds > 0 && hypervisor_->ShutdownDomain(current->domain_name).ok()) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      absl::StatusOr<virt::DomainStatus> st = hypervisor_->DomainState(current->domain_name);
      if (!st.ok() || st->state == virt::PowerState::kShutoff) {
        graceful = true;
        break;
      }
      if (cancelled && cancelled()) {
        return absl::CancelledError(
            absl::StrCat("StopContainer ", id,
                         ": the caller went away while the guest was shutting down; "
                         "the container is still running (call StopContainer again)"));
      }
      std::this_thread::sleep_for(kStopPollInterval);
    }
  }
  if (!graceful) {
    if (absl::Status s = PowerOff(*hypervisor_, current->domain_name); !s.ok()) return s;
  }
  current->state = ContainerState::kExited;
  current->finished_at_ns = NowNanos();
  current->exit_code = graceful ? 0 : kExitKilled;
  current->reason = graceful ? "Completed" : "Killed";
  current->message = graceful ? "guest powered off after an ACPI shutdown request"
                              : "guest did not power off within the timeout; destroyed";
  return store_->PutContainer(*current);
}

absl::Status PodRuntime::RemoveContainerLocked(const ContainerRecord& record) {
  if (absl::Status s = DestroyAndUndefine(*hypervisor_, record.domain_name); !s.ok()) return s;
  // virtiofsd (in the domain's cgroup) first, then the cgroup; before the
  // row goes, so that a failure is retried.
  if (absl::Status s =
          ReleaseContainerVolumes({options_.state_dir, options_.cgroup_root}, record.id);
      !s.ok()) {
    return s;
  }
  // Before the row goes, so that a failure (or a crash) is retried.
  if (absl::Status s =
          RemoveDomainCgroups(options_.node, {record.domain_name}, options_.cgroup_root);
      !s.ok()) {
    return absl::UnavailableError(absl::StrCat("container ", record.id,
                                               ": its domain is gone, "
                                               "but its cgroup is not (retry): ",
                                               s.message()));
  }
  std::error_code ec;
  // libvirt leaves the agent channel's bound socket behind.
  if (absl::StatusOr<std::string> socket = guest::AgentSocketPath(options_.state_dir, record.id);
      socket.ok()) {
    fs::remove(*socket, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("removing ", *socket, ": ", ec.message()));
    }
  }
  fs::remove_all(ContainerDir(record.id), ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("removing ", ContainerDir(record.id), ": ", ec.message()));
  }
  // Domain names are vmmap's own ([a-z0-9-]), never a path.
  if (!options_.domain_log_dir.empty()) {
    const std::string log = absl::StrCat(options_.domain_log_dir, "/", record.domain_name, ".log");
    fs::remove(log, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("removing ", log, ": ", ec.message()));
    // libvirt's virtiofsd logs, one per virtio-fs share: <name>-fs<N>-virtiofsd.log
    // (N: the <filesystem>'s index, below kMaxSharedDirectories).
    for (size_t i = 0; i < kMaxSharedDirectories; ++i) {
      const std::string fs_log = absl::StrCat(options_.domain_log_dir, "/", record.domain_name,
                                              "-fs", i, "-virtiofsd.log");
      fs::remove(fs_log, ec);
      if (ec) return absl::UnavailableError(absl::StrCat("removing ", fs_log, ": ", ec.message()));
    }
  }
  return store_->DeleteContainer(record.id);
}

absl::Status PodRuntime::RemoveContainer(const std::string& id) {
  LockTable::Guard lock = locks_.Lock(id);
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (absl::IsNotFound(record.status())) return absl::OkStatus();  // idempotent
  if (!record.ok()) return record.status();
  return RemoveContainerLocked(*record);
}

absl::StatusOr<ContainerRecord> PodRuntime::RefreshLocked(const std::string& id) {
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (!record.ok()) return record.status();
  std::optional<ContainerRecord> changed =
      ObserveDomain(*record, hypervisor_->DomainState(record->domain_name), NowNanos());
  if (!changed) return record;
  if (absl::Status s = store_->PutContainer(*changed); !s.ok()) return s;
  return *changed;
}

absl::StatusOr<ContainerRecord> PodRuntime::RefreshIfIdle(const ContainerRecord& stored) {
  // A Start/Stop/Remove in progress owns the row and will write it; reading
  // calls never wait for it (StopContainer may take its whole timeout).
  LockTable::Guard lock = locks_.TryLock(stored.id);
  if (!lock.held()) return stored;
  return RefreshLocked(stored.id);
}

absl::StatusOr<ContainerRecord> PodRuntime::ContainerStatus(const std::string& id) {
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (!record.ok()) return record.status();
  return RefreshIfIdle(*record);
}

absl::StatusOr<std::vector<ContainerRecord>> PodRuntime::ListContainers(
    const ContainerFilter& filter) {
  absl::StatusOr<std::vector<ContainerRecord>> records = store_->ListContainers();
  if (!records.ok()) return records.status();
  // One libvirt listing tells which rows may have changed; only those are
  // refreshed (under their lock, with a fresh read of their domain).
  absl::flat_hash_map<std::string, virt::DomainStatus> domains;
  absl::StatusOr<std::vector<virt::DomainInfo>> listed = hypervisor_->ListDomains();
  if (listed.ok()) {
    for (const virt::DomainInfo& d : *listed) domains[d.name] = d.status;
  }
  std::vector<ContainerRecord> out;
  for (const ContainerRecord& stored : *records) {
    if (stored.pending) continue;
    if (!filter.id.empty() && stored.id != filter.id) continue;
    if (!filter.sandbox_id.empty() && stored.sandbox_id != filter.sandbox_id) continue;
    ContainerRecord r = stored;
    if (listed.ok()) {
      auto it = domains.find(r.domain_name);
      const absl::StatusOr<virt::DomainStatus> seen =
          it == domains.end() ? absl::StatusOr<virt::DomainStatus>(absl::NotFoundError("gone"))
                              : absl::StatusOr<virt::DomainStatus>(it->second);
      if (ObserveDomain(r, seen, 0)) {
        absl::StatusOr<ContainerRecord> refreshed = RefreshIfIdle(r);
        if (refreshed.ok()) {
          r = *std::move(refreshed);
        } else if (!absl::IsNotFound(refreshed.status())) {
          return refreshed.status();
        } else {
          continue;  // removed meanwhile
        }
      }
    }
    if (Matches(filter, r)) out.push_back(std::move(r));
  }
  return out;
}

absl::Status PodRuntime::UpdateContainerResources(const std::string& id,
                                                  const LinuxResources& resources) {
  LockTable::Guard lock = locks_.Lock(id);
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(id);
  if (!record.ok()) return record.status();
  absl::StatusOr<SandboxRecord> sandbox = store_->GetSandbox(record->sandbox_id);
  if (!sandbox.ok()) return sandbox.status();
  absl::StatusOr<std::string> live_xml = hypervisor_->DomainXml(record->domain_name);
  if (!live_xml.ok()) return live_xml.status();
  absl::StatusOr<LiveDomainShape> shape = ShapeOfDomainXml(*live_xml);
  if (!shape.ok()) return shape.status();
  // The re-plan counts the shares the domain has (file mounts share one).
  ContainerConfig config = record->config;
  volumes::MarkSharedFiles(options_.state_dir, id, config.mounts);
  absl::StatusOr<ResizePlan> plan =
      PlanResize(sandbox->config, config, record->resources, resources, *shape, options_.node);
  if (!plan.ok()) return plan.status();
  if (record->state == ContainerState::kCreated) {
    // Not in the defined domain: StartContainer applies the emulator quota
    // of the resources recorded below once QEMU runs (post_start.h).
    plan->cpu.emulator_period.reset();
    plan->cpu.emulator_quota.reset();
  }
  if (absl::Status s = ApplyResize(*hypervisor_, record->domain_name, *plan); !s.ok()) return s;
  VMMAP_LOG(kInfo, "container ", id, ": limits updated live: global_quota ",
            *plan->cpu.global_quota, ", vCPU quota ", *plan->cpu.quota, " x ", plan->vcpus,
            ", emulator_quota ", plan->cpu.emulator_quota.value_or(-1), " (µs per ",
            *plan->cpu.global_period, "), hard_limit ", plan->hard_limit_kib.value_or(0), " KiB");
  record->resources = resources;
  return store_->PutContainer(*record);
}

absl::StatusOr<guest::ExecResult> PodRuntime::ExecSync(const std::string& id,
                                                       const std::vector<std::string>& cmd,
                                                       int64_t timeout_seconds,
                                                       const CancelledFn& cancelled) {
  absl::StatusOr<ContainerRecord> record = ContainerStatus(id);
  if (!record.ok()) return record.status();
  if (record->state != ContainerState::kRunning) {
    return absl::FailedPreconditionError(absl::StrCat("container ", id, " is ",
                                                      StateName(record->state),
                                                      "; ExecSync needs a RUNNING container"));
  }
  return guest::ExecInGuest(*hypervisor_, record->domain_name, cmd, timeout_seconds, cancelled);
}

std::optional<std::string> PodRuntime::ImageUser(const std::string& image_id) {
  absl::StatusOr<std::vector<ContainerRecord>> records = store_->ListContainers();
  if (!records.ok()) return "unknown (state store unavailable)";
  for (const ContainerRecord& r : *records) {
    if (r.image_id == image_id) return absl::StrCat("container ", r.id);
  }
  return std::nullopt;
}

}  // namespace vmmap
