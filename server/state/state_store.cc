#include "server/state/state_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/state/field_codec.h"
#include "server/state/schema.h"
#include "server/state/statement.h"

namespace vmmap {
namespace {

using state_internal::DecodeStringMap;
using state_internal::DecodeStrings;
using state_internal::EncodeStringMap;
using state_internal::EncodeStrings;
using state_internal::SqliteStatus;
using state_internal::Statement;

// "INSERT … ON CONFLICT(id) DO UPDATE": never INSERT OR REPLACE, whose delete
// would cascade from a sandbox to its containers.
std::string UpsertSql(const char* table, const std::vector<std::string>& columns) {
  std::vector<std::string> params, updates;
  for (size_t i = 0; i < columns.size(); ++i) {
    params.push_back(absl::StrCat("?", i + 1));
    if (columns[i] != "id") updates.push_back(absl::StrCat(columns[i], " = excluded.", columns[i]));
  }
  return absl::StrCat("INSERT INTO ", table, " (", absl::StrJoin(columns, ", "), ") VALUES (",
                      absl::StrJoin(params, ", "), ") ON CONFLICT(id) DO UPDATE SET ",
                      absl::StrJoin(updates, ", "));
}

std::string SelectSql(const char* table, const std::vector<std::string>& columns,
                      const char* tail) {
  return absl::StrCat("SELECT ", absl::StrJoin(columns, ", "), " FROM ", table, " ", tail);
}

void BindResources(Statement& st, const LinuxResources& r) {
  st.Bind(r.cpu_period_us);
  st.Bind(r.cpu_quota_us);
  st.Bind(r.cpu_shares);
  st.Bind(r.memory_limit_bytes);
  st.Bind(r.cpuset_cpus);
}

LinuxResources ReadResources(Statement& st) {
  LinuxResources r;
  r.cpu_period_us = st.Int();
  r.cpu_quota_us = st.Int();
  r.cpu_shares = st.Int();
  r.memory_limit_bytes = st.Int();
  r.cpuset_cpus = st.Text();
  return r;
}

// Decodes the columns of one row, remembering the first failure so that the
// error names the row and the column.
class RowDecoder {
 public:
  RowDecoder(const char* table, std::string id) : table_(table), id_(std::move(id)) {}

  StringMap Map(const char* column, const std::string& bytes) {
    absl::StatusOr<StringMap> map = DecodeStringMap(bytes);
    if (!map.ok()) Fail(column, map.status().message());
    return map.ok() ? *std::move(map) : StringMap();
  }
  std::vector<std::string> List(const char* column, const std::string& bytes) {
    absl::StatusOr<std::vector<std::string>> list = DecodeStrings(bytes);
    if (!list.ok()) Fail(column, list.status().message());
    return list.ok() ? *std::move(list) : std::vector<std::string>();
  }
  // Port mappings are stored flat: protocol, container port, host port,
  // host IP, for each mapping.
  std::vector<PortMapping> Ports(const char* column, const std::string& bytes) {
    std::vector<std::string> flat = List(column, bytes);
    std::vector<PortMapping> out;
    if (flat.size() % 4 != 0) {
      Fail(column, absl::StrCat(flat.size(), " items, not a multiple of 4"));
      return out;
    }
    for (size_t i = 0; i < flat.size(); i += 4) {
      PortMapping p;
      p.protocol = flat[i];
      p.host_ip = flat[i + 3];
      if (!absl::SimpleAtoi(flat[i + 1], &p.container_port) ||
          !absl::SimpleAtoi(flat[i + 2], &p.host_port)) {
        Fail(column,
             absl::StrCat("port \"", flat[i + 1], "\"/\"", flat[i + 2], "\" is not a number"));
        return {};
      }
      out.push_back(std::move(p));
    }
    return out;
  }
  std::vector<VolumeMount> Mounts(const char* column, const std::string& bytes) {
    std::vector<std::string> flat = List(column, bytes);
    std::vector<VolumeMount> out;
    if (flat.size() % 5 != 0) {
      Fail(column, absl::StrCat(flat.size(), " items, not a multiple of 5"));
      return out;
    }
    for (size_t i = 0; i < flat.size(); i += 5) {
      VolumeMount m;
      m.container_path = flat[i];
      m.host_path = flat[i + 1];
      m.read_only = flat[i + 2] == "1";
      m.selinux_relabel = flat[i + 3] == "1";
      int propagation = 0;
      if (!absl::SimpleAtoi(flat[i + 4], &propagation) || propagation < 0 || propagation > 2) {
        Fail(column, absl::StrCat("propagation \"", flat[i + 4], "\" is not 0, 1 or 2"));
        return {};
      }
      m.propagation = static_cast<MountPropagation>(propagation);
      out.push_back(std::move(m));
    }
    return out;
  }
  int64_t Ranged(const char* column, int64_t value, int64_t min, int64_t max) {
    if (value < min || value > max) {
      Fail(column, absl::StrCat(value, " is outside [", min, ", ", max, "]"));
    }
    return value;
  }
  absl::Status status() const { return status_; }

 private:
  void Fail(const char* column, absl::string_view why) {
    if (!status_.ok()) return;
    status_ = absl::DataLossError(absl::StrCat("state store: ", table_, " row ", id_, ": column ",
                                               column, " does not decode: ", why));
  }
  const char* table_;
  std::string id_;
  absl::Status status_;
};

constexpr int64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();

// Mounts are stored flat: container path, host path, read-only, SELinux
// relabel, propagation, for each mount.
std::string EncodeMounts(const std::vector<VolumeMount>& mounts) {
  std::vector<std::string> flat;
  for (const VolumeMount& m : mounts) {
    flat.push_back(m.container_path);
    flat.push_back(m.host_path);
    flat.push_back(m.read_only ? "1" : "0");
    flat.push_back(m.selinux_relabel ? "1" : "0");
    flat.push_back(absl::StrCat(static_cast<int>(m.propagation)));
  }
  return EncodeStrings(flat);
}

std::string EncodePorts(const std::vector<PortMapping>& ports) {
  std::vector<std::string> flat;
  for (const PortMapping& p : ports) {
    flat.push_back(p.protocol);
    flat.push_back(absl::StrCat(p.container_port));
    flat.push_back(absl::StrCat(p.host_port));
    flat.push_back(p.host_ip);
  }
  return EncodeStrings(flat);
}

absl::StatusOr<SandboxRecord> ReadSandbox(Statement& st) {
  SandboxRecord r;
  r.id = st.Text();
  RowDecoder decode("sandbox", r.id);
  SandboxConfig& c = r.config;
  c.metadata.name = st.Text();
  c.metadata.uid = st.Text();
  c.metadata.namespace_name = st.Text();
  c.metadata.attempt = static_cast<uint32_t>(decode.Ranged("attempt", st.Int(), 0, kMaxUint32));
  c.hostname = st.Text();
  c.log_directory = st.Text();
  c.labels = decode.Map("labels", st.Text());
  c.annotations = decode.Map("annotations", st.Text());
  c.cgroup_parent = st.Text();
  c.pod_resources = ReadResources(st);
  c.overhead = ReadResources(st);
  c.runtime_handler = st.Text();
  r.state = static_cast<SandboxState>(decode.Ranged("state", st.Int(), 0, 1));
  r.created_at_ns = st.Int();
  c.host_network = decode.Ranged("host_network", st.Int(), 0, 1) != 0;
  c.port_mappings = decode.Ports("port_mappings", st.Text());
  c.dns.servers = decode.List("dns_servers", st.Text());
  c.dns.searches = decode.List("dns_searches", st.Text());
  c.dns.options = decode.List("dns_options", st.Text());
  r.network.pending = decode.Ranged("network_pending", st.Int(), 0, 1) != 0;
  r.network.netns_path = st.Text();
  r.network.cni_result_json = st.Text();
  r.network.ips = decode.List("pod_ips", st.Text());
  if (!decode.status().ok()) return decode.status();
  return r;
}

absl::StatusOr<ContainerRecord> ReadContainer(Statement& st) {
  ContainerRecord r;
  r.id = st.Text();
  RowDecoder decode("container", r.id);
  r.sandbox_id = st.Text();
  ContainerConfig& c = r.config;
  c.metadata.name = st.Text();
  c.metadata.attempt = static_cast<uint32_t>(decode.Ranged("attempt", st.Int(), 0, kMaxUint32));
  c.image_ref = st.Text();
  c.command = decode.List("command", st.Text());
  c.args = decode.List("args", st.Text());
  c.log_path = st.Text();
  c.labels = decode.Map("labels", st.Text());
  c.annotations = decode.Map("annotations", st.Text());
  r.resources = ReadResources(st);
  r.image_id = st.Text();
  r.domain_name = st.Text();
  r.overlay_path = st.Text();
  r.console_path = st.Text();
  r.state = static_cast<ContainerState>(decode.Ranged("state", st.Int(), 0, 3));
  r.pending = decode.Ranged("pending", st.Int(), 0, 1) != 0;
  r.created_at_ns = st.Int();
  r.started_at_ns = st.Int();
  r.finished_at_ns = st.Int();
  r.exit_code =
      static_cast<int32_t>(decode.Ranged("exit_code", st.Int(), std::numeric_limits<int32_t>::min(),
                                         std::numeric_limits<int32_t>::max()));
  r.reason = st.Text();
  r.message = st.Text();
  c.mounts = decode.Mounts("mounts", st.Text());
  if (!decode.status().ok()) return decode.status();
  return r;
}

// Reads every row of a query; a failed step is an error, never a short list.
template <typename Record, typename ReadFn>
absl::StatusOr<std::vector<Record>> ReadAll(Statement& st, ReadFn read) {
  std::vector<Record> out;
  while (true) {
    if (absl::Status s = st.Step(); !s.ok()) return s;
    if (!st.Row()) return out;
    absl::StatusOr<Record> record = read(st);
    if (!record.ok()) return record.status();
    out.push_back(*std::move(record));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path,
                                                             const LegacyRowDecoder* legacy) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status s = SqliteStatus(rc, db, absl::StrCat("open ", path));
    sqlite3_close(db);
    return s;
  }
  // Pod specs may carry secrets in annotations: the database is root's alone
  // (SQLite gives its -wal and -shm files the same mode).
  ::chmod(path.c_str(), 0600);
  std::unique_ptr<StateStore> store(new StateStore(db));
  absl::MutexLock lock(&store->mu_);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                             "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000"}) {
    if (absl::Status s = store->Exec(pragma); !s.ok()) return s;
  }
  if (absl::Status s = store->PrepareSchema(path, legacy); !s.ok()) return s;
  return store;
}

StateStore::~StateStore() { sqlite3_close(db_); }

absl::Status StateStore::Exec(const std::string& sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  absl::Status s = SqliteStatus(rc, db_, error ? error : sql);
  sqlite3_free(error);
  return s;
}

absl::Status StateStore::PrepareSchema(const std::string& path, const LegacyRowDecoder* legacy) {
  // Each probe's statement is finalized before the schema changes (an open
  // statement would keep its table locked against DROP).
  absl::StatusOr<int64_t> found = QueryInt("PRAGMA user_version", "read the schema version");
  if (!found.ok()) return found.status();
  if (*found > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("state database ", path, " has schema version ", *found,
                     "; this vmmap reads version ", kSchemaVersion,
                     ". Run the vmmap that wrote it, or move the state directory aside to "
                     "start empty"));
  }
  if (*found == kSchemaVersion) return Exec(state_internal::kSchemaSql);
  if (*found == 1 || *found == 2) {
    // Additive steps, all with the version bump in one transaction.
    absl::Status migrated =
        Exec(absl::StrCat("BEGIN IMMEDIATE; ", *found == 1 ? state_internal::kMigrateV1ToV2Sql : "",
                          state_internal::kMigrateV2ToV3Sql, "PRAGMA user_version = 3; COMMIT;"));
    if (!migrated.ok()) Exec("ROLLBACK").IgnoreError();
    return migrated;
  }

  absl::StatusOr<int64_t> legacy_tables =
      QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sandboxes'",
               "look for the unversioned layout");
  if (!legacy_tables.ok()) return legacy_tables.status();
  if (*legacy_tables == 0) {
    return Exec(absl::StrCat("BEGIN IMMEDIATE; ", state_internal::kSchemaSql,
                             "PRAGMA user_version = ", kSchemaVersion, "; COMMIT;"));
  }
  if (legacy == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("state database ", path,
                     " has the unversioned layout of earlier vmmap releases "
                     "(serialized CRI configs); `vmmap serve` migrates it to schema version ",
                     kSchemaVersion, " on start"));
  }
  return MigrateLegacy(*legacy);
}

absl::StatusOr<int64_t> StateStore::QueryInt(const std::string& sql, const char* what) {
  Statement st(db_, sql, what);
  if (!st.status().ok()) return st.status();
  if (absl::Status s = st.Step(); !s.ok()) return s;
  if (!st.Row()) return absl::InternalError(absl::StrCat("state store: ", what, ": no row"));
  return st.Int();
}

absl::Status StateStore::PutSandbox(const SandboxRecord& r) {
  absl::MutexLock lock(&mu_);
  return PutSandboxLocked(r);
}

absl::Status StateStore::PutSandboxLocked(const SandboxRecord& r) {
  Statement st(db_, UpsertSql("sandbox", state_internal::SandboxColumns()), "put sandbox");
  if (!st.status().ok()) return st.status();
  const SandboxConfig& c = r.config;
  st.Bind(r.id);
  st.Bind(c.metadata.name);
  st.Bind(c.metadata.uid);
  st.Bind(c.metadata.namespace_name);
  st.Bind(static_cast<int64_t>(c.metadata.attempt));
  st.Bind(c.hostname);
  st.Bind(c.log_directory);
  st.Bind(EncodeStringMap(c.labels));
  st.Bind(EncodeStringMap(c.annotations));
  st.Bind(c.cgroup_parent);
  BindResources(st, c.pod_resources);
  BindResources(st, c.overhead);
  st.Bind(c.runtime_handler);
  st.Bind(static_cast<int64_t>(r.state));
  st.Bind(r.created_at_ns);
  st.Bind(static_cast<int64_t>(c.host_network));
  st.Bind(EncodePorts(c.port_mappings));
  st.Bind(EncodeStrings(c.dns.servers));
  st.Bind(EncodeStrings(c.dns.searches));
  st.Bind(EncodeStrings(c.dns.options));
  st.Bind(static_cast<int64_t>(r.network.pending));
  st.Bind(r.network.netns_path);
  st.Bind(r.network.cni_result_json);
  st.Bind(EncodeStrings(r.network.ips));
  return st.Run();
}

absl::StatusOr<SandboxRecord> StateStore::GetSandbox(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  Statement st(db_, SelectSql("sandbox", state_internal::SandboxColumns(), "WHERE id = ?1"),
               "get sandbox");
  if (!st.status().ok()) return st.status();
  st.Bind(id);
  if (absl::Status s = st.Step(); !s.ok()) return s;
  if (!st.Row()) return absl::NotFoundError(absl::StrCat("pod sandbox ", id, " not found"));
  return ReadSandbox(st);
}

absl::StatusOr<std::vector<SandboxRecord>> StateStore::ListSandboxes() const {
  absl::MutexLock lock(&mu_);
  Statement st(db_,
               SelectSql("sandbox", state_internal::SandboxColumns(), "ORDER BY created_at_ns"),
               "list sandboxes");
  if (!st.status().ok()) return st.status();
  return ReadAll<SandboxRecord>(st, ReadSandbox);
}

absl::Status StateStore::DeleteSandbox(const std::string& id) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "DELETE FROM sandbox WHERE id = ?1", "delete sandbox");  // containers cascade
  if (!st.status().ok()) return st.status();
  st.Bind(id);
  return st.Run();
}

absl::Status StateStore::PutContainer(const ContainerRecord& r) {
  absl::MutexLock lock(&mu_);
  return PutContainerLocked(r);
}

absl::Status StateStore::PutContainerLocked(const ContainerRecord& r) {
  Statement st(db_, UpsertSql("container", state_internal::ContainerColumns()), "put container");
  if (!st.status().ok()) return st.status();
  const ContainerConfig& c = r.config;
  st.Bind(r.id);
  st.Bind(r.sandbox_id);
  st.Bind(c.metadata.name);
  st.Bind(static_cast<int64_t>(c.metadata.attempt));
  st.Bind(c.image_ref);
  st.Bind(EncodeStrings(c.command));
  st.Bind(EncodeStrings(c.args));
  st.Bind(c.log_path);
  st.Bind(EncodeStringMap(c.labels));
  st.Bind(EncodeStringMap(c.annotations));
  BindResources(st, r.resources);
  st.Bind(r.image_id);
  st.Bind(r.domain_name);
  st.Bind(r.overlay_path);
  st.Bind(r.console_path);
  st.Bind(static_cast<int64_t>(r.state));
  st.Bind(static_cast<int64_t>(r.pending));
  st.Bind(r.created_at_ns);
  st.Bind(r.started_at_ns);
  st.Bind(r.finished_at_ns);
  st.Bind(static_cast<int64_t>(r.exit_code));
  st.Bind(r.reason);
  st.Bind(r.message);
  st.Bind(EncodeMounts(c.mounts));
  return st.Run();
}

absl::StatusOr<ContainerRecord> StateStore::GetContainer(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  Statement st(db_, SelectSql("container", state_internal::ContainerColumns(), "WHERE id = ?1"),
               "get container");
  if (!st.status().ok()) return st.status();
  st.Bind(id);
  if (absl::Status s = st.Step(); !s.ok()) return s;
  if (!st.Row()) return absl::NotFoundError(absl::StrCat("container ", id, " not found"));
  return ReadContainer(st);
}

absl::StatusOr<std::vector<ContainerRecord>> StateStore::ListContainers() const {
  absl::MutexLock lock(&mu_);
  Statement st(db_,
               SelectSql("container", state_internal::ContainerColumns(), "ORDER BY created_at_ns"),
               "list containers");
  if (!st.status().ok()) return st.status();
  return ReadAll<ContainerRecord>(st, ReadContainer);
}

absl::Status StateStore::DeleteContainer(const std::string& id) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "DELETE FROM container WHERE id = ?1", "delete container");
  if (!st.status().ok()) return st.status();
  st.Bind(id);
  return st.Run();
}

}  // namespace vmmap
