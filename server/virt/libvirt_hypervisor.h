// Hypervisor implemented on one shared libvirt connection.
//
// One virConnectPtr serves all threads (libvirt connections are thread-safe).
// If the daemon goes away (libvirtd/virtqemud restart), the first call that
// notices reopens the same URI and retries itself once; concurrent callers
// that failed on the same dead connection reuse that reconnection instead of
// opening their own.
//
// Retrying is safe because every operation is either read-only or, if it did
// take effect before the connection dropped, fails the retry cleanly (e.g.
// StartDomain -> FailedPrecondition "domain is already running").
//
// A process-wide libvirt event loop thread is started on first Open(): the
// embedded QEMU driver (qemu:///embed) cannot work without one. Open() sets SIGPIPE to SIG_IGN if
// it is still SIG_DFL, since a write to a restarted daemon's socket must be an error, not death.

#ifndef VMMAP_SERVER_VIRT_LIBVIRT_HYPERVISOR_H_
#define VMMAP_SERVER_VIRT_LIBVIRT_HYPERVISOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "server/virt/hypervisor.h"

namespace vmmap::virt {

class LibvirtHypervisor final : public Hypervisor {
 public:
  // Connects to `uri` (e.g. "qemu:///system", "test:///default").
  // Unavailable if the daemon cannot be reached.
  static absl::StatusOr<std::unique_ptr<LibvirtHypervisor>> Open(std::string uri);

  LibvirtHypervisor(const LibvirtHypervisor&) = delete;
  LibvirtHypervisor& operator=(const LibvirtHypervisor&) = delete;
  ~LibvirtHypervisor() override;

  absl::StatusOr<DomainId> DefineDomain(std::string_view xml) override;
  absl::Status StartDomain(std::string_view name) override;
  absl::Status ShutdownDomain(std::string_view name) override;
  absl::Status DestroyDomain(std::string_view name) override;
  absl::Status UndefineDomain(std::string_view name) override;
  absl::StatusOr<DomainStatus> DomainState(std::string_view name) override;
  absl::StatusOr<std::string> DomainXml(std::string_view name) override;
  absl::StatusOr<std::vector<DomainInfo>> ListDomains() override;
  absl::StatusOr<std::vector<DomainInfo>> ListDomainsWithMetadata(std::string_view ns_uri) override;
  absl::StatusOr<std::string> DomainMetadata(std::string_view name,
                                             std::string_view ns_uri) override;
  absl::Status SetSchedulerParameters(std::string_view name, const CpuTuneUpdate& update,
                                      bool live) override;
  absl::StatusOr<CpuTuneUpdate> GetSchedulerParameters(std::string_view name) override;
  absl::Status SetMemoryHardLimit(std::string_view name, uint64_t kib) override;
  absl::StatusOr<std::vector<DomainStats>> GetAllDomainStats(
      const std::optional<std::vector<std::string>>& names, unsigned groups) override;
  absl::StatusOr<std::string> AgentCommand(std::string_view name, std::string_view command_json,
                                           int timeout_seconds) override;
  absl::Status Ping() override;
  uint64_t calls() const override { return calls_.load(std::memory_order_relaxed); }

  const std::string& uri() const { return uri_; }
  // Number of times the connection was reopened after a loss.
  uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }

  // Implementation detail, public only so helpers in the .cc can name it.
  class Connection;

 private:
  LibvirtHypervisor(std::string uri, std::shared_ptr<Connection> conn);

  // Runs `fn` on the current connection; if it fails with a connection loss
  // (IsConnectionLoss), reconnects and runs it once more. `fn` must reset its
  // outputs on entry because it may run twice.
  absl::Status Run(absl::FunctionRef<absl::Status(Connection&)> fn);

  // Returns a live connection that is not `failed`: the one another thread
  // already reopened, or a freshly opened one.
  absl::StatusOr<std::shared_ptr<Connection>> Reconnect(const std::shared_ptr<Connection>& failed);

  std::shared_ptr<Connection> Current() const;

  // Counts one libvirt API call that reaches the driver. Pure client-side
  // helpers (virDomainGetName, virDomainFree, virTypedParams*) are not
  // counted.
  void Tick() { calls_.fetch_add(1, std::memory_order_relaxed); }

  const std::string uri_;
  mutable absl::Mutex mu_;
  // Never null. Replaced (not mutated) on reconnect; in-flight calls keep the
  // old one alive through their shared_ptr copies.
  std::shared_ptr<Connection> conn_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> reconnects_{0};
};

}  // namespace vmmap::virt

#endif  // VMMAP_SERVER_VIRT_LIBVIRT_HYPERVISOR_H_
