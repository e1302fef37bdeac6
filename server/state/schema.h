// The state database layout, schema version 3 (StateStore::kSchemaVersion).
// Column lists are in the order state_store.cc binds and reads them.
#ifndef VMMAP_SERVER_STATE_SCHEMA_H_
#define VMMAP_SERVER_STATE_SCHEMA_H_

#include <string>
#include <vector>

namespace vmmap::state_internal {

// CREATE TABLE IF NOT EXISTS for every table (idempotent).
extern const char kSchemaSql[];
// Additive steps from an older version to the next one.
extern const char kMigrateV1ToV2Sql[];
extern const char kMigrateV2ToV3Sql[];

const std::vector<std::string>& SandboxColumns();
const std::vector<std::string>& ContainerColumns();

}  // namespace vmmap::state_internal

#endif  // VMMAP_SERVER_STATE_SCHEMA_H_
