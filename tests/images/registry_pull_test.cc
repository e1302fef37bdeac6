// Pulls from a real registry (Debian's docker-registry on loopback, one
// instance behind htpasswd basic auth), with images published by skopeo from
// OCI layouts that tests/images/registry.sh writes with tar and gzip.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <time.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/images/image_store.h"
#include "tests/images/test_util.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
using images_test::DirEntries;
using images_test::ReadFile;
using images_test::Sh;
using images_test::UnusedPort;
using images_test::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

#ifndef VMMAP_SOURCE_DIR
#error VMMAP_SOURCE_DIR must be defined
#endif

const std::string kScript = std::string(VMMAP_SOURCE_DIR) + "/tests/images/registry.sh";

// A TCP relay to a registry that counts connections and, when throttled,
// passes at most 64 KiB of each answer per 50 ms, so a test can act while a
// blob is on its way. Stands for the network, not for the registry.
class Relay {
 public:
  explicit Relay(int upstream_port) : upstream_(upstream_port) {
    fd_ = images_test::ListenLoopback(&port_);
    if (fd_ < 0) abort();
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~Relay() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : pipes_) t.join();
    close(fd_);
  }
  int port() const { return port_; }
  int connections() const { return connections_; }
  void set_throttled(bool on) { throttled_ = on; }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      ++connections_;
      int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(upstream_);
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(server);
        close(client);
        continue;
      }
      pipes_.emplace_back([this, client, server] { Pipe(client, server); });
    }
  }
  void Pipe(int client, int server) {
    std::vector<char> buf(64 << 10);
    bool open = true;
    while (open && !stop_) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(p, 2, 50) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (p[i].revents == 0) continue;
        int from = i == 0 ? client : server, to = i == 0 ? server : client;
        ssize_t n = read(from, buf.data(), buf.size());
        if (n <= 0) {
          open = false;
          break;
        }
        for (ssize_t off = 0; off < n;) {
          ssize_t w = write(to, buf.data() + off, n - off);
          if (w <= 0) {
            open = false;
            break;
          }
          off += w;
        }
        if (i == 1 && throttled_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    close(client);
    close(server);
  }

  int upstream_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> throttled_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::vector<std::thread> pipes_;
};

struct Published {
  std::string manifest_digest;
  std::string config_digest;
};

// Registries and images shared by every test of the suite.
class RegistryPullTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    images_test::UnsetProxies();
    if (Sh("command -v docker-registry skopeo htpasswd >/dev/null") != 0) {
      missing_tools_ = true;
      return;
    }
    char tmpl[] = "/tmp/vmmap-registry-test-XXXXXX";
    work_ = mkdtemp(tmpl);
    open_port_ = UnusedPort();
    ASSERT_EQ(Sh(absl::StrCat(kScript, " start ", work_, "/open ", open_port_)), 0);
    auth_port_ = UnusedPort();
    ASSERT_EQ(Sh(absl::StrCat(kScript, " start ", work_, "/auth ", auth_port_, " vmuser:s3cret")),
              0);

    // A containerDisk carrying a small qcow2.
    std::string disk_root = work_ + "/rootfs-disk";
    fs::create_directories(disk_root + "/disk");
    ASSERT_EQ(Sh("qemu-img create -q -f qcow2 " + disk_root + "/disk/vm.qcow2 16M"), 0);
    disk_ = Publish("disk", {disk_root}, {"vmmap/disk:1", "vmmap/disk:2"});

    // A kernel image.
    std::string kernel_root = work_ + "/rootfs-kernel";
    WriteFile(kernel_root + "/boot/vmlinuz-6.1", "KERNEL" + std::string(5000, 'k'));
    fs::create_symlink("vmlinuz-6.1", kernel_root + "/boot/vmlinuz");
    WriteFile(kernel_root + "/boot/initrd.img", "INITRD" + std::string(700, 'i'));
    WriteFile(kernel_root + "/boot/cmdline", "console=ttyS0 quiet\n");
    WriteFile(kernel_root + "/etc/os-release", "ID=test\n");
    kernel_ = Publish("kernel", {kernel_root}, {"vmmap/kernel:1"});

    // Neither kind.
    std::string neither_root = work_ + "/rootfs-neither";
    WriteFile(neither_root + "/etc/hostname", "x\n");
    WriteFile(neither_root + "/bin/sh", "#!\n");
    Publish("neither", {neither_root}, {"vmmap/neither:1"});

    // A containerDisk whose qcow2 names a host file as its backing file.
    std::string evil_root = work_ + "/rootfs-evil";
    fs::create_directories(evil_root + "/disk");
    ASSERT_EQ(Sh("qemu-img create -q -f qcow2 -F raw -b /etc/shadow " + evil_root +
                 "/disk/evil.qcow2 1M"),
              0);
    Publish("evil", {evil_root}, {"vmmap/evil:1"});

    // Two layers: the upper one whites out a second disk and replaces /etc.
    std::string lower = work_ + "/rootfs-lower", upper = work_ + "/rootfs-upper";
    fs::create_directories(lower + "/disk");
    ASSERT_EQ(Sh("qemu-img create -q -f raw " + lower + "/disk/root.raw 4M"), 0);
    WriteFile(lower + "/disk/extra.qcow2", "to be whited out");
    WriteFile(lower + "/etc/a", "a");
    WriteFile(upper + "/disk/.wh.extra.qcow2", "");
    WriteFile(upper + "/etc/.wh..wh..opq", "");
    layered_ = Publish("layered", {lower, upper}, {"vmmap/layered:1"});

    // An index: "neither" as linux/arm64, the containerDisk as linux/amd64.
    std::string multi = work_ + "/layout-multi";
    ASSERT_EQ(Sh(absl::StrCat("cp -r ", work_, "/layout-disk ", multi)), 0);
    std::string index_digest;
    ASSERT_EQ(
        Sh(absl::StrCat(kScript, " index ", multi, " v ", work_, "/layout-neither"), &index_digest),
        0);
    multi_index_ = index_digest.substr(0, index_digest.find('\n'));
    ASSERT_EQ(
        Sh(absl::StrCat(kScript, " push ", multi, " v 127.0.0.1:", open_port_, "/vmmap/multi:1")),
        0);

    // A bigger plain layer of random bytes, for the mid-pull failure.
    std::string big_root = work_ + "/rootfs-big";
    fs::create_directories(big_root + "/disk");
    ASSERT_EQ(Sh("head -c 6291456 /dev/urandom > " + big_root + "/disk/big.raw"), 0);
    Publish("big", {big_root}, {"vmmap/big:1"}, /*plain=*/true);
  }

  static void TearDownTestSuite() {
    if (work_.empty()) return;
    Sh(absl::StrCat(kScript, " stop ", work_, "/open"));
    Sh(absl::StrCat(kScript, " stop ", work_, "/auth"));
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

  static Published Publish(const std::string& name, const std::vector<std::string>& roots,
                           const std::vector<std::string>& repos, bool plain = false) {
    std::string layout = work_ + "/layout-" + name;
    std::string cmd = absl::StrCat(kScript, " layout ", layout, " v ", plain ? "--plain" : "");
    for (const std::string& r : roots) absl::StrAppend(&cmd, " ", r);
    std::string out;
    EXPECT_EQ(Sh(cmd, &out), 0) << cmd;
    std::vector<std::string> digests = absl::StrSplit(out.substr(0, out.find('\n')), ' ');
    Published p;
    if (digests.size() == 2) p = {digests[0], digests[1]};
    for (const std::string& repo : repos) {
      EXPECT_EQ(Sh(absl::StrCat(kScript, " push ", layout, " v 127.0.0.1:", open_port_, "/", repo)),
                0);
      EXPECT_EQ(Sh(absl::StrCat(kScript, " push ", layout, " v 127.0.0.1:", auth_port_, "/", repo,
                                " vmuser:s3cret")),
                0);
    }
    return p;
  }

  void SetUp() override {
    if (missing_tools_) GTEST_SKIP() << "docker-registry, skopeo or htpasswd is not installed";
    char tmpl[] = "/tmp/vmmap-registry-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
    root_ = dir_ + "/store";
    OpenStore(ImageStoreOptions{});
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  void OpenStore(const ImageStoreOptions& options) {
    store_.reset();
    auto store = ImageStore::Open(root_, options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void ExpectNothingStored() {
    EXPECT_THAT(store_->List(), IsEmpty());
    EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());
    EXPECT_THAT(DirEntries(root_ + "/sha256"), IsEmpty());
  }
  static std::string Open(const std::string& repo) {
    return absl::StrCat("127.0.0.1:", open_port_, "/", repo);
  }
  static std::string Authed(const std::string& repo) {
    return absl::StrCat("127.0.0.1:", auth_port_, "/", repo);
  }

  static inline bool missing_tools_ = false;
  static inline std::string work_;
  static inline int open_port_ = 0, auth_port_ = 0;
  static inline Published disk_, kernel_, layered_;
  static inline std::string multi_index_;
  std::string dir_, root_;
  std::unique_ptr<ImageStore> store_;
};

TEST_F(RegistryPullTest, ContainerDiskByTagAndByDigest) {
  const std::string ref = Open("vmmap/disk:1");
  auto r = store_->Pull(ref);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, ImageKind::kDisk);
  EXPECT_EQ(r->disk_format, "qcow2");
  EXPECT_EQ(r->id, disk_.config_digest);  // the image id is the config digest
  EXPECT_THAT(r->tags, ElementsAre(ref));
  const std::string repo_digest = Open("vmmap/disk@") + disk_.manifest_digest;
  EXPECT_THAT(r->repo_digests, ElementsAre(repo_digest));
  std::string info;
  ASSERT_EQ(Sh("qemu-img info --output=json -U " + r->disk_path, &info), 0);
  EXPECT_THAT(info, HasSubstr("\"virtual-size\": 16777216"));
  EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());

  // Found by tag, repo digest, id and id prefix.
  for (const std::string& key : {ref, repo_digest, r->id, r->id.substr(7, 12)}) {
    auto f = store_->Find(key);
    ASSERT_TRUE(f.ok()) << key << ": " << f.status();
    EXPECT_EQ(f->id, r->id);
  }

  // By digest: the same image, no new tag; a second tag of the same image.
  auto by_digest = store_->Pull(repo_digest);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status();
  EXPECT_EQ(by_digest->id, r->id);
  EXPECT_THAT(by_digest->tags, ElementsAre(ref));
  auto second = store_->Pull(Open("vmmap/disk:2"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->id, r->id);
  EXPECT_EQ(store_->List().size(), 1u);

  // Removing one tag keeps the image for the other; removing the last one
  // removes it.
  auto unused = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  ASSERT_TRUE(store_->Remove(ref, unused).ok());
  auto left = store_->Find(r->id);
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(left->tags, ElementsAre(Open("vmmap/disk:2")));
  EXPECT_EQ(store_->Find(ref).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->Remove(Open("vmmap/disk:2"), unused).ok());
  ExpectNothingStored();
}

TEST_F(RegistryPullTest, IndexPicksLinuxAmd64) {
  auto r = store_->Pull(Open("vmmap/multi:1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, ImageKind::kDisk);
  EXPECT_EQ(r->id, disk_.config_digest);
  // The repo digest is the index's: what the tag names.
  EXPECT_THAT(r->repo_digests, ElementsAre(Open("vmmap/multi@") + multi_index_));
}

TEST_F(RegistryPullTest, KernelImage) {
  auto r = store_->Pull(Open("vmmap/kernel:1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, ImageKind::kKernelBundle);
  EXPECT_EQ(r->id, kernel_.config_digest);
  EXPECT_EQ(ReadFile(r->kernel_path), "KERNEL" + std::string(5000, 'k'));  // via the symlink
  EXPECT_EQ(ReadFile(r->initrd_path), "INITRD" + std::string(700, 'i'));
  EXPECT_EQ(r->cmdline, "console=ttyS0 quiet");
  struct stat st;
  ASSERT_EQ(stat(r->kernel_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(RegistryPullTest, LayersWithWhiteouts) {
  auto r = store_->Pull(Open("vmmap/layered:1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, ImageKind::kDisk);
  EXPECT_EQ(r->disk_format, "raw");
  EXPECT_EQ(fs::file_size(r->disk_path), 4u << 20);
  EXPECT_EQ(r->id, layered_.config_digest);
  // The raw disk takes an overlay that pins its format.
  std::string overlay = dir_ + "/overlay.qcow2";
  ASSERT_TRUE(store_->CreateOverlay(*r, overlay).ok());
  std::string info;
  ASSERT_EQ(Sh("qemu-img info --output=json -U " + overlay, &info), 0);
  EXPECT_THAT(info, HasSubstr("\"backing-filename-format\": \"raw\""));
}

TEST_F(RegistryPullTest, BasicAuth) {
  const std::string ref = Authed("vmmap/disk:1");
  auto anonymous = store_->Pull(ref);
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated) << anonymous.status();
  EXPECT_THAT(anonymous.status().message(), HasSubstr("requires credentials"));
  ExpectNothingStored();

  auto wrong = store_->Pull(ref, RegistryAuth{"vmuser", "wrong", ""});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated) << wrong.status();
  EXPECT_THAT(wrong.status().message(), HasSubstr("rejected the credentials of user \"vmuser\""));
  ExpectNothingStored();

  auto right = store_->Pull(ref, RegistryAuth{"vmuser", "s3cret", ""});
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_EQ(right->id, disk_.config_digest);
}

TEST_F(RegistryPullTest, MissingTagAndRepository) {
  auto tag = store_->Pull(Open("vmmap/disk:nope"));
  EXPECT_EQ(tag.status().code(), absl::StatusCode::kNotFound) << tag.status();
  EXPECT_THAT(tag.status().message(), HasSubstr("MANIFEST_UNKNOWN"));
  auto repo = store_->Pull(Open("vmmap/nothing-here:1"));
  EXPECT_EQ(repo.status().code(), absl::StatusCode::kNotFound) << repo.status();
  ExpectNothingStored();
}

TEST_F(RegistryPullTest, ImagesThatAreNotVmImages) {
  auto neither = store_->Pull(Open("vmmap/neither:1"));
  EXPECT_EQ(neither.status().code(), absl::StatusCode::kInvalidArgument) << neither.status();
  EXPECT_THAT(neither.status().message(), HasSubstr("neither a KubeVirt containerDisk"));
  EXPECT_THAT(neither.status().message(), HasSubstr("/bin/ /etc/"));
  ExpectNothingStored();

  auto evil = store_->Pull(Open("vmmap/evil:1"));
  EXPECT_EQ(evil.status().code(), absl::StatusCode::kInvalidArgument) << evil.status();
  EXPECT_THAT(evil.status().message(), HasSubstr("backing"));
  EXPECT_THAT(evil.status().message(), HasSubstr("disk/evil.qcow2"));
  ExpectNothingStored();
}

TEST_F(RegistryPullTest, CorruptBlobIsDataLoss) {
  // Corrupt the layer in a private copy of the registry's storage.
  std::string copy = dir_ + "/registry";
  int port = UnusedPort();
  ASSERT_EQ(Sh(absl::StrCat(kScript, " start ", copy, " ", port)), 0);
  struct Stop {
    std::string dir;
    ~Stop() { Sh(absl::StrCat(kScript, " stop ", dir)); }
  } stop{copy};
  // The big image: its layer is the only blob over 1 KiB.
  std::string layout = work_ + "/layout-big";
  ASSERT_EQ(Sh(absl::StrCat(kScript, " push ", layout, " v 127.0.0.1:", port, "/vmmap/disk:1")), 0);
  std::string layer_data;
  ASSERT_EQ(Sh("find " + copy + "/storage -path '*/blobs/sha256/*/data' -size +1k | head -1",
               &layer_data),
            0);
  layer_data = layer_data.substr(0, layer_data.find('\n'));
  ASSERT_FALSE(layer_data.empty());
  std::string bytes = ReadFile(layer_data);
  bytes[bytes.size() / 2] ^= 0x55;
  WriteFile(layer_data, bytes);
  auto r = store_->Pull(absl::StrCat("127.0.0.1:", port, "/vmmap/disk:1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("does not match its digest"));
  ExpectNothingStored();
}

TEST_F(RegistryPullTest, RegistryGoneMidPull) {
  std::string own = dir_ + "/registry";
  int port = UnusedPort();
  ASSERT_EQ(Sh(absl::StrCat(kScript, " start ", own, " ", port)), 0);
  struct Stop {
    std::string dir;
    ~Stop() { Sh(absl::StrCat(kScript, " stop ", dir)); }
  } stop{own};
  ASSERT_EQ(
      Sh(absl::StrCat(kScript, " push ", work_, "/layout-big v 127.0.0.1:", port, "/vmmap/big:1")),
      0);
  Relay relay(port);
  relay.set_throttled(true);
  absl::Status pulled;
  std::thread pull([&] {
    pulled = store_->Pull(absl::StrCat("127.0.0.1:", relay.port(), "/vmmap/big:1")).status();
  });
  // Wait until the layer is arriving, then take the registry away.
  bool arriving = false;
  for (int i = 0; i < 6000 && !arriving; ++i) {
    for (const std::string& work : DirEntries(root_ + "/tmp")) {
      std::error_code ec;
      if (fs::file_size(root_ + "/tmp/" + work + "/layer", ec) > 0 && !ec) arriving = true;
    }
    if (!arriving) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(arriving);
  Sh(absl::StrCat("kill -9 $(cat ", own, "/pid)"));
  pull.join();
  EXPECT_EQ(pulled.code(), absl::StatusCode::kUnavailable) << pulled;
  ExpectNothingStored();
}

TEST_F(RegistryPullTest, ConcurrentPullsShareOneDownload) {
  Relay relay(open_port_);
  const std::string ref = absl::StrCat("127.0.0.1:", relay.port(), "/vmmap/kernel:1");
  // One pull alone: its connection count.
  ASSERT_TRUE(store_->Pull(ref).ok());
  const int one = relay.connections();
  ASSERT_GT(one, 0);
  auto unused = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  ASSERT_TRUE(store_->Remove(ref, unused).ok());
  // Slow answers keep the first pull running while the others arrive.
  relay.set_throttled(true);
  std::vector<std::thread> threads;
  std::vector<std::string> ids(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto r = store_->Pull(ref);
      ids[i] = r.ok() ? r->id : r.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& id : ids) EXPECT_EQ(id, kernel_.config_digest);
  EXPECT_LT(relay.connections() - one, 4 * one);
  EXPECT_EQ(store_->List().size(), 1u);
}

// The token issuer of a registry in bearer-token mode (as docker.io works):
// checks basic credentials and returns a JWT signed with openssl for the
// registry's certificate. Stands for the auth service docker-registry
// delegates to; Debian packages none.
class TokenServer {
 public:
  explicit TokenServer(std::string dir) : dir_(std::move(dir)) {
    fd_ = images_test::ListenLoopback(&port_);
    if (fd_ < 0) abort();
    thread_ = std::thread([this] { Serve(); });
  }
  ~TokenServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string Realm() const { return absl::StrCat("http://127.0.0.1:", port_, "/token"); }
  int tokens() const { return tokens_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      std::string resp = Answer(req);
      for (size_t off = 0; off < resp.size();) {
        ssize_t n = write(c, resp.data() + off, resp.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      close(c);
    }
  }
  std::string Answer(const std::string& req) {
    const std::string basic = "Authorization: Basic " + absl::Base64Escape("vmuser:s3cret");
    if (!absl::StrContains(req, basic)) {
      return "HTTP/1.0 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    }
    // scope=repository%3Avmmap%2Fdisk%3Apull
    std::string scope;
    size_t at = req.find("scope=");
    if (at != std::string::npos) scope = req.substr(at + 6, req.find_first_of("& ", at) - at - 6);
    std::string name =
        absl::StrReplaceAll(scope, {{"%3A", ":"}, {"%3a", ":"}, {"%2F", "/"}, {"%2f", "/"}});
    name = name.substr(name.find(':') + 1);
    name = name.substr(0, name.rfind(':'));
    std::string der;
    Sh("openssl x509 -in " + dir_ + "/token.crt -outform DER | base64 -w0", &der);
    const long now = static_cast<long>(time(nullptr));
    const std::string header =
        absl::StrCat(R"({"alg":"RS256","typ":"JWT","x5c":[")", der, R"("]})");
    const std::string claims = absl::StrCat(
        R"({"iss":"vmmap-test","sub":"vmuser","aud":"vmmap-registry","exp":)", now + 600,
        R"(,"nbf":)", now - 60, R"(,"iat":)", now - 60, R"(,"jti":"t)", tokens_.load(),
        R"(","access":[{"type":"repository","name":")", name, R"(","actions":["pull"]}]})");
    const std::string input =
        absl::WebSafeBase64Escape(header) + "." + absl::WebSafeBase64Escape(claims);
    WriteFile(dir_ + "/signing-input", input);
    std::string sig;
    Sh("openssl dgst -sha256 -binary -sign " + dir_ + "/token.key " + dir_ +
           "/signing-input | base64 -w0 | tr '+/' '-_' | tr -d '='",
       &sig);
    ++tokens_;
    const std::string body = absl::StrCat(R"({"token":")", input, ".", sig, R"("})");
    return absl::StrCat("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: ",
                        body.size(), "\r\n\r\n", body);
  }

  std::string dir_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> tokens_{0};
  std::thread thread_;
};

TEST_F(RegistryPullTest, BearerTokenFlow) {
  // A second registry over the open one's storage, behind bearer tokens.
  const std::string dir = dir_ + "/token-registry";
  fs::create_directories(dir);
  fs::create_symlink(work_ + "/open/storage", dir + "/storage");
  TokenServer tokens(dir);
  const int port = UnusedPort();
  ASSERT_EQ(Sh(absl::StrCat(kScript, " start ", dir, " ", port, " token:", tokens.Realm())), 0);
  struct Stop {
    std::string dir;
    ~Stop() { Sh(absl::StrCat(kScript, " stop ", dir)); }
  } stop{dir};
  const std::string ref = absl::StrCat("127.0.0.1:", port, "/vmmap/disk:1");

  auto wrong = store_->Pull(ref, RegistryAuth{"vmuser", "wrong", ""});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated) << wrong.status();
  EXPECT_THAT(wrong.status().message(), HasSubstr("token request"));
  ExpectNothingStored();

  auto r = store_->Pull(ref, RegistryAuth{"vmuser", "s3cret", ""});
  ASSERT_TRUE(r.ok()) << r.status() << "\n" << ReadFile(dir + "/registry.log");
  EXPECT_EQ(r->id, disk_.config_digest);
  EXPECT_GE(tokens.tokens(), 1);
}

TEST_F(RegistryPullTest, SizeLimit) {
  ImageStoreOptions options;
  options.max_image_bytes = 1 << 20;
  OpenStore(options);
  auto r = store_->Pull(Open("vmmap/big:1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("--max-image-size"));
  ExpectNothingStored();
}

}  // namespace
}  // namespace vmmap
