// The state database's layout versions: the unversioned layout (serialized
// CRI protos) is migrated on open with the CRI decoder, a row that does not
// decode is DataLoss naming it (and nothing changes), a newer version is
// refused, and a typed row that does not decode is DataLoss, never a short list.
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime_v1.pb.h"
#include "server/cri/legacy_state_decoder.h"
#include "server/state/state_store.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using ::testing::AllOf;
using ::testing::HasSubstr;

// The layout vmmap wrote before schema versions (PRAGMA user_version 0).
constexpr char kUnversionedSchema[] = R"sql(
CREATE TABLE sandboxes (
  id TEXT PRIMARY KEY, config BLOB NOT NULL, runtime_handler TEXT NOT NULL,
  state INTEGER NOT NULL, created_at_ns INTEGER NOT NULL);
CREATE TABLE containers (
  id TEXT PRIMARY KEY,
  sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
  config BLOB NOT NULL, resources BLOB NOT NULL, image_id TEXT NOT NULL,
  image_ref TEXT NOT NULL, domain_name TEXT NOT NULL, overlay_path TEXT NOT NULL,
  console_path TEXT NOT NULL, state INTEGER NOT NULL, pending INTEGER NOT NULL,
  created_at_ns INTEGER NOT NULL, started_at_ns INTEGER NOT NULL,
  finished_at_ns INTEGER NOT NULL, exit_code INTEGER NOT NULL, reason TEXT NOT NULL,
  message TEXT NOT NULL);
)sql";

class StateMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vmmap-migration-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    path_ = std::string(dir) + "/state.db";
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db_), SQLITE_OK);
  }
  void TearDown() override {
    sqlite3_close(db_);
    std::error_code ec;
    fs::remove_all(fs::path(path_).parent_path(), ec);
  }

  void Exec(const std::string& sql) {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
  }
  // Binds blobs the way the unversioned store did.
  void Insert(const std::string& sql, const std::vector<std::string>& blobs) {
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    for (size_t i = 0; i < blobs.size(); ++i) {
      sqlite3_bind_blob(st, static_cast<int>(i + 1), blobs[i].data(),
                        static_cast<int>(blobs[i].size()), SQLITE_TRANSIENT);
    }
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(db_);
    sqlite3_finalize(st);
  }
  void WriteUnversioned(const std::string& sandbox_config, const std::string& container_config,
                        const std::string& resources) {
    Exec(kUnversionedSchema);
    Insert("INSERT INTO sandboxes VALUES (?1, ?2, ?3, 0, 7)", {"s1", sandbox_config, "vmmap"});
    Insert(
        "INSERT INTO containers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, 0, 8, 9, 0, 0, "
        "?10, ?11)",
        {"c1", "s1", container_config, resources, "sha256:abc", "file:///img.tar",
         "vmmap-ns-pod-0123", "", "/state/containers/c1/console.log", "", ""});
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  const CriLegacyRowDecoder decoder_;
};

TEST_F(StateMigrationTest, UnversionedDatabaseIsMigratedWithEveryField) {
  v1::PodSandboxConfig sandbox;
  sandbox.mutable_metadata()->set_name("pod");
  sandbox.mutable_metadata()->set_namespace_("ns");
  sandbox.mutable_metadata()->set_uid("uid-1");
  sandbox.mutable_metadata()->set_attempt(2);
  sandbox.set_hostname("host");
  sandbox.set_log_directory("/var/log/pods/x");
  (*sandbox.mutable_labels())["app"] = "web";
  (*sandbox.mutable_annotations())["vmmap.io/vcpus"] = "2";
  sandbox.mutable_linux()->set_cgroup_parent("/kubepods/pod1");
  sandbox.mutable_linux()->mutable_resources()->set_cpu_quota(200000);
  sandbox.mutable_linux()->mutable_overhead()->set_memory_limit_in_bytes(1 << 20);
  v1::ContainerConfig container;
  container.mutable_metadata()->set_name("vm");
  container.mutable_metadata()->set_attempt(3);
  container.mutable_image()->set_image("file:///img.tar");
  container.add_command("init=/bin/sh");
  container.add_args("quiet");
  container.set_log_path("vm/0.log");
  (*container.mutable_labels())["io.kubernetes.container.name"] = "vm";
  v1::LinuxContainerResources resources;
  resources.set_cpu_period(100000);
  resources.set_cpu_quota(150000);
  resources.set_memory_limit_in_bytes(512 << 20);
  WriteUnversioned(sandbox.SerializeAsString(), container.SerializeAsString(),
                   resources.SerializeAsString());

  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_, &decoder_);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<SandboxRecord> s = (*store)->GetSandbox("s1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->config.metadata.name, "pod");
  EXPECT_EQ(s->config.metadata.namespace_name, "ns");
  EXPECT_EQ(s->config.metadata.uid, "uid-1");
  EXPECT_EQ(s->config.metadata.attempt, 2u);
  EXPECT_EQ(s->config.hostname, "host");
  EXPECT_EQ(s->config.log_directory, "/var/log/pods/x");
  EXPECT_EQ(s->config.labels.at("app"), "web");
  EXPECT_EQ(s->config.annotations.at("vmmap.io/vcpus"), "2");
  EXPECT_EQ(s->config.cgroup_parent, "/kubepods/pod1");
  EXPECT_EQ(s->config.pod_resources.cpu_quota_us, 200000);
  EXPECT_EQ(s->config.overhead.memory_limit_bytes, 1 << 20);
  EXPECT_EQ(s->config.runtime_handler, "vmmap");
  EXPECT_EQ(s->created_at_ns, 7);
  absl::StatusOr<ContainerRecord> c = (*store)->GetContainer("c1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sandbox_id, "s1");
  EXPECT_EQ(c->config.metadata.name, "vm");
  EXPECT_EQ(c->config.metadata.attempt, 3u);
  EXPECT_EQ(c->config.image_ref, "file:///img.tar");
  EXPECT_EQ(c->config.command, std::vector<std::string>{"init=/bin/sh"});
  EXPECT_EQ(c->config.args, std::vector<std::string>{"quiet"});
  EXPECT_EQ(c->config.log_path, "vm/0.log");
  EXPECT_EQ(c->resources.cpu_quota_us, 150000);
  EXPECT_EQ(c->resources.memory_limit_bytes, 512 << 20);
  EXPECT_EQ(c->image_id, "sha256:abc");
  EXPECT_EQ(c->domain_name, "vmmap-ns-pod-0123");
  EXPECT_EQ(c->state, ContainerState::kRunning);
  EXPECT_EQ(c->started_at_ns, 9);
  store->reset();

  // Migrated once: the version is current and reopening needs no decoder.
  absl::StatusOr<std::unique_ptr<StateStore>> again = StateStore::Open(path_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->GetContainer("c1").ok());
}

TEST_F(StateMigrationTest, UndecodableRowIsDataLossNamingItAndChangesNothing) {
  WriteUnversioned(v1::PodSandboxConfig().SerializeAsString(), "\xff\xff\xff garbage",
                   v1::LinuxContainerResources().SerializeAsString());
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_, &decoder_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store.status().message()),
              AllOf(HasSubstr("containers row c1"), HasSubstr("config")));
  // Still the unversioned layout, untouched: a later run can retry.
  absl::StatusOr<std::unique_ptr<StateStore>> refused = StateStore::Open(path_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StateMigrationTest, UnversionedDatabaseWithoutDecoderIsRefusedSayingHow) {
  WriteUnversioned("", "", "");
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              AllOf(HasSubstr(path_), HasSubstr("vmmap serve` migrates it")));
}

TEST_F(StateMigrationTest, NewerSchemaVersionIsRefused) {
  Exec("PRAGMA user_version = 99");
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_, &decoder_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              AllOf(HasSubstr("schema version 99"), HasSubstr("reads version 3")));
}

TEST_F(StateMigrationTest, TypedRowThatDoesNotDecodeIsDataLossNeverAShortList) {
  {
    absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    SandboxRecord sandbox;
    sandbox.id = "s1";
    ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
    for (const char* id : {"c1", "c2"}) {
      ContainerRecord c;
      c.id = id;
      c.sandbox_id = "s1";
      ASSERT_TRUE((*store)->PutContainer(c).ok());
    }
  }
  Insert("UPDATE container SET labels = ?1 WHERE id = ?2", {"5:ab", "c2"});
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->GetContainer("c1").ok());
  absl::Status get = (*store)->GetContainer("c2").status();
  EXPECT_EQ(get.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(get.message()),
              AllOf(HasSubstr("container row c2"), HasSubstr("labels")));
  EXPECT_EQ((*store)->ListContainers().status().code(), absl::StatusCode::kDataLoss);
  Insert("UPDATE container SET state = 42 WHERE id = ?1", {"c1"});
  EXPECT_THAT(std::string((*store)->GetContainer("c1").status().message()), HasSubstr("state"));
}

// Version 1 (before the pod network) → 2: additive columns whose defaults
// mean "no pod network", which every version-1 sandbox had.
TEST_F(StateMigrationTest, VersionOneGainsThePodNetworkColumnsKeepingItsRows) {
  {
    absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    SandboxRecord sandbox;
    sandbox.id = "s1";
    sandbox.config.metadata.name = "pod";
    ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
  }
  // What version 1 wrote: the same tables without the network columns.
  for (const char* column :
       {"host_network", "port_mappings", "dns_servers", "dns_searches", "dns_options",
        "network_pending", "netns_path", "cni_result", "pod_ips"}) {
    Exec(std::string("ALTER TABLE sandbox DROP COLUMN ") + column);
  }
  Exec("ALTER TABLE container DROP COLUMN mounts");  // version 3's
  Exec("PRAGMA user_version = 1");
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<SandboxRecord> s = (*store)->GetSandbox("s1");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->config.metadata.name, "pod");
  EXPECT_FALSE(s->config.host_network);
  EXPECT_FALSE(s->network.pending);
  EXPECT_TRUE(s->network.netns_path.empty());
  EXPECT_TRUE(s->network.ips.empty());
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), StateStore::kSchemaVersion);
  sqlite3_finalize(st);
}

TEST_F(StateMigrationTest, Version2GainsTheContainersMounts) {
  {
    absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    SandboxRecord sandbox;
    sandbox.id = "s1";
    ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
    ContainerRecord container;
    container.id = "c1";
    container.sandbox_id = "s1";
    ASSERT_TRUE((*store)->PutContainer(container).ok());
  }
  Exec("ALTER TABLE container DROP COLUMN mounts");  // what version 2 wrote
  Exec("PRAGMA user_version = 2");
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<ContainerRecord> c = (*store)->GetContainer("c1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->config.mounts.empty());
  ContainerRecord with_mounts = *c;
  with_mounts.config.mounts = {
      {"/etc/config", "/var/lib/kubelet/pods/u/volumes/cm", true, true,
       MountPropagation::kHostToContainer},
      {"/data", "/tmp/empty dir", false, false, MountPropagation::kBidirectional}};
  ASSERT_TRUE((*store)->PutContainer(with_mounts).ok());
  absl::StatusOr<ContainerRecord> back = (*store)->GetContainer("c1");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->config.mounts.size(), 2u);
  EXPECT_EQ(back->config.mounts[0].container_path, "/etc/config");
  EXPECT_EQ(back->config.mounts[0].host_path, "/var/lib/kubelet/pods/u/volumes/cm");
  EXPECT_TRUE(back->config.mounts[0].read_only);
  EXPECT_TRUE(back->config.mounts[0].selinux_relabel);
  EXPECT_EQ(back->config.mounts[0].propagation, MountPropagation::kHostToContainer);
  EXPECT_EQ(back->config.mounts[1].host_path, "/tmp/empty dir");
  EXPECT_FALSE(back->config.mounts[1].read_only);
  EXPECT_EQ(back->config.mounts[1].propagation, MountPropagation::kBidirectional);
}

TEST_F(StateMigrationTest, PodNetworkFieldsRoundTrip) {
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status();
  SandboxRecord sandbox;
  sandbox.id = "s1";
  sandbox.config.host_network = false;
  sandbox.config.port_mappings = {{"udp", 53, 5353, "127.0.0.1"}, {"tcp", 80, 8080, ""}};
  sandbox.config.dns = {{"10.96.0.10"}, {"ns.svc.cluster.local"}, {"ndots:5"}};
  sandbox.network.pending = true;
  sandbox.network.netns_path = "/run/netns/vmmap-x";
  sandbox.network.cni_result_json = "{\"cniVersion\":\"1.0.0\"}";
  sandbox.network.ips = {"10.88.0.5", "fd00::5"};
  ASSERT_TRUE((*store)->PutSandbox(sandbox).ok());
  absl::StatusOr<SandboxRecord> s = (*store)->GetSandbox("s1");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->config.port_mappings.size(), 2u);
  EXPECT_EQ(s->config.port_mappings[0].protocol, "udp");
  EXPECT_EQ(s->config.port_mappings[0].container_port, 53);
  EXPECT_EQ(s->config.port_mappings[0].host_port, 5353);
  EXPECT_EQ(s->config.port_mappings[0].host_ip, "127.0.0.1");
  EXPECT_EQ(s->config.dns.servers, std::vector<std::string>{"10.96.0.10"});
  EXPECT_EQ(s->config.dns.searches, std::vector<std::string>{"ns.svc.cluster.local"});
  EXPECT_EQ(s->config.dns.options, std::vector<std::string>{"ndots:5"});
  EXPECT_TRUE(s->network.pending);
  EXPECT_EQ(s->network.netns_path, "/run/netns/vmmap-x");
  EXPECT_EQ(s->network.cni_result_json, sandbox.network.cni_result_json);
  EXPECT_EQ(s->network.ips, sandbox.network.ips);
}

}  // namespace
}  // namespace vmmap
