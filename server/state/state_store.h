// Durable record of every sandbox and container vmmap created, in SQLite.
//
// Why SQLite and not libvirt domain metadata alone: a sandbox exists before
// its VM does, images and overlays must be tracked independently of domains,
// and every change must be atomic across several rows (a container and its
// sandbox). libvirt metadata still marks each domain as vmmap's, which is
// how recovery tells our domains from anyone else's.
//
// Crash safety: each method is one transaction (WAL, synchronous=FULL), so a
// kill -9 leaves either the old or the new row. Multi-step operations record
// their intent first (`pending = true`), create the outside resources, then
// clear the flag; recovery rolls back anything still pending.
#ifndef VMMAP_SERVER_STATE_STATE_STORE_H_
#define VMMAP_SERVER_STATE_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct sqlite3;

namespace vmmap {

// Values match runtime.v1.PodSandboxState.
enum class SandboxState { kReady = 0, kNotReady = 1 };

struct SandboxRecord {
  std::string id;
  std::string config;  // serialized runtime.v1.PodSandboxConfig
  std::string runtime_handler;
  SandboxState state = SandboxState::kReady;
  int64_t created_at_ns = 0;
};

// Values match runtime.v1.ContainerState.
enum class ContainerState { kCreated = 0, kRunning = 1, kExited = 2, kUnknown = 3 };

struct ContainerRecord {
  std::string id;
  std::string sandbox_id;
  std::string config;      // serialized runtime.v1.ContainerConfig
  std::string resources;   // serialized LinuxContainerResources now in force
  std::string image_id;    // the resolved image ("sha256:…")
  std::string image_ref;   // as the client asked for it
  std::string domain_name;
  std::string overlay_path;
  std::string console_path;
  ContainerState state = ContainerState::kCreated;
  bool pending = false;    // outside resources may be half-created
  int64_t created_at_ns = 0;
  int64_t started_at_ns = 0;
  int64_t finished_at_ns = 0;
  int32_t exit_code = 0;
  std::string reason;
  std::string message;
};

class StateStore {
 public:
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& path);
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
  absl::Status Exec(const char* sql);

  mutable absl::Mutex mu_;
  sqlite3* db_;
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_STATE_STATE_STORE_H_
