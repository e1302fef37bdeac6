#include "server/cri/runtime_service.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/cri/cri_convert.h"
#include "server/cri/grpc_status.h"
#include "server/cri/request_checks.h"
#include "server/cri/stats_convert.h"

namespace vmmap {
namespace {

namespace v1 = runtime::v1;

constexpr char kRuntimeName[] = "vmmap";
constexpr char kRuntimeApiVersion[] = "v1";
constexpr char kKubeletApiVersion[] = "0.1.0";

grpc::Status MissingId(const char* field) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat(field, " is empty"));
}

grpc::Status NotYet(const char* method) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      absl::StrCat(method,
                                   " is not implemented by vmmap yet: the workload runs "
                                   "inside a VM; use its serial console or network"));
}

}  // namespace

grpc::Status RuntimeService::Version(grpc::ServerContext*, const v1::VersionRequest*,
                                     v1::VersionResponse* response) {
  response->set_version(kKubeletApiVersion);
  response->set_runtime_name(kRuntimeName);
  response->set_runtime_version(VMMAP_VERSION);
  response->set_runtime_api_version(kRuntimeApiVersion);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::Status(grpc::ServerContext*, const v1::StatusRequest*,
                                    v1::StatusResponse* response) {
  const absl::Status ping = hypervisor_->Ping();
  v1::RuntimeCondition* runtime_ready = response->mutable_status()->add_conditions();
  runtime_ready->set_type("RuntimeReady");
  runtime_ready->set_status(ping.ok());
  if (!ping.ok()) {
    runtime_ready->set_reason("HypervisorUnavailable");
    runtime_ready->set_message(std::string(ping.message()));
  }
  v1::RuntimeCondition* network_ready = response->mutable_status()->add_conditions();
  network_ready->set_type("NetworkReady");
  const network::NetworkReadiness readiness = runtime_->NetworkReadiness();
  network_ready->set_status(readiness.ready);
  network_ready->set_reason(readiness.reason);
  network_ready->set_message(readiness.message);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::RunPodSandbox(grpc::ServerContext*,
                                           const v1::RunPodSandboxRequest* request,
                                           v1::RunPodSandboxResponse* response) {
  if (!request->has_config() || request->config().metadata().name().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "config.metadata.name is empty");
  }
  if (absl::Status s = CheckSandboxConfig(request->config()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<std::string> id =
      runtime_->RunPodSandbox(FromCri(request->config(), request->runtime_handler()));
  if (!id.ok()) return ToGrpc(id.status());
  response->set_pod_sandbox_id(*id);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StopPodSandbox(grpc::ServerContext*,
                                            const v1::StopPodSandboxRequest* request,
                                            v1::StopPodSandboxResponse*) {
  if (request->pod_sandbox_id().empty()) return MissingId("pod_sandbox_id");
  absl::Status s = runtime_->StopPodSandbox(request->pod_sandbox_id());
  // Stop is idempotent: a sandbox that is already gone is stopped.
  return absl::IsNotFound(s) ? grpc::Status::OK : ToGrpc(s);
}

grpc::Status RuntimeService::RemovePodSandbox(grpc::ServerContext*,
                                              const v1::RemovePodSandboxRequest* request,
                                              v1::RemovePodSandboxResponse*) {
  if (request->pod_sandbox_id().empty()) return MissingId("pod_sandbox_id");
  return ToGrpc(runtime_->RemovePodSandbox(request->pod_sandbox_id()));
}

grpc::Status RuntimeService::PodSandboxStatus(grpc::ServerContext*,
                                              const v1::PodSandboxStatusRequest* request,
                                              v1::PodSandboxStatusResponse* response) {
  if (request->pod_sandbox_id().empty()) return MissingId("pod_sandbox_id");
  absl::StatusOr<SandboxRecord> sandbox = runtime_->PodSandboxStatus(request->pod_sandbox_id());
  if (!sandbox.ok()) return ToGrpc(sandbox.status());
  *response->mutable_status() = ToCriStatus(*sandbox);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandbox(grpc::ServerContext*,
                                            const v1::ListPodSandboxRequest* request,
                                            v1::ListPodSandboxResponse* response) {
  absl::StatusOr<std::vector<SandboxRecord>> sandboxes =
      runtime_->ListPodSandbox(FromCri(request->filter()));
  if (!sandboxes.ok()) return ToGrpc(sandboxes.status());
  for (const SandboxRecord& sandbox : *sandboxes) *response->add_items() = ToCriItem(sandbox);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::CreateContainer(grpc::ServerContext*,
                                             const v1::CreateContainerRequest* request,
                                             v1::CreateContainerResponse* response) {
  if (request->pod_sandbox_id().empty()) return MissingId("pod_sandbox_id");
  if (request->config().image().image().empty()) return MissingId("config.image.image");
  if (absl::Status s = CheckContainerConfig(request->config()); !s.ok()) return ToGrpc(s);
  absl::StatusOr<std::string> id =
      runtime_->CreateContainer(request->pod_sandbox_id(), FromCri(request->config()),
                                FromCri(request->config().linux().resources()));
  if (!id.ok()) return ToGrpc(id.status());
  response->set_container_id(*id);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StartContainer(grpc::ServerContext*,
                                            const v1::StartContainerRequest* request,
                                            v1::StartContainerResponse*) {
  if (request->container_id().empty()) return MissingId("container_id");
  return ToGrpc(runtime_->StartContainer(request->container_id()));
}

grpc::Status RuntimeService::StopContainer(grpc::ServerContext* context,
                                           const v1::StopContainerRequest* request,
                                           v1::StopContainerResponse*) {
  if (request->container_id().empty()) return MissingId("container_id");
  // The wait for the guest ends when the client gives up: cancelled, or its
  // deadline passed (gRPC's "no deadline" is far in the future).
  auto client_gone = [context] {
    return context->IsCancelled() || std::chrono::system_clock::now() > context->deadline();
  };
  absl::Status stopped =
      runtime_->StopContainer(request->container_id(), request->timeout(), client_gone);
  // The guest's last words reach the CRI log before StopContainer returns.
  if (stopped.ok()) logs_->SyncContainer(request->container_id()).IgnoreError();
  return ToGrpc(stopped);
}

grpc::Status RuntimeService::RemoveContainer(grpc::ServerContext*,
                                             const v1::RemoveContainerRequest* request,
                                             v1::RemoveContainerResponse*) {
  if (request->container_id().empty()) return MissingId("container_id");
  return ToGrpc(runtime_->RemoveContainer(request->container_id()));
}

grpc::Status RuntimeService::ContainerStatus(grpc::ServerContext*,
                                             const v1::ContainerStatusRequest* request,
                                             v1::ContainerStatusResponse* response) {
  if (request->container_id().empty()) return MissingId("container_id");
  absl::StatusOr<ContainerRecord> container = runtime_->ContainerStatus(request->container_id());
  if (!container.ok()) return ToGrpc(container.status());
  *response->mutable_status() = ToCriStatus(*container);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListContainers(grpc::ServerContext*,
                                            const v1::ListContainersRequest* request,
                                            v1::ListContainersResponse* response) {
  absl::StatusOr<std::vector<ContainerRecord>> containers =
      runtime_->ListContainers(FromCri(request->filter()));
  if (!containers.ok()) return ToGrpc(containers.status());
  for (const ContainerRecord& c : *containers) *response->add_containers() = ToCriItem(c);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::UpdateContainerResources(
    grpc::ServerContext*, const v1::UpdateContainerResourcesRequest* request,
    v1::UpdateContainerResourcesResponse*) {
  if (request->container_id().empty()) return MissingId("container_id");
  if (!request->has_linux()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "linux resources are missing");
  }
  if (absl::Status s = CheckResources(request->linux(), "linux"); !s.ok()) return ToGrpc(s);
  return ToGrpc(
      runtime_->UpdateContainerResources(request->container_id(), FromCri(request->linux())));
}

grpc::Status RuntimeService::UpdateRuntimeConfig(grpc::ServerContext*,
                                                 const v1::UpdateRuntimeConfigRequest*,
                                                 v1::UpdateRuntimeConfigResponse*) {
  // The pod CIDR belongs to the CNI configuration (host-local ranges), as
  // with containerd's default CNI setup; accept it.
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ReopenContainerLog(grpc::ServerContext*,
                                                const v1::ReopenContainerLogRequest* request,
                                                v1::ReopenContainerLogResponse*) {
  if (request->container_id().empty()) return MissingId("container_id");
  return ToGrpc(logs_->Reopen(request->container_id()));
}
grpc::Status RuntimeService::ExecSync(grpc::ServerContext* context,
                                      const v1::ExecSyncRequest* request,
                                      v1::ExecSyncResponse* response) {
  if (request->container_id().empty()) return MissingId("container_id");
  if (absl::Status s = CheckExecSyncRequest(*request); !s.ok()) return ToGrpc(s);
  auto client_gone = [context] {
    return context->IsCancelled() || std::chrono::system_clock::now() > context->deadline();
  };
  // A command that outlives request->timeout() is DEADLINE_EXCEEDED, which
  // kubelet's ExecSync turns into a timed-out probe (remote_runtime.go).
  absl::StatusOr<guest::ExecResult> result =
      runtime_->ExecSync(request->container_id(), {request->cmd().begin(), request->cmd().end()},
                         request->timeout(), client_gone);
  if (!result.ok()) return ToGrpc(result.status());
  response->set_stdout(std::move(result->stdout_bytes));
  response->set_stderr(std::move(result->stderr_bytes));
  response->set_exit_code(result->exit_code);
  return grpc::Status::OK;
}
grpc::Status RuntimeService::Exec(grpc::ServerContext*, const v1::ExecRequest*, v1::ExecResponse*) {
  return NotYet("Exec");
}
grpc::Status RuntimeService::Attach(grpc::ServerContext*, const v1::AttachRequest*,
                                    v1::AttachResponse*) {
  return NotYet("Attach");
}
grpc::Status RuntimeService::PortForward(grpc::ServerContext*, const v1::PortForwardRequest*,
                                         v1::PortForwardResponse*) {
  return NotYet("PortForward");
}

grpc::Status RuntimeService::ContainerStats(grpc::ServerContext*,
                                            const v1::ContainerStatsRequest* request,
                                            v1::ContainerStatsResponse* response) {
  if (request->container_id().empty()) return MissingId("container_id");
  absl::StatusOr<ContainerStatsRecord> stats = stats_->ContainerStats(request->container_id());
  if (!stats.ok()) return ToGrpc(stats.status());
  *response->mutable_stats() = ToCri(*stats);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListContainerStats(grpc::ServerContext*,
                                                const v1::ListContainerStatsRequest* request,
                                                v1::ListContainerStatsResponse* response) {
  absl::StatusOr<std::vector<ContainerStatsRecord>> stats =
      stats_->ListContainerStats(FromCri(request->filter()));
  if (!stats.ok()) return ToGrpc(stats.status());
  for (const ContainerStatsRecord& s : *stats) *response->add_stats() = ToCri(s);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::PodSandboxStats(grpc::ServerContext*,
                                             const v1::PodSandboxStatsRequest* request,
                                             v1::PodSandboxStatsResponse* response) {
  if (request->pod_sandbox_id().empty()) return MissingId("pod_sandbox_id");
  absl::StatusOr<PodStatsRecord> stats = stats_->PodStats(request->pod_sandbox_id());
  if (!stats.ok()) return ToGrpc(stats.status());
  *response->mutable_stats() = ToCri(*stats);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandboxStats(grpc::ServerContext*,
                                                 const v1::ListPodSandboxStatsRequest* request,
                                                 v1::ListPodSandboxStatsResponse* response) {
  absl::StatusOr<std::vector<PodStatsRecord>> stats =
      stats_->ListPodStats(FromCri(request->filter()));
  if (!stats.ok()) return ToGrpc(stats.status());
  for (const PodStatsRecord& s : *stats) *response->add_stats() = ToCri(s);
  return grpc::Status::OK;
}

}  // namespace vmmap
