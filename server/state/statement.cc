#include "server/state/statement.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace vmmap::state_internal {

absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view what) {
  const std::string message =
      absl::StrCat("state store: ", what, ": ", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
      return absl::OkStatus();
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(message);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(message);
    case SQLITE_CONSTRAINT:
      return absl::FailedPreconditionError(message);
    default:
      return absl::UnknownError(message);
  }
}

Statement::Statement(sqlite3* db, const std::string& sql, absl::string_view what)
    : db_(db), what_(what) {
  const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr);
  if (rc != SQLITE_OK) status_ = SqliteStatus(rc, db, what_);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::Bind(absl::string_view bytes) {
  // A zero-length blob must still be bound as a blob, not NULL.
  sqlite3_bind_blob(stmt_, next_param_++, bytes.empty() ? "" : bytes.data(),
                    static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
}

void Statement::Bind(int64_t value) { sqlite3_bind_int64(stmt_, next_param_++, value); }

absl::Status Statement::Step() {
  next_column_ = 0;
  last_rc_ = sqlite3_step(stmt_);
  if (last_rc_ == SQLITE_ROW || last_rc_ == SQLITE_DONE) return absl::OkStatus();
  return SqliteStatus(last_rc_, db_, what_);
}

std::string Statement::Text() {
  const int col = next_column_++;
  const void* p = sqlite3_column_blob(stmt_, col);
  return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : "";
}

int64_t Statement::Int() { return sqlite3_column_int64(stmt_, next_column_++); }

absl::Status Statement::Run() {
  if (absl::Status s = Step(); !s.ok()) return s;
  if (Row()) return absl::InternalError(absl::StrCat("state store: ", what_, ": returned a row"));
  return absl::OkStatus();
}

}  // namespace vmmap::state_internal
