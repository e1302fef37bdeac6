#include "server/state/state_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"

namespace vmmap {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sandboxes (
  id TEXT PRIMARY KEY,
  config BLOB NOT NULL,
  runtime_handler TEXT NOT NULL,
  state INTEGER NOT NULL,
  created_at_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
  config BLOB NOT NULL,
  resources BLOB NOT NULL,
  image_id TEXT NOT NULL,
  image_ref TEXT NOT NULL,
  domain_name TEXT NOT NULL,
  overlay_path TEXT NOT NULL,
  console_path TEXT NOT NULL,
  state INTEGER NOT NULL,
  pending INTEGER NOT NULL,
  created_at_ns INTEGER NOT NULL,
  started_at_ns INTEGER NOT NULL,
  finished_at_ns INTEGER NOT NULL,
  exit_code INTEGER NOT NULL,
  reason TEXT NOT NULL,
  message TEXT NOT NULL
);
)sql";

constexpr const char* kContainerColumns =
    "id, sandbox_id, config, resources, image_id, image_ref, domain_name, overlay_path, "
    "console_path, state, pending, created_at_ns, started_at_ns, finished_at_ns, exit_code, "
    "reason, message";

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  absl::Status status(const char* what) const {
    if (rc_ == SQLITE_OK) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("state store: ", what, ": ", sqlite3_errmsg(db_)));
  }
  void Bind(int i, const std::string& text) {
    sqlite3_bind_blob(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : "";
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

absl::Status StepDone(Statement& st, sqlite3* db, const char* what) {
  if (st.Step() == SQLITE_DONE) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("state store: ", what, ": ", sqlite3_errmsg(db)));
}

SandboxRecord ReadSandbox(const Statement& st) {
  SandboxRecord r;
  r.id = st.Text(0);
  r.config = st.Text(1);
  r.runtime_handler = st.Text(2);
  r.state = static_cast<SandboxState>(st.Int(3));
  r.created_at_ns = st.Int(4);
  return r;
}

ContainerRecord ReadContainer(const Statement& st) {
  ContainerRecord r;
  r.id = st.Text(0);
  r.sandbox_id = st.Text(1);
  r.config = st.Text(2);
  r.resources = st.Text(3);
  r.image_id = st.Text(4);
  r.image_ref = st.Text(5);
  r.domain_name = st.Text(6);
  r.overlay_path = st.Text(7);
  r.console_path = st.Text(8);
  r.state = static_cast<ContainerState>(st.Int(9));
  r.pending = st.Int(10) != 0;
  r.created_at_ns = st.Int(11);
  r.started_at_ns = st.Int(12);
  r.finished_at_ns = st.Int(13);
  r.exit_code = static_cast<int32_t>(st.Int(14));
  r.reason = st.Text(15);
  r.message = st.Text(16);
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                              SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("state store ", path, ": ", message));
  }
  // Pod specs may carry secrets in annotations: the database is root's alone
  // (SQLite gives its -wal and -shm files the same mode).
  ::chmod(path.c_str(), 0600);
  std::unique_ptr<StateStore> store(new StateStore(db));
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                             "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000"}) {
    if (absl::Status s = store->Exec(pragma); !s.ok()) return s;
  }
  if (absl::Status s = store->Exec(kSchema); !s.ok()) return s;
  return store;
}

StateStore::~StateStore() { sqlite3_close(db_); }

absl::Status StateStore::Exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) == SQLITE_OK) return absl::OkStatus();
  absl::Status s = absl::InternalError(absl::StrCat("state store: ", error ? error : "?"));
  sqlite3_free(error);
  return s;
}

absl::Status StateStore::PutSandbox(const SandboxRecord& r) {
  absl::MutexLock lock(&mu_);
  Statement st(db_,
               "INSERT INTO sandboxes (id, config, runtime_handler, state, created_at_ns) "
               "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET config = ?2, "
               "runtime_handler = ?3, state = ?4, created_at_ns = ?5");
  if (absl::Status s = st.status("put sandbox"); !s.ok()) return s;
  st.Bind(1, r.id);
  st.Bind(2, r.config);
  st.Bind(3, r.runtime_handler);
  st.Bind(4, static_cast<int64_t>(r.state));
  st.Bind(5, r.created_at_ns);
  return StepDone(st, db_, "put sandbox");
}

absl::StatusOr<SandboxRecord> StateStore::GetSandbox(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT id, config, runtime_handler, state, created_at_ns FROM sandboxes "
                    "WHERE id = ?1");
  if (absl::Status s = st.status("get sandbox"); !s.ok()) return s;
  st.Bind(1, id);
  if (st.Step() != SQLITE_ROW) return absl::NotFoundError(absl::StrCat("pod sandbox ", id, " not found"));
  return ReadSandbox(st);
}

absl::StatusOr<std::vector<SandboxRecord>> StateStore::ListSandboxes() const {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "SELECT id, config, runtime_handler, state, created_at_ns FROM sandboxes "
                    "ORDER BY created_at_ns");
  if (absl::Status s = st.status("list sandboxes"); !s.ok()) return s;
  std::vector<SandboxRecord> out;
  while (st.Step() == SQLITE_ROW) out.push_back(ReadSandbox(st));
  return out;
}

absl::Status StateStore::DeleteSandbox(const std::string& id) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "DELETE FROM sandboxes WHERE id = ?1");  // containers cascade
  if (absl::Status s = st.status("delete sandbox"); !s.ok()) return s;
  st.Bind(1, id);
  return StepDone(st, db_, "delete sandbox");
}

absl::Status StateStore::PutContainer(const ContainerRecord& r) {
  absl::MutexLock lock(&mu_);
  const std::string sql = absl::StrCat(
      "INSERT OR REPLACE INTO containers (", kContainerColumns,
      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)");
  Statement st(db_, sql.c_str());
  if (absl::Status s = st.status("put container"); !s.ok()) return s;
  st.Bind(1, r.id);
  st.Bind(2, r.sandbox_id);
  st.Bind(3, r.config);
  st.Bind(4, r.resources);
  st.Bind(5, r.image_id);
  st.Bind(6, r.image_ref);
  st.Bind(7, r.domain_name);
  st.Bind(8, r.overlay_path);
  st.Bind(9, r.console_path);
  st.Bind(10, static_cast<int64_t>(r.state));
  st.Bind(11, static_cast<int64_t>(r.pending));
  st.Bind(12, r.created_at_ns);
  st.Bind(13, r.started_at_ns);
  st.Bind(14, r.finished_at_ns);
  st.Bind(15, static_cast<int64_t>(r.exit_code));
  st.Bind(16, r.reason);
  st.Bind(17, r.message);
  return StepDone(st, db_, "put container");
}

absl::StatusOr<ContainerRecord> StateStore::GetContainer(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  const std::string sql = absl::StrCat("SELECT ", kContainerColumns, " FROM containers WHERE id = ?1");
  Statement st(db_, sql.c_str());
  if (absl::Status s = st.status("get container"); !s.ok()) return s;
  st.Bind(1, id);
  if (st.Step() != SQLITE_ROW) return absl::NotFoundError(absl::StrCat("container ", id, " not found"));
  return ReadContainer(st);
}

absl::StatusOr<std::vector<ContainerRecord>> StateStore::ListContainers() const {
  absl::MutexLock lock(&mu_);
  const std::string sql =
      absl::StrCat("SELECT ", kContainerColumns, " FROM containers ORDER BY created_at_ns");
  Statement st(db_, sql.c_str());
  if (absl::Status s = st.status("list containers"); !s.ok()) return s;
  std::vector<ContainerRecord> out;
  while (st.Step() == SQLITE_ROW) out.push_back(ReadContainer(st));
  return out;
}

absl::Status StateStore::DeleteContainer(const std::string& id) {
  absl::MutexLock lock(&mu_);
  Statement st(db_, "DELETE FROM containers WHERE id = ?1");
  if (absl::Status s = st.status("delete container"); !s.ok()) return s;
  st.Bind(1, id);
  return StepDone(st, db_, "delete container");
}

}  // namespace vmmap
