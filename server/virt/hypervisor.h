// The only door from the CRI server to the hypervisor.
//
// Everything vmmap asks of libvirt goes through Hypervisor, so the server
// never includes <libvirt/libvirt.h> and the call surface stays small enough
// to audit (and to count: see calls()). Domains are addressed by name; vmmap
// derives names from pod ids, and libvirt guarantees names are unique per
// connection.
//
// Thread safety: every method may be called concurrently from any thread.
//
// Errors: libvirt failures are translated by StatusFromVirError
// (vir_error.h): NotFound for an unknown domain, FailedPrecondition for an
// operation invalid in the current state, InvalidArgument for bad XML or
// parameters, Unavailable when the daemon cannot be reached. Messages name the
// operation and the domain.

#ifndef VMMAP_SERVER_VIRT_HYPERVISOR_H_
#define VMMAP_SERVER_VIRT_HYPERVISOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vmmap::virt {

// The namespace vmmap uses for its <metadata> element in domain XML. Only
// domains carrying an element in this namespace belong to vmmap; the server
// must never start, stop or undefine any other domain on the host.
inline constexpr std::string_view kPodMetadataNamespace = "https://vmmap.io/xmlns/pod/1";

// Coarse power state. Everything that is neither clearly running, paused,
// off nor crashed (no state, blocked, shutting down, pmsuspended) is kOther;
// DomainStatus::raw_state keeps libvirt's exact value for diagnostics.
enum class PowerState { kRunning, kPaused, kShutoff, kCrashed, kOther };

std::string_view PowerStateName(PowerState state);

struct DomainStatus {
  PowerState state = PowerState::kOther;
  // libvirt's per-state reason (virDomainRunningReason, virDomainShutoffReason,
  // ...); its meaning depends on raw_state.
  int reason = 0;
  // libvirt's virDomainState value.
  int raw_state = 0;
  // libvirt had not finished starting the domain (paused, reason "starting
  // up"): the virDomainCreate that started it had not returned. Never a
  // started domain: when libvirt reconnects to such a domain after its own
  // process died (the embedded driver dies with vmmap), it kills it
  // ("wasn't fully started yet, killing it", qemuProcessReconnect).
  bool starting_up = false;
};

struct DomainId {
  std::string name;
  std::string uuid;  // canonical 36-character form
};

struct DomainInfo {
  std::string name;
  std::string uuid;
  DomainStatus status;
  // The metadata element asked for, serialised by libvirt; empty when the
  // domain has none in that namespace (or when metadata was not requested).
  // Note: libvirt returns the element without its namespace prefix or xmlns
  // declaration, e.g. <pod uid="..."/>.
  std::string metadata;
};

// CPU bandwidth knobs of <cputune>. Unset fields are neither sent nor
// changed; on read, unset means the hypervisor did not report the value.
// Periods are in microseconds; a negative quota means "no limit".
struct CpuTuneUpdate {
  std::optional<uint64_t> shares;
  std::optional<uint64_t> period;
  std::optional<int64_t> quota;
  std::optional<uint64_t> global_period;
  std::optional<int64_t> global_quota;
  std::optional<uint64_t> emulator_period;
  std::optional<int64_t> emulator_quota;

  bool empty() const {
    return !shares && !period && !quota && !global_period && !global_quota && !emulator_period &&
           !emulator_quota;
  }
  friend bool operator==(const CpuTuneUpdate& a, const CpuTuneUpdate& b) {
    return a.shares == b.shares && a.period == b.period && a.quota == b.quota &&
           a.global_period == b.global_period && a.global_quota == b.global_quota &&
           a.emulator_period == b.emulator_period && a.emulator_quota == b.emulator_quota;
  }
};

// One libvirt typed parameter. libvirt's int/llong widen to int64_t and
// uint/ullong to uint64_t; booleans stay bool so they are not mistaken for
// counters.
using TypedValue = std::variant<int64_t, uint64_t, double, bool, std::string>;

// Stats of one domain as libvirt reports them, keys verbatim
// ("state.state", "cpu.time", "balloon.rss", "net.0.rx.bytes", ...).
struct DomainStats {
  std::string name;
  std::map<std::string, TypedValue> params;
};

// Stat groups for GetAllDomainStats; values equal libvirt's
// virDomainStatsTypes (checked at compile time in libvirt_hypervisor.cc).
// 0 asks for every group the hypervisor supports.
enum StatsGroup : unsigned {
  kStatsState = 1u << 0,
  kStatsCpuTotal = 1u << 1,
  kStatsBalloon = 1u << 2,
  kStatsVcpu = 1u << 3,
  kStatsInterface = 1u << 4,
  kStatsBlock = 1u << 5,
  kStatsPerf = 1u << 6,
  kStatsIoThread = 1u << 7,
  kStatsMemory = 1u << 8,
  kStatsDirtyRate = 1u << 9,
};

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;

  // Defines (or redefines, when the name/uuid exists) a persistent domain.
  // The XML is validated against libvirt's RNG schema first, so misspelt
  // elements are rejected instead of silently dropped.
  virtual absl::StatusOr<DomainId> DefineDomain(std::string_view xml) = 0;

  // Boots a defined, shut-off domain. FailedPrecondition if already running.
  virtual absl::Status StartDomain(std::string_view name) = 0;

  // Asks the guest to power off (ACPI power button) and returns without
  // waiting; poll DomainState or fall back to DestroyDomain after a grace
  // period.
  virtual absl::Status ShutdownDomain(std::string_view name) = 0;

  // Stops the domain immediately (power cord pulled). FailedPrecondition if
  // it is not running.
  virtual absl::Status DestroyDomain(std::string_view name) = 0;

  // Removes the persistent definition together with managed-save images,
  // snapshot/checkpoint metadata and NVRAM, as far as the driver supports
  // those flags. A running domain becomes transient and disappears once it
  // stops.
  virtual absl::Status UndefineDomain(std::string_view name) = 0;

  virtual absl::StatusOr<DomainStatus> DomainState(std::string_view name) = 0;

  // The live XML when running, the persistent XML otherwise.
  virtual absl::StatusOr<std::string> DomainXml(std::string_view name) = 0;

  // All domains on the connection (vmmap's and everybody else's) with their
  // state; DomainInfo::metadata is left empty.
  virtual absl::StatusOr<std::vector<DomainInfo>> ListDomains() = 0;

  // Like ListDomains, plus each domain's metadata element in ns_uri (empty
  // when absent). This is how the server tells its own domains apart.
  // Domains that vanish while the list is being built are skipped.
  virtual absl::StatusOr<std::vector<DomainInfo>> ListDomainsWithMetadata(
      std::string_view ns_uri) = 0;

  // The metadata element in ns_uri, or empty when the domain has none.
  virtual absl::StatusOr<std::string> DomainMetadata(std::string_view name,
                                                     std::string_view ns_uri) = 0;

  // Applies the set fields of `update` to the persistent config and, when
  // `live` is true and the domain is running, to the running domain too.
  virtual absl::Status SetSchedulerParameters(std::string_view name, const CpuTuneUpdate& update,
                                              bool live) = 0;

  // Current values (live when running, persistent otherwise). Parameters the
  // hypervisor does not report stay unset.
  virtual absl::StatusOr<CpuTuneUpdate> GetSchedulerParameters(std::string_view name) = 0;

  // Sets <memtune><hard_limit> in KiB, live too when the domain is running.
  virtual absl::Status SetMemoryHardLimit(std::string_view name, uint64_t kib) = 0;

  // Bulk stats. With no `names`, one call returns every domain on the
  // connection. With `names`, a fixed number of calls (independent of how
  // many) returns the listed domains that exist; unknown names are omitted,
  // not errors. `groups` is a mask of StatsGroup (0 = all supported).
  virtual absl::StatusOr<std::vector<DomainStats>> GetAllDomainStats(
      const std::optional<std::vector<std::string>>& names, unsigned groups) = 0;

  // Sends one QGA command (JSON text) to the guest agent of a running domain
  // through libvirt (virDomainQemuAgentCommand: libvirt owns the agent
  // socket and serialises commands on it) and returns the agent's reply,
  // waiting at most `timeout_seconds` (≥ 1) for it. Codes:
  // FailedPrecondition when the domain has no agent channel, its guest has
  // not opened the channel (no agent runs), or the agent refused the command
  // (disabled by its allow-list, unknown command); DeadlineExceeded when the
  // agent did not answer in time; NotFound for an unknown domain. The base
  // implementation has no agents (Unimplemented).
  virtual absl::StatusOr<std::string> AgentCommand(std::string_view name,
                                                   std::string_view command_json,
                                                   int timeout_seconds);

  // Verifies the daemon answers, reconnecting first if the connection is
  // dead. Unavailable if the daemon cannot be reached.
  virtual absl::Status Ping() = 0;

  // Number of hypervisor API calls issued so far (monotonic), so benchmarks
  // can report calls per CRI request.
  virtual uint64_t calls() const = 0;
};

}  // namespace vmmap::virt

#endif  // VMMAP_SERVER_VIRT_HYPERVISOR_H_
