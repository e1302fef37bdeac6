#include "server/virt/libvirt_hypervisor.h"

#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <signal.h>

#include <cstdlib>
#include <mutex>
#include <thread>
#include <set>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/virt/sv.h"
#include "server/virt/typed_params.h"
#include "server/virt/vir_error.h"

namespace vmmap::virt {

static_assert(unsigned{kStatsState} == unsigned{VIR_DOMAIN_STATS_STATE});
static_assert(unsigned{kStatsCpuTotal} == unsigned{VIR_DOMAIN_STATS_CPU_TOTAL});
static_assert(unsigned{kStatsBalloon} == unsigned{VIR_DOMAIN_STATS_BALLOON});
static_assert(unsigned{kStatsVcpu} == unsigned{VIR_DOMAIN_STATS_VCPU});
static_assert(unsigned{kStatsInterface} == unsigned{VIR_DOMAIN_STATS_INTERFACE});
static_assert(unsigned{kStatsBlock} == unsigned{VIR_DOMAIN_STATS_BLOCK});
static_assert(unsigned{kStatsPerf} == unsigned{VIR_DOMAIN_STATS_PERF});
static_assert(unsigned{kStatsIoThread} == unsigned{VIR_DOMAIN_STATS_IOTHREAD});
static_assert(unsigned{kStatsMemory} == unsigned{VIR_DOMAIN_STATS_MEMORY});
static_assert(unsigned{kStatsDirtyRate} == unsigned{VIR_DOMAIN_STATS_DIRTYRATE});

// Owns one virConnectPtr; closing it is the only teardown needed.
class LibvirtHypervisor::Connection {
 public:
  explicit Connection(virConnectPtr conn) : conn_(conn) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { virConnectClose(conn_); }

  virConnectPtr get() const { return conn_; }

 private:
  const virConnectPtr conn_;  // never null
};

namespace {

using Connection = LibvirtHypervisor::Connection;

struct DomainFree {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
using DomainHandle = std::unique_ptr<std::remove_pointer_t<virDomainPtr>, DomainFree>;

// Frees a record list from virConnectGetAllDomainStats/virDomainListGetStats.
struct StatsRecordsFree {
  void operator()(virDomainStatsRecordPtr* r) const { virDomainStatsRecordListFree(r); }
};
using StatsRecords = std::unique_ptr<virDomainStatsRecordPtr, StatsRecordsFree>;

// Frees a virConnectListAllDomains result and every domain in it.
class DomainList {
 public:
  DomainList() = default;
  DomainList(const DomainList&) = delete;
  DomainList& operator=(const DomainList&) = delete;
  ~DomainList() {
    for (int i = 0; i < n_; ++i) virDomainFree(doms_[i]);
    free(doms_);
  }
  virDomainPtr** out() { return &doms_; }
  void set_size(int n) { n_ = n; }
  virDomainPtr operator[](int i) const { return doms_[i]; }
  int size() const { return n_; }

 private:
  virDomainPtr* doms_ = nullptr;
  int n_ = 0;
};

void InitLibvirtOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Required before concurrent use of libvirt from several threads.
    virInitialize();
    SilenceLibvirtErrorPrinting();
    // The remote driver writes to the daemon's socket with plain write(2);
    // after a libvirtd restart the first write hits EPIPE, and the default
    // SIGPIPE disposition would kill the whole runtime instead of letting
    // us reconnect. Only the default is replaced; a handler installed by the
    // embedding program is left alone.
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      signal(SIGPIPE, SIG_IGN);
    }
    // qemu:///embed runs the QEMU driver in this process and needs an event
    // loop thread (QEMU monitor I/O, process reaping); for remote URIs it
    // also gives keepalive. Registered before any connection is opened.
    if (virEventRegisterDefaultImpl() == 0) {
      std::thread([] {
        for (;;) virEventRunDefaultImpl();
      }).detach();
    }
  });
}

std::string Op(std::string_view verb, std::string_view name) {
  return absl::StrCat(ToAbsl(verb), " domain \"", ToAbsl(name), "\"");
}

// Best-effort domain name for error messages only: the first <name> element,
// which in libvirt domain XML is the domain's own (a direct child of
// <domain> that libvirt's formatter always emits first).
std::string NameForMessage(std::string_view xml) {
  size_t begin = xml.find("<name>");
  if (begin == std::string_view::npos) return "";
  begin += 6;
  size_t end = xml.find("</name>", begin);
  if (end == std::string_view::npos || end - begin > 256) return "";
  return std::string(xml.substr(begin, end - begin));
}

PowerState ToPowerState(int state) {
  switch (state) {
    case VIR_DOMAIN_RUNNING:
      return PowerState::kRunning;
    case VIR_DOMAIN_PAUSED:
      return PowerState::kPaused;
    case VIR_DOMAIN_SHUTOFF:
      return PowerState::kShutoff;
    case VIR_DOMAIN_CRASHED:
      return PowerState::kCrashed;
    default:
      return PowerState::kOther;
  }
}

DomainStatus ToDomainStatus(int state, int reason) {
  return DomainStatus{ToPowerState(state), reason, state,
                      state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_STARTING_UP};
}

std::string UuidOf(virDomainPtr dom) {
  char buf[VIR_UUID_STRING_BUFLEN] = {0};
  if (virDomainGetUUIDString(dom, buf) < 0) return "";
  return buf;
}

// Name, uuid and state from a stats record fetched with VIR_DOMAIN_STATS_STATE.
DomainInfo InfoFromStateRecord(const virDomainStatsRecord& rec) {
  DomainInfo info;
  const char* name = virDomainGetName(rec.dom);
  info.name = name ? name : "";
  info.uuid = UuidOf(rec.dom);
  int state = 0, reason = 0;
  virTypedParamsGetInt(rec.params, rec.nparams, "state.state", &state);
  virTypedParamsGetInt(rec.params, rec.nparams, "state.reason", &reason);
  info.status = ToDomainStatus(state, reason);
  return info;
}

absl::StatusOr<std::shared_ptr<Connection>> OpenConnection(const std::string& uri) {
  virConnectPtr conn = virConnectOpen(uri.c_str());
  if (conn == nullptr) {
    absl::Status s = LastVirErrorStatus(absl::StrCat("connect to libvirt at \"", uri, "\""));
    // Whatever libvirt's code, failing to open means "no hypervisor here
    // right now", except when the daemon positively refused us.
    if (s.code() == absl::StatusCode::kInternal) {
      absl::Status u = absl::UnavailableError(s.message());
      if (auto p = s.GetPayload(ToAbsl(kVirErrorCodePayload))) {
        u.SetPayload(ToAbsl(kVirErrorCodePayload), *p);
      }
      return u;
    }
    return s;
  }
  return std::make_shared<Connection>(conn);
}

}  // namespace

absl::StatusOr<std::unique_ptr<LibvirtHypervisor>> LibvirtHypervisor::Open(std::string uri) {
  InitLibvirtOnce();
  absl::StatusOr<std::shared_ptr<Connection>> conn = OpenConnection(uri);
  if (!conn.ok()) return conn.status();
  std::unique_ptr<LibvirtHypervisor> h(new LibvirtHypervisor(std::move(uri), *std::move(conn)));
  h->Tick();  // the virConnectOpen above
  return h;
}

LibvirtHypervisor::LibvirtHypervisor(std::string uri, std::shared_ptr<Connection> conn)
    : uri_(std::move(uri)), conn_(std::move(conn)) {}

LibvirtHypervisor::~LibvirtHypervisor() = default;

std::shared_ptr<Connection> LibvirtHypervisor::Current() const {
  absl::MutexLock lock(&mu_);
  return conn_;
}

absl::StatusOr<std::shared_ptr<Connection>> LibvirtHypervisor::Reconnect(
    const std::shared_ptr<Connection>& failed) {
  // Held across virConnectOpen on purpose: callers arriving meanwhile would
  // only fail on the dead connection, so they wait for the new one instead.
  absl::MutexLock lock(&mu_);
  if (conn_ != failed) return conn_;  // another thread already reconnected
  Tick();
  absl::StatusOr<std::shared_ptr<Connection>> fresh = OpenConnection(uri_);
  if (!fresh.ok()) return fresh.status();  // keep the old one; retry later
  conn_ = *fresh;
  reconnects_.fetch_add(1, std::memory_order_relaxed);
  return conn_;
}

absl::Status LibvirtHypervisor::Run(absl::FunctionRef<absl::Status(Connection&)> fn) {
  std::shared_ptr<Connection> conn = Current();
  absl::Status status = fn(*conn);
  if (status.ok()) return status;

  bool lost = IsConnectionLoss(status);
  if (!lost) {
    // VIR_ERR_SYSTEM_ERROR/INTERNAL_ERROR/NO_CONNECT may or may not mean the
    // socket died; ask the connection rather than guess from the text.
    std::optional<int> code = VirErrorCode(status);
    if (code == VIR_ERR_SYSTEM_ERROR || code == VIR_ERR_INTERNAL_ERROR ||
        code == VIR_ERR_NO_CONNECT) {
      Tick();
      lost = virConnectIsAlive(conn->get()) != 1;
    }
  }
  if (!lost) return status;

  absl::StatusOr<std::shared_ptr<Connection>> fresh = Reconnect(conn);
  if (!fresh.ok()) {
    return absl::UnavailableError(absl::StrCat(status.message(), "; reconnecting to \"", uri_,
                                               "\" failed: ", fresh.status().message()));
  }
  return fn(**fresh);
}

namespace {

// Looks up `name`, counting the call. `op` names the caller's operation so
// a NotFound reads e.g. `start domain "x": Domain not found: ...`.
absl::StatusOr<DomainHandle> Lookup(Connection& c, std::string_view name, const std::string& op,
                                    std::atomic<uint64_t>& calls) {
  calls.fetch_add(1, std::memory_order_relaxed);
  virDomainPtr dom = virDomainLookupByName(c.get(), std::string(name).c_str());
  if (dom == nullptr) return LastVirErrorStatus(op);
  return DomainHandle(dom);
}

}  // namespace

#define VMMAP_LOOKUP_OR_RETURN(var, conn, name, op)                       \
  absl::StatusOr<DomainHandle> var##_or = Lookup(conn, name, op, calls_); \
  if (!var##_or.ok()) return var##_or.status();                           \
  DomainHandle var = *std::move(var##_or)

absl::StatusOr<DomainId> LibvirtHypervisor::DefineDomain(std::string_view xml) {
  const std::string xml_str(xml);
  const std::string name = NameForMessage(xml);
  const std::string op = name.empty() ? "define domain" : Op("define", name);
  DomainId id;
  absl::Status s = Run([&](Connection& c) -> absl::Status {
    Tick();
    DomainHandle dom(virDomainDefineXMLFlags(c.get(), xml_str.c_str(), VIR_DOMAIN_DEFINE_VALIDATE));
    if (dom == nullptr) return LastVirErrorStatus(op);
    const char* n = virDomainGetName(dom.get());
    id.name = n ? n : "";
    id.uuid = UuidOf(dom.get());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return id;
}

absl::Status LibvirtHypervisor::StartDomain(std::string_view name) {
  const std::string op = Op("start", name);
  return Run([&](Connection& c) -> absl::Status {
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    Tick();
    if (virDomainCreate(dom.get()) < 0) return LastVirErrorStatus(op);
    return absl::OkStatus();
  });
}

absl::Status LibvirtHypervisor::ShutdownDomain(std::string_view name) {
  const std::string op = Op("shut down", name);
  return Run([&](Connection& c) -> absl::Status {
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    Tick();
    if (virDomainShutdownFlags(dom.get(), VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) == 0) {
      return absl::OkStatus();
    }
    absl::Status s = LastVirErrorStatus(op);
    if (!IsUnsupportedFlags(s)) return s;
    // Drivers without shutdown modes (e.g. test) have one way to do it.
    Tick();
    if (virDomainShutdown(dom.get()) < 0) return LastVirErrorStatus(op);
    return absl::OkStatus();
  });
}

absl::Status LibvirtHypervisor::DestroyDomain(std::string_view name) {
  const std::string op = Op("destroy", name);
  return Run([&](Connection& c) -> absl::Status {
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    Tick();
    if (virDomainDestroy(dom.get()) < 0) return LastVirErrorStatus(op);
    return absl::OkStatus();
  });
}

absl::Status LibvirtHypervisor::UndefineDomain(std::string_view name) {
  const std::string op = Op("undefine", name);
  // Most thorough first. Drivers reject flags they do not implement (the
  // test driver knows only MANAGED_SAVE|SNAPSHOTS_METADATA), so fall back
  // step by step; each step removes as much as the driver can.
  constexpr unsigned kPartial =
      VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
  constexpr unsigned kFull = kPartial | VIR_DOMAIN_UNDEFINE_NVRAM |
                             VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
#if LIBVIR_CHECK_VERSION(8, 9, 0)
                             | VIR_DOMAIN_UNDEFINE_TPM
#endif
      ;
  return Run([&](Connection& c) -> absl::Status {
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    absl::Status s;
    for (unsigned flags : {kFull, kPartial, 0u}) {
      Tick();
      if (virDomainUndefineFlags(dom.get(), flags) == 0) {
        return absl::OkStatus();
      }
      s = LastVirErrorStatus(op);
      if (!IsUnsupportedFlags(s)) return s;
    }
    return s;
  });
}

absl::StatusOr<DomainStatus> LibvirtHypervisor::DomainState(std::string_view name) {
  const std::string op = Op("get state of", name);
  DomainStatus out;
  absl::Status s = Run([&](Connection& c) -> absl::Status {
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    int state = 0, reason = 0;
    Tick();
    if (virDomainGetState(dom.get(), &state, &reason, 0) < 0) {
      return LastVirErrorStatus(op);
    }
    out = ToDomainStatus(state, reason);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> LibvirtHypervisor::DomainXml(std::string_view name) {
  const std::string op = Op("get XML of", name);
  std::string out;
  absl::Status s = Run([&](Connection& c) -> absl::Status {
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    Tick();
    char* xml = virDomainGetXMLDesc(dom.get(), 0);
    if (xml == nullptr) return LastVirErrorStatus(op);
    out = xml;
    free(xml);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<DomainInfo>> LibvirtHypervisor::ListDomains() {
  std::vector<DomainInfo> out;
  absl::Status s = Run([&](Connection& c) -> absl::Status {
    out.clear();
    virDomainStatsRecordPtr* raw = nullptr;
    // One call yields names, uuids and states of every domain.
    Tick();
    int n = virConnectGetAllDomainStats(c.get(), VIR_DOMAIN_STATS_STATE, &raw, 0);
    if (n < 0) return LastVirErrorStatus("list domains");
    StatsRecords records(raw);
    for (int i = 0; i < n; ++i) out.push_back(InfoFromStateRecord(*raw[i]));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<DomainInfo>> LibvirtHypervisor::ListDomainsWithMetadata(
    std::string_view ns_uri) {
  const std::string ns(ns_uri);
  std::vector<DomainInfo> out;
  absl::Status s = Run([&](Connection& c) -> absl::Status {
    out.clear();
    virDomainStatsRecordPtr* raw = nullptr;
    Tick();
    int n = virConnectGetAllDomainStats(c.get(), VIR_DOMAIN_STATS_STATE, &raw, 0);
    if (n < 0) {
      return LastVirErrorStatus(absl::StrCat("list domains with metadata \"", ns, "\""));
    }
    StatsRecords records(raw);
    for (int i = 0; i < n; ++i) {
      DomainInfo info = InfoFromStateRecord(*raw[i]);
      Tick();
      char* md = virDomainGetMetadata(raw[i]->dom, VIR_DOMAIN_METADATA_ELEMENT, ns.c_str(),
                                      VIR_DOMAIN_AFFECT_CURRENT);
      if (md != nullptr) {
        info.metadata = md;
        free(md);
      } else {
        absl::Status e =
            LastVirErrorStatus(Op(absl::StrCat("get metadata \"", ns, "\" of"), info.name));
        if (VirErrorCode(e) == VIR_ERR_NO_DOMAIN) continue;  // undefined meanwhile
        if (VirErrorCode(e) != VIR_ERR_NO_DOMAIN_METADATA) return e;
      }
      out.push_back(std::move(info));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> LibvirtHypervisor::DomainMetadata(std::string_view name,
                                                              std::string_view ns_uri) {
  const std::string ns(ns_uri);
  const std::string op = Op(absl::StrCat("get metadata \"", ns, "\" of"), name);
  std::string out;
  absl::Status s = Run([&](Connection& c) -> absl::Status {
    out.clear();
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    Tick();
    char* md = virDomainGetMetadata(dom.get(), VIR_DOMAIN_METADATA_ELEMENT, ns.c_str(),
                                    VIR_DOMAIN_AFFECT_CURRENT);
    if (md == nullptr) {
      absl::Status e = LastVirErrorStatus(op);
      return VirErrorCode(e) == VIR_ERR_NO_DOMAIN_METADATA ? absl::OkStatus() : e;
    }
    out = md;
    free(md);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

namespace {

// Applies a tuning call to the persistent config always (so the change
// survives restarts) and, when `live` and the domain is running, to the
// running domain as well. `set(flags)` performs one libvirt call.
//
// LIVE|CONFIG is tried in one call first; drivers that insist the two are
// mutually exclusive (the test driver) get two calls instead. LIVE alone is
// never sent to a shut-off domain, which libvirt rejects.
absl::Status ApplyTuning(virDomainPtr dom, bool live, const std::string& op,
                         std::atomic<uint64_t>& calls, absl::FunctionRef<int(unsigned flags)> set) {
  unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;
  if (live) {
    calls.fetch_add(1, std::memory_order_relaxed);
    int active = virDomainIsActive(dom);
    if (active < 0) return LastVirErrorStatus(op);
    if (active == 1) flags |= VIR_DOMAIN_AFFECT_LIVE;
  }
  calls.fetch_add(1, std::memory_order_relaxed);
  if (set(flags) == 0) return absl::OkStatus();
  absl::Status s = LastVirErrorStatus(op);
  if (flags == VIR_DOMAIN_AFFECT_CONFIG || VirErrorCode(s) != VIR_ERR_INVALID_ARG ||
      !absl::StrContains(s.message(), "mutually exclusive")) {
    return s;
  }
  for (unsigned one : {VIR_DOMAIN_AFFECT_CONFIG, VIR_DOMAIN_AFFECT_LIVE}) {
    calls.fetch_add(1, std::memory_order_relaxed);
    if (set(one) < 0) return LastVirErrorStatus(op);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LibvirtHypervisor::SetSchedulerParameters(std::string_view name,
                                                       const CpuTuneUpdate& update, bool live) {
  if (update.empty()) return absl::OkStatus();
  const std::string op = Op("set scheduler parameters of", name);
  TypedParamList params;
  if (absl::Status s = CpuTuneToTypedParams(update, params); !s.ok()) {
    return absl::InternalError(absl::StrCat(op, ": ", s.message()));
  }
  return Run([&](Connection& c) -> absl::Status {
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    return ApplyTuning(dom.get(), live, op, calls_, [&](unsigned flags) {
      return virDomainSetSchedulerParametersFlags(dom.get(), params.params(), params.size(), flags);
    });
  });
}

absl::StatusOr<CpuTuneUpdate> LibvirtHypervisor::GetSchedulerParameters(std::string_view name) {
  const std::string op = Op("get scheduler parameters of", name);
  CpuTuneUpdate out;
  absl::Status s = Run([&](Connection& c) -> absl::Status {
    out = CpuTuneUpdate{};
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    // The parameter count comes from virDomainGetSchedulerType; remote
    // drivers reject a guessed, larger buffer.
    int nparams = 0;
    Tick();
    char* type = virDomainGetSchedulerType(dom.get(), &nparams);
    if (type == nullptr) return LastVirErrorStatus(op);
    free(type);
    if (nparams <= 0) return absl::OkStatus();
    std::vector<virTypedParameter> params(nparams);
    Tick();
    if (virDomainGetSchedulerParametersFlags(dom.get(), params.data(), &nparams,
                                             VIR_DOMAIN_AFFECT_CURRENT) < 0) {
      return LastVirErrorStatus(op);
    }
    out = CpuTuneFromTypedParams(params.data(), nparams);
    virTypedParamsClear(params.data(), nparams);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status LibvirtHypervisor::SetMemoryHardLimit(std::string_view name, uint64_t kib) {
  const std::string op = absl::StrCat(Op("set memory hard limit of", name), " to ", kib, " KiB");
  TypedParamList params;
  if (absl::Status s = params.AddULLong(VIR_DOMAIN_MEMORY_HARD_LIMIT, kib); !s.ok()) {
    return absl::InternalError(absl::StrCat(op, ": ", s.message()));
  }
  return Run([&](Connection& c) -> absl::Status {
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    return ApplyTuning(dom.get(), /*live=*/true, op, calls_, [&](unsigned flags) {
      return virDomainSetMemoryParameters(dom.get(), params.params(), params.size(), flags);
    });
  });
}

absl::StatusOr<std::vector<DomainStats>> LibvirtHypervisor::GetAllDomainStats(
    const std::optional<std::vector<std::string>>& names, unsigned groups) {
  if (names && names->empty()) return std::vector<DomainStats>{};
  std::vector<DomainStats> out;
  absl::Status s = Run([&](Connection& c) -> absl::Status {
    out.clear();
    virDomainStatsRecordPtr* raw = nullptr;
    int n = 0;
    DomainList all;  // keeps the selected domains referenced until the end
    if (!names) {
      Tick();
      n = virConnectGetAllDomainStats(c.get(), groups, &raw, 0);
      if (n < 0) return LastVirErrorStatus("get stats of all domains");
    } else {
      const std::string op = absl::StrCat("get stats of ", names->size(), " domains");
      // One listing instead of one lookup per name keeps the call count
      // constant however many pods are asked for.
      Tick();
      int total = virConnectListAllDomains(c.get(), all.out(), 0);
      if (total < 0) return LastVirErrorStatus(op);
      all.set_size(total);
      const std::set<std::string_view> wanted(names->begin(), names->end());
      std::vector<virDomainPtr> selected;
      for (int i = 0; i < total; ++i) {
        const char* name = virDomainGetName(all[i]);
        if (name != nullptr && wanted.count(name) > 0) {
          selected.push_back(all[i]);
        }
      }
      if (selected.empty()) return absl::OkStatus();
      selected.push_back(nullptr);  // virDomainListGetStats wants a NULL end
      Tick();
      n = virDomainListGetStats(selected.data(), groups, &raw, 0);
      if (n < 0) return LastVirErrorStatus(op);
    }
    StatsRecords records(raw);
    out.reserve(n);
    for (int i = 0; i < n; ++i) {
      const char* name = virDomainGetName(raw[i]->dom);
      out.push_back(
          DomainStats{name ? name : "", FlattenTypedParams(raw[i]->params, raw[i]->nparams)});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

namespace {

// What an agent failure means to the caller. libvirt reports a missing
// channel as ARGUMENT_UNSUPPORTED ("not configured"), a channel no guest
// process opened as AGENT_UNRESPONSIVE ("not connected"), and an error reply
// of the agent as INTERNAL_ERROR ("unable to execute QEMU agent command");
// all three are the guest's state, not a timeout or a libvirt bug, so they
// answer FailedPrecondition at once. A reply that did not come in time stays
// AGENT_UNRESPONSIVE → DeadlineExceeded.
absl::Status AgentFailure(const absl::Status& status) {
  const std::optional<int> code = VirErrorCode(status);
  const bool refused =
      (code == VIR_ERR_ARGUMENT_UNSUPPORTED &&
       absl::StrContains(status.message(), "not configured")) ||
      (code == VIR_ERR_AGENT_UNRESPONSIVE &&
       absl::StrContains(status.message(), "not connected")) ||
      (code == VIR_ERR_AGENT_UNRESPONSIVE &&
       absl::StrContains(status.message(), "due to an error")) ||
      (code == VIR_ERR_INTERNAL_ERROR &&
       absl::StrContains(status.message(), "unable to execute QEMU agent command"));
  if (!refused) return status;
  absl::Status out = absl::FailedPreconditionError(status.message());
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace

absl::StatusOr<std::string> LibvirtHypervisor::AgentCommand(std::string_view name,
                                                            std::string_view command_json,
                                                            int timeout_seconds) {
  const std::string op = Op("run a guest agent command in", name);
  const std::string command(command_json);
  std::string reply;
  absl::Status s = Run([&](Connection& c) -> absl::Status {
    VMMAP_LOOKUP_OR_RETURN(dom, c, name, op);
    Tick();
    char* raw = virDomainQemuAgentCommand(dom.get(), command.c_str(),
                                          timeout_seconds < 1 ? 1 : timeout_seconds, 0);
    if (raw == nullptr) return LastVirErrorStatus(op);
    reply = raw;
    free(raw);
    return absl::OkStatus();
  });
  if (!s.ok()) return AgentFailure(s);
  return reply;
}

absl::Status LibvirtHypervisor::Ping() {
  std::shared_ptr<Connection> conn = Current();
  Tick();
  if (virConnectIsAlive(conn->get()) != 1) {
    absl::StatusOr<std::shared_ptr<Connection>> fresh = Reconnect(conn);
    if (!fresh.ok()) return fresh.status();
  }
  const std::string op = absl::StrCat("ping libvirt at \"", uri_, "\"");
  return Run([&](Connection& c) -> absl::Status {
    unsigned long version = 0;
    Tick();
    if (virConnectGetLibVersion(c.get(), &version) < 0) {
      return LastVirErrorStatus(op);
    }
    return absl::OkStatus();
  });
}

#undef VMMAP_LOOKUP_OR_RETURN

}  // namespace vmmap::virt
