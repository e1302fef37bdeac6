// Durable record of every sandbox and container vmmap created, in SQLite.
//
// Why SQLite and not libvirt domain metadata alone: a sandbox exists before
// its VM does, images and overlays must be tracked independently of domains,
// and every change must be atomic across several rows (a container and its
// sandbox). libvirt metadata still marks each domain as vmmap's, which is
// how recovery tells our domains from anyone else's.
//
// Rows are typed columns (records.h); lists and maps use field_codec.h.
// The layout has a version (PRAGMA user_version, kSchemaVersion). Open()
// creates a new database at that version, migrates a database of the layout
// before versioning (serialized CRI protos) when given a decoder, migrates
// an older version step by step (each step additive, in one transaction),
// and refuses
// any other version with a message that says what to do; it never guesses.
//
// Errors: a stored value that does not decode is DataLoss naming the table,
// the row and the column; a failed SQLite step is an error with SQLite's
// message (Unavailable when busy or on I/O errors, ResourceExhausted when the
// disk is full, DataLoss when the file is corrupt), never a short list or a
// NotFound. NotFound only means "no such row".
//
// Crash safety: each method is one transaction (WAL, synchronous=FULL), so a
// kill -9 leaves either the old or the new row. Multi-step operations record
// their intent first (`pending = true`), create the outside resources, then
// clear the flag; recovery rolls back anything still pending.
//
// Thread-safe: one connection, serialized by mu_.
#ifndef VMMAP_SERVER_STATE_STATE_STORE_H_
#define VMMAP_SERVER_STATE_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/state/legacy_rows.h"
#include "server/state/records.h"

struct sqlite3;

namespace vmmap {

class StateStore {
 public:
  // The layout this build reads and writes.
  static constexpr int kSchemaVersion = 3;

  // Opens or creates the database at `path` (mode 0600). `legacy` decodes
  // rows of the unversioned layout; without it such a database is refused
  // (FailedPrecondition). A newer version is refused (FailedPrecondition).
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& path,
                                                          const LegacyRowDecoder* legacy = nullptr);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  absl::Status PutSandbox(const SandboxRecord& sandbox);
  absl::StatusOr<SandboxRecord> GetSandbox(const std::string& id) const;
  absl::StatusOr<std::vector<SandboxRecord>> ListSandboxes() const;
  // Deletes the sandbox and all its container rows in one transaction.
  absl::Status DeleteSandbox(const std::string& id);

  absl::Status PutContainer(const ContainerRecord& container);
  absl::StatusOr<ContainerRecord> GetContainer(const std::string& id) const;
  absl::StatusOr<std::vector<ContainerRecord>> ListContainers() const;
  absl::Status DeleteContainer(const std::string& id);

 private:
  explicit StateStore(sqlite3* db) : db_(db) {}
  absl::Status Exec(const std::string& sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PrepareSchema(const std::string& path, const LegacyRowDecoder* legacy)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> QueryInt(const std::string& sql, const char* what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status MigrateLegacy(const LegacyRowDecoder& legacy) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutSandboxLocked(const SandboxRecord& sandbox) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutContainerLocked(const ContainerRecord& container)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  sqlite3* const db_;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATE_STATE_STORE_H_
