// Migration of the unversioned layout (sandboxes / containers tables with
// serialized CRI protos in `config` and `resources`) to schema version 1, in
// one transaction: every old row is decoded first; if any fails, nothing is
// changed and the error (DataLoss) names the row.
#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "server/state/schema.h"
#include "server/state/state_store.h"
#include "server/state/statement.h"

namespace vmmap {
namespace {

using state_internal::Statement;

absl::Status RowLoss(const char* table, const std::string& id, const char* column,
                     const absl::Status& why) {
  return absl::DataLossError(absl::StrCat("state store: migrating ", table, " row ", id,
                                          ": column ", column,
                                          " does not decode: ", why.message()));
}

absl::Status CheckState(const char* table, const std::string& id, int64_t state, int64_t max) {
  if (state >= 0 && state <= max) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("state store: migrating ", table, " row ", id, ": column state holds ", state));
}

}  // namespace

absl::Status StateStore::MigrateLegacy(const LegacyRowDecoder& legacy) {
  std::vector<SandboxRecord> sandboxes;
  std::vector<ContainerRecord> containers;
  {
    Statement st(db_, "SELECT id, config, runtime_handler, state, created_at_ns FROM sandboxes",
                 "read unversioned sandboxes");
    if (!st.status().ok()) return st.status();
    while (true) {
      if (absl::Status s = st.Step(); !s.ok()) return s;
      if (!st.Row()) break;
      SandboxRecord r;
      r.id = st.Text();
      const std::string config = st.Text();
      const std::string runtime_handler = st.Text();
      const int64_t state = st.Int();
      r.created_at_ns = st.Int();
      absl::StatusOr<SandboxConfig> decoded = legacy.DecodeSandboxConfig(config);
      if (!decoded.ok()) return RowLoss("sandboxes", r.id, "config", decoded.status());
      if (absl::Status s = CheckState("sandboxes", r.id, state, 1); !s.ok()) return s;
      r.config = *std::move(decoded);
      r.config.runtime_handler = runtime_handler;
      r.state = static_cast<SandboxState>(state);
      sandboxes.push_back(std::move(r));
    }
  }
  {
    Statement st(db_,
                 "SELECT id, sandbox_id, config, resources, image_id, image_ref, domain_name, "
                 "overlay_path, console_path, state, pending, created_at_ns, started_at_ns, "
                 "finished_at_ns, exit_code, reason, message FROM containers",
                 "read unversioned containers");
    if (!st.status().ok()) return st.status();
    while (true) {
      if (absl::Status s = st.Step(); !s.ok()) return s;
      if (!st.Row()) break;
      ContainerRecord r;
      r.id = st.Text();
      r.sandbox_id = st.Text();
      const std::string config = st.Text();
      const std::string resources = st.Text();
      r.image_id = st.Text();
      const std::string image_ref = st.Text();
      r.domain_name = st.Text();
      r.overlay_path = st.Text();
      r.console_path = st.Text();
      const int64_t state = st.Int();
      r.pending = st.Int() != 0;
      r.created_at_ns = st.Int();
      r.started_at_ns = st.Int();
      r.finished_at_ns = st.Int();
      r.exit_code = static_cast<int32_t>(st.Int());
      r.reason = st.Text();
      r.message = st.Text();
      absl::StatusOr<ContainerConfig> decoded = legacy.DecodeContainerConfig(config);
      if (!decoded.ok()) return RowLoss("containers", r.id, "config", decoded.status());
      absl::StatusOr<LinuxResources> in_force = legacy.DecodeResources(resources);
      if (!in_force.ok()) return RowLoss("containers", r.id, "resources", in_force.status());
      if (absl::Status s = CheckState("containers", r.id, state, 3); !s.ok()) return s;
      r.config = *std::move(decoded);
      if (r.config.image_ref.empty()) r.config.image_ref = image_ref;
      r.resources = *std::move(in_force);
      r.state = static_cast<ContainerState>(state);
      containers.push_back(std::move(r));
    }
  }

  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto migrate = [&]() -> absl::Status {
    if (absl::Status s = Exec(state_internal::kSchemaSql); !s.ok()) return s;
    for (const SandboxRecord& r : sandboxes) {
      if (absl::Status s = PutSandboxLocked(r); !s.ok()) return s;
    }
    for (const ContainerRecord& r : containers) {
      if (absl::Status s = PutContainerLocked(r); !s.ok()) return s;
    }
    return Exec(absl::StrCat("DROP TABLE containers; DROP TABLE sandboxes; PRAGMA user_version = ",
                             kSchemaVersion));
  };
  if (absl::Status s = migrate(); !s.ok()) {
    Exec("ROLLBACK").IgnoreError();
    return s;
  }
  return Exec("COMMIT");
}

}  // namespace vmmap
