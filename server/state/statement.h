// A prepared SQLite statement that finalizes itself, binds parameters in
// order and reads columns in order (so a column list and its bindings cannot
// drift apart by one), and SQLite result codes as absl::Status.
#ifndef VMMAP_SERVER_STATE_STATEMENT_H_
#define VMMAP_SERVER_STATE_STATEMENT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace vmmap::state_internal {

// SQLITE_BUSY/LOCKED/IOERR/CANTOPEN → Unavailable, FULL → ResourceExhausted,
// CORRUPT/NOTADB → DataLoss, READONLY/PERM/AUTH → PermissionDenied,
// CONSTRAINT → FailedPrecondition, anything else → Unknown. The message is
// "state store: <what>: <sqlite's message>".
absl::Status SqliteStatus(int rc, sqlite3* db, absl::string_view what);

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, absl::string_view what);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // The prepare error, if any; nothing else may be called when not ok.
  const absl::Status& status() const { return status_; }

  void Bind(absl::string_view bytes);  // as a BLOB: NULs and any byte survive
  void Bind(int64_t value);

  // One step. Row() is true while a row is available; Done() once finished;
  // any other outcome is returned as an error.
  absl::Status Step();
  bool Row() const { return last_rc_ == kRow; }

  std::string Text();
  int64_t Int();

  // Steps until done; any row or error is an error.
  absl::Status Run();

 private:
  static constexpr int kRow = 100;  // SQLITE_ROW
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string what_;
  absl::Status status_;
  int next_param_ = 1;
  int next_column_ = 0;
  int last_rc_ = 0;
};

}  // namespace vmmap::state_internal

#endif  // VMMAP_SERVER_STATE_STATEMENT_H_
