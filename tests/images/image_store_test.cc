// Tests of the VM image store against real files, qemu-img, tar and a
// loopback HTTP/1.0 server run inside the test.
#include "server/images/image_store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/images/test_util.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
using images_test::DirEntries;
using images_test::ReadFile;
using images_test::Sh;
using images_test::TempDir;
using images_test::UnsetProxies;
using images_test::UnusedPort;
using images_test::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// ---------------------------------------------------------------- helpers

std::string Sha256sum(const std::string& path) {
  std::string out;
  if (Sh("sha256sum '" + path + "'", &out) != 0) return "";
  return out.substr(0, 64);
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::string MakeQcow2(const TempDir& dir, const std::string& name) {
  std::string path = dir / name;
  EXPECT_EQ(Sh("qemu-img create -q -f qcow2 '" + path + "' 16M"), 0);
  return path;
}

// Builds tar archives byte by byte, including entries `tar` refuses to write.
class TarBuilder {
 public:
  TarBuilder& File(const std::string& name, const std::string& data) {
    return Entry(name, '0', data, "");
  }
  TarBuilder& Entry(const std::string& name, char type, const std::string& data,
                    const std::string& link) {
    char h[512];
    memset(h, 0, sizeof h);
    snprintf(h, 100, "%s", name.c_str());
    snprintf(h + 100, 8, "%07o", 0644);
    snprintf(h + 108, 8, "%07o", 0);
    snprintf(h + 116, 8, "%07o", 0);
    snprintf(h + 124, 12, "%011o", static_cast<unsigned>(data.size()));
    snprintf(h + 136, 12, "%011o", 0);
    h[156] = type;
    snprintf(h + 157, 100, "%s", link.c_str());
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : std::string(h, 512)) sum += c;
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    out_.append(h, 512);
    out_ += data;
    out_.append((512 - data.size() % 512) % 512, '\0');
    return *this;
  }
  std::string Build() const { return out_ + std::string(1024, '\0'); }

 private:
  std::string out_;
};

// A single-threaded HTTP/1.0 server on 127.0.0.1:<ephemeral> serving
// registered files; everything else is a 404.
class HttpServer {
 public:
  HttpServer() {
    fd_ = images_test::ListenLoopback(&port_);
    if (fd_ < 0) abort();
    thread_ = std::thread([this] { Serve(); });
  }
  ~HttpServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  void Serve(const std::string& url_path, const std::string& file) {
    std::lock_guard<std::mutex> lock(mu_);
    files_[url_path] = file;
  }
  std::string Url(const std::string& url_path) const {
    return absl::StrCat("http://127.0.0.1:", port_, url_path);
  }
  int requests() const { return requests_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++requests_;
      Handle(c);
      close(c);
    }
  }
  void Handle(int c) {
    std::string req;
    char buf[1024];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) return;
      req.append(buf, static_cast<size_t>(n));
    }
    std::istringstream line(req.substr(0, req.find("\r\n")));
    std::string method, path;
    line >> method >> path;
    std::string file;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = files_.find(path);
      if (it != files_.end()) file = it->second;
    }
    std::string resp;
    if (method == "GET" && !file.empty()) {
      std::string body = ReadFile(file);
      resp = absl::StrCat("HTTP/1.0 200 OK\r\nContent-Length: ", body.size(),
                          "\r\nContent-Type: application/octet-stream\r\n\r\n", body);
    } else {
      resp = "HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
    }
    size_t off = 0;
    while (off < resp.size()) {
      ssize_t n = write(c, resp.data() + off, resp.size() - off);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::map<std::string, std::string> files_;
  std::thread thread_;
};

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UnsetProxies();
    root_ = dir_ / "store";
    auto store = ImageStore::Open(root_, Options());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  // Test files live in dir_, which is the import root.
  ImageStoreOptions Options() const {
    ImageStoreOptions options;
    options.file_import_root = dir_.path();
    return options;
  }

  void ExpectNothingStored() {
    EXPECT_THAT(store_->List(), IsEmpty());
    EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());
    EXPECT_THAT(DirEntries(root_ + "/sha256"), IsEmpty());
  }

  std::string MakeBundleTar(const std::string& name, const std::string& extra_tar_flags = "") {
    std::string src = dir_ / (name + ".d");
    fs::create_directories(src);
    WriteFile(src + "/vmlinuz", "KERNEL-" + name + std::string(3000, 'k'));
    WriteFile(src + "/initrd.img", "INITRD-" + name + std::string(700, 'i'));
    WriteFile(src + "/cmdline", "console=ttyS0 root=/dev/vda\n");
    std::string tar = dir_ / (name + ".tar");
    EXPECT_EQ(Sh("tar " + extra_tar_flags + " -cf '" + tar + "' -C '" + src +
                 "' vmlinuz initrd.img cmdline"),
              0);
    return tar;
  }

  // Pulls hostile content and checks that nothing was stored or escaped.
  void ExpectRejected(const std::string& tar_bytes, const std::string& what,
                      const std::string& why) {
    std::string path = dir_ / "hostile.tar";
    WriteFile(path, tar_bytes);
    auto r = store_->Pull("file://" + path);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << what << ": " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(why)) << what;
    EXPECT_THAT(store_->List(), IsEmpty()) << what;
    EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty()) << what;
    EXPECT_THAT(DirEntries(root_ + "/sha256"), IsEmpty()) << what;
  }

  TempDir dir_;
  std::string root_;
  std::unique_ptr<ImageStore> store_;
};

// ------------------------------------------------------------------ tests

TEST_F(ImageStoreTest, PullsQcow2FromFile) {
  std::string disk = MakeQcow2(dir_, "disk.qcow2");
  std::string ref = "file://" + disk;
  auto r = store_->Pull(ref);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "sha256:" + Sha256sum(disk));
  EXPECT_EQ(r->kind, ImageKind::kDisk);
  EXPECT_THAT(r->tags, ElementsAre(ref));
  EXPECT_EQ(r->size_bytes, fs::file_size(disk));
  EXPECT_EQ(r->disk_path, root_ + "/sha256/" + r->id.substr(7) + "/image");
  EXPECT_EQ(ReadFile(r->disk_path), ReadFile(disk));
  EXPECT_TRUE(r->kernel_path.empty());
  EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());

  // Found by id, by tag, by a 12-digit prefix with and without "sha256:".
  for (const std::string& key : {r->id, ref, r->id.substr(0, 7 + 12), r->id.substr(7, 12)}) {
    auto f = store_->Find(key);
    ASSERT_TRUE(f.ok()) << key << ": " << f.status();
    EXPECT_EQ(f->id, r->id);
  }
  EXPECT_EQ(store_->Find(r->id.substr(0, 7 + 11)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Find("file:///nope").status().code(), absl::StatusCode::kNotFound);

  // Pulling the same reference again is idempotent.
  auto again = store_->Pull(ref);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id, r->id);
  EXPECT_THAT(again->tags, ElementsAre(ref));
  EXPECT_EQ(store_->List().size(), 1u);
}

TEST_F(ImageStoreTest, SameBytesOverHttpAddTag) {
  std::string disk = MakeQcow2(dir_, "disk.qcow2");
  HttpServer server;
  server.Serve("/images/disk.qcow2", disk);
  auto a = store_->Pull("file://" + disk);
  ASSERT_TRUE(a.ok()) << a.status();
  std::string url = server.Url("/images/disk.qcow2");
  auto b = store_->Pull(url);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->id, a->id);
  EXPECT_EQ(b->id, "sha256:" + Sha256sum(disk));
  EXPECT_THAT(b->tags, ElementsAre("file://" + disk, url));
  ASSERT_EQ(store_->List().size(), 1u);
  EXPECT_EQ(store_->List()[0].tags.size(), 2u);
  EXPECT_EQ(store_->Find(url)->id, a->id);
  EXPECT_GE(server.requests(), 1);
}

TEST_F(ImageStoreTest, HttpErrors) {
  HttpServer server;
  auto r = store_->Pull(server.Url("/missing.qcow2"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("404"));

  auto refused = store_->Pull(absl::StrCat("http://127.0.0.1:", UnusedPort(), "/disk.qcow2"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());
  EXPECT_THAT(store_->List(), IsEmpty());
}

TEST_F(ImageStoreTest, PullsKernelBundle) {
  for (const char* format_flag : {"", "--format=posix", "--format=ustar"}) {
    const std::string format = format_flag;
    SCOPED_TRACE(format);
    std::string name = format.empty() ? "gnu" : format.substr(9);
    std::string tar = MakeBundleTar(name, format);
    std::string src = dir_ / (name + ".d");
    auto r = store_->Pull("file://" + tar);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->kind, ImageKind::kKernelBundle);
    EXPECT_EQ(r->id, "sha256:" + Sha256sum(tar));
    EXPECT_TRUE(r->disk_path.empty());
    EXPECT_EQ(r->kernel_path, root_ + "/sha256/" + r->id.substr(7) + "/vmlinuz");
    EXPECT_EQ(ReadFile(r->kernel_path), ReadFile(src + "/vmlinuz"));
    EXPECT_EQ(ReadFile(r->initrd_path), ReadFile(src + "/initrd.img"));
    EXPECT_EQ(r->cmdline, "console=ttyS0 root=/dev/vda");
  }
  // "./"-prefixed names (tar -C dir .) are accepted too.
  std::string src = dir_ / "gnu.d";
  std::string tar = dir_ / "dot.tar";
  ASSERT_EQ(Sh("tar -cf '" + tar + "' -C '" + src + "' ./vmlinuz"), 0);
  auto r = store_->Pull("file://" + tar);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(r->kernel_path), ReadFile(src + "/vmlinuz"));
  EXPECT_TRUE(r->initrd_path.empty());
  EXPECT_TRUE(r->cmdline.empty());
}

TEST_F(ImageStoreTest, RejectsHostileBundles) {
  std::string outside = dir_ / "x";
  ExpectRejected(TarBuilder().File("vmlinuz", "k").File("../x", "evil").Build(), "dot-dot",
                 "contains \"..\"");
  ExpectRejected(TarBuilder().File("vmlinuz", "k").File("a/../../x", "evil").Build(),
                 "nested dot-dot", "contains \"..\"");
  ExpectRejected(TarBuilder().File(outside, "evil").File("vmlinuz", "k").Build(), "absolute",
                 "absolute entry name");
  ExpectRejected(TarBuilder().Entry("vmlinuz", '2', "", "/etc/passwd").Build(), "symlink",
                 "not a regular file");
  ExpectRejected(TarBuilder().File("cmdline", "x").Entry("vmlinuz", '1', "", "cmdline").Build(),
                 "hardlink", "not a regular file");
  ExpectRejected(TarBuilder().Entry("dev", '3', "", "").File("vmlinuz", "k").Build(), "char device",
                 "not a regular file");
  ExpectRejected(TarBuilder().Entry("sub/", '5', "", "").File("vmlinuz", "k").Build(), "directory",
                 "directory entry");
  ExpectRejected(TarBuilder().File("vmlinuz", "k").File("vmlinuz", "k").Build(), "duplicate",
                 "duplicate vmlinuz");
  ExpectRejected(TarBuilder().File("initrd.img", "i").Build(), "no vmlinuz", "no vmlinuz");
  ExpectRejected(TarBuilder().File("vmlinuz", "k").File("cmdline", "a\nb\n").Build(),
                 "two-line cmdline", "one line");
  ExpectRejected(
      TarBuilder().File("vmlinuz", "k").File("cmdline", std::string(2049, 'c') + "\n").Build(),
      "long cmdline", "limit of 2048");
  // Names smuggled in through pax and GNU long-name records.
  ExpectRejected(
      TarBuilder().Entry("././@PaxHeader", 'x', "13 path=../x\n", "").File("vmlinuz", "k").Build(),
      "pax path", "contains \"..\"");
  ExpectRejected(TarBuilder()
                     .Entry("././@LongLink", 'L', std::string("../x\0", 5), "")
                     .File("vmlinuz", "k")
                     .Build(),
                 "gnu long name", "contains \"..\"");
  std::string truncated = TarBuilder().File("vmlinuz", std::string(5000, 'k')).Build();
  ExpectRejected(truncated.substr(0, 2048), "truncated", "truncated");
  std::string bad_sum = TarBuilder().File("vmlinuz", "k").Build();
  bad_sum[0] = 'w';  // name changes, checksum does not
  ExpectRejected(bad_sum, "checksum", "checksum");

  EXPECT_FALSE(Exists(outside));
  EXPECT_FALSE(Exists(dir_ / "store/../x"));
  EXPECT_THAT(DirEntries(dir_.path()), UnorderedElementsAre("store", "hostile.tar"));
}

TEST_F(ImageStoreTest, RejectsBadReferencesAndContent) {
  std::string junk = dir_ / "junk.bin";
  WriteFile(junk, "this is neither qcow2 nor tar");
  auto r = store_->Pull("file://" + junk);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(junk));
  EXPECT_THAT(r.status().message(), HasSubstr("qcow2"));
  EXPECT_THAT(r.status().message(), HasSubstr("tar"));

  WriteFile(dir_ / "empty", "");
  EXPECT_EQ(store_->Pull("file://" + (dir_ / "empty")).status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(store_->Pull("file://" + (dir_ / "missing.qcow2")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Pull("file://relative/disk.qcow2").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Pull("file:///tmp/../etc/passwd").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Pull(std::string("file:///tmp/a\0b", 15)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Pull("ftp://example.com/disk.qcow2").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Docker references are checked before any network access.
  EXPECT_EQ(store_->Pull("docker.io/Library/busybox").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Pull("busybox:-bad").status().code(), absl::StatusCode::kInvalidArgument);
  fs::create_directories(dir_ / "subdir");
  EXPECT_EQ(store_->Pull("file://" + (dir_ / "subdir")).status().code(),
            absl::StatusCode::kInvalidArgument);  // a directory
  EXPECT_THAT(store_->List(), IsEmpty());
  EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());
  EXPECT_THAT(DirEntries(root_ + "/sha256"), IsEmpty());
}

TEST_F(ImageStoreTest, RepulledReferenceMovesTag) {
  std::string path = dir_ / "moving.qcow2";
  ASSERT_EQ(Sh("qemu-img create -q -f qcow2 '" + path + "' 16M"), 0);
  std::string ref = "file://" + path;
  auto first = store_->Pull(ref);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(Sh("qemu-img create -q -f qcow2 '" + path + "' 32M"), 0);
  auto second = store_->Pull(ref);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->id, first->id);
  EXPECT_EQ(store_->Find(ref)->id, second->id);
  auto old = store_->Find(first->id);
  ASSERT_TRUE(old.ok());
  EXPECT_THAT(old->tags, IsEmpty());
  EXPECT_EQ(store_->List().size(), 2u);
}

TEST_F(ImageStoreTest, RemoveRespectsInUse) {
  std::string disk = MakeQcow2(dir_, "disk.qcow2");
  auto r = store_->Pull("file://" + disk);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string image_dir = root_ + "/sha256/" + r->id.substr(7);
  ASSERT_TRUE(Exists(image_dir + "/image"));

  std::string asked;
  absl::Status s =
      store_->Remove("file://" + disk, [&](const std::string& id) -> std::optional<std::string> {
        asked = id;
        return "container c-123";
      });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("container c-123"));
  EXPECT_EQ(asked, r->id);
  EXPECT_TRUE(Exists(image_dir + "/image"));
  EXPECT_TRUE(store_->Find(r->id).ok());

  auto unused = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  EXPECT_TRUE(store_->Remove(r->id, unused).ok());
  EXPECT_FALSE(Exists(image_dir));
  EXPECT_EQ(store_->Find(r->id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Find("file://" + disk).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(store_->List(), IsEmpty());
  EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());
  EXPECT_EQ(store_->Remove(r->id, unused).code(), absl::StatusCode::kNotFound);

  // The removal is persistent.
  store_.reset();
  auto reopened = ImageStore::Open(root_, Options());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_THAT((*reopened)->List(), IsEmpty());
}

TEST_F(ImageStoreTest, ReopenKeepsImagesAndTags) {
  std::string disk = MakeQcow2(dir_, "disk.qcow2");
  std::string tar = MakeBundleTar("b");
  HttpServer server;
  server.Serve("/d", disk);
  ASSERT_TRUE(store_->Pull("file://" + disk).ok());
  ASSERT_TRUE(store_->Pull(server.Url("/d")).ok());
  ASSERT_TRUE(store_->Pull("file://" + tar).ok());
  std::vector<ImageRecord> before = store_->List();
  ASSERT_EQ(before.size(), 2u);

  // A second store on the same root is refused while the first is open.
  EXPECT_EQ(ImageStore::Open(root_).status().code(), absl::StatusCode::kFailedPrecondition);

  // Simulate crash leftovers.
  WriteFile(root_ + "/tmp/pull-abcdef", "partial");
  fs::create_directories(root_ + "/tmp/stage-abcdef");
  WriteFile(root_ + "/index.tmp.abcdef", "partial index");
  WriteFile(root_ + "/.index.tmp.abcdef", "partial index, older version");
  fs::create_directories(root_ + "/sha256/" + std::string(64, 'a'));
  store_.reset();

  auto reopened = ImageStore::Open(root_ + "/", Options());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  std::vector<ImageRecord> after = (*reopened)->List();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].id, before[i].id);
    EXPECT_EQ(after[i].tags, before[i].tags);
    EXPECT_EQ(after[i].kind, before[i].kind);
    EXPECT_EQ(after[i].size_bytes, before[i].size_bytes);
    EXPECT_EQ(after[i].disk_path, before[i].disk_path);
    EXPECT_EQ(after[i].kernel_path, before[i].kernel_path);
    EXPECT_EQ(after[i].initrd_path, before[i].initrd_path);
    EXPECT_EQ(after[i].cmdline, before[i].cmdline);
  }
  EXPECT_EQ((*reopened)->Find(server.Url("/d"))->id, "sha256:" + Sha256sum(disk));
  EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());
  EXPECT_FALSE(Exists(root_ + "/index.tmp.abcdef"));
  EXPECT_FALSE(Exists(root_ + "/.index.tmp.abcdef"));
  EXPECT_FALSE(Exists(root_ + "/sha256/" + std::string(64, 'a')));
}

TEST_F(ImageStoreTest, CorruptIndexIsDataLoss) {
  store_.reset();
  WriteFile(root_ + "/index", "garbage\n");
  EXPECT_EQ(ImageStore::Open(root_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(ImageStoreTest, CreateOverlay) {
  std::string disk = MakeQcow2(dir_, "disk.qcow2");
  auto r = store_->Pull("file://" + disk);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string overlay = dir_ / "overlay.qcow2";
  absl::Status s = store_->CreateOverlay(*r, overlay);
  ASSERT_TRUE(s.ok()) << s;
  std::string info;
  ASSERT_EQ(Sh("qemu-img info --output=json -U '" + overlay + "'", &info), 0);
  EXPECT_THAT(info, HasSubstr("\"format\": \"qcow2\""));
  EXPECT_THAT(info, HasSubstr("\"backing-filename\": \"" + r->disk_path + "\""));
  EXPECT_THAT(info, HasSubstr("\"backing-filename-format\": \"qcow2\""));

  EXPECT_EQ(store_->CreateOverlay(*r, overlay).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateOverlay(*r, "relative.qcow2").code(), absl::StatusCode::kInvalidArgument);
  s = store_->CreateOverlay(*r, dir_ / "no-such-dir/overlay.qcow2");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("no-such-dir"));  // qemu-img's stderr

  auto bundle = store_->Pull("file://" + MakeBundleTar("b"));
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(store_->CreateOverlay(*bundle, dir_ / "o2.qcow2").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(Exists(dir_ / "o2.qcow2"));
}

TEST_F(ImageStoreTest, Usage) {
  std::string disk = MakeQcow2(dir_, "disk.qcow2");
  ASSERT_TRUE(store_->Pull("file://" + disk).ok());
  auto u = store_->Usage();
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_FALSE(u->mountpoint.empty());
  EXPECT_TRUE(absl::StartsWith(root_, u->mountpoint)) << u->mountpoint;
  EXPECT_GT(u->used_bytes, 0u);
  EXPECT_GE(u->inodes_used, 5u);  // root, sha256, tmp, <hex>, image, ...
}

TEST_F(ImageStoreTest, LogsProgressForLargeFiles) {
  // 80 MiB, sparse at the source: a valid qcow2 followed by zeros.
  std::string big = MakeQcow2(dir_, "big.qcow2");
  fs::resize_file(big, 80u << 20);
  ::testing::internal::CaptureStderr();
  auto r = store_->Pull("file://" + big);
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size_bytes, 80u << 20);
  EXPECT_THAT(log, HasSubstr("big.qcow2: 10% ("));
  EXPECT_THAT(log, HasSubstr("big.qcow2: 50% ("));
  EXPECT_THAT(log, HasSubstr("big.qcow2: 100% (80 of 80 MiB)"));

  // Small pulls are quiet.
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(store_->Pull("file://" + MakeQcow2(dir_, "small.qcow2")).ok());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(ImageStoreTest, ConcurrentPullsOfSameBytes) {
  std::string disk = MakeQcow2(dir_, "disk.qcow2");
  HttpServer server;
  server.Serve("/d", disk);
  std::vector<std::thread> threads;
  std::vector<std::string> ids(6);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      std::string ref = i % 2 == 0 ? "file://" + disk : server.Url("/d");
      auto r = store_->Pull(ref);
      ids[i] = r.ok() ? r->id : r.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& id : ids) EXPECT_EQ(id, ids[0]);
  ASSERT_EQ(store_->List().size(), 1u);
  EXPECT_EQ(store_->List()[0].tags.size(), 2u);
  EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());
}

// issue 8, finding 1: a qcow2 whose header names a host file.
TEST_F(ImageStoreTest, RefusesDisksThatReachHostFiles) {
  std::string evil = dir_ / "evil.qcow2";
  ASSERT_EQ(Sh("qemu-img create -q -f qcow2 -F raw -b /etc/shadow '" + evil + "' 1M"), 0);
  auto r = store_->Pull("file://" + evil);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("backing"));
  EXPECT_THAT(r.status().message(), HasSubstr(evil));
  ExpectNothingStored();

  // The same over http.
  HttpServer server;
  server.Serve("/evil.qcow2", evil);
  r = store_->Pull(server.Url("/evil.qcow2"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectNothingStored();

  std::string data_file = dir_ / "df.qcow2";
  ASSERT_EQ(Sh("qemu-img create -q -f qcow2 -o data_file='" + (dir_ / "df.raw") +
               "',data_file_raw=on '" + data_file + "' 1M"),
            0);
  r = store_->Pull("file://" + data_file);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("data-file"));
  ExpectNothingStored();

  std::string vmdk = dir_ / "disk.vmdk";
  ASSERT_EQ(Sh("qemu-img create -q -f vmdk '" + vmdk + "' 1M"), 0);
  r = store_->Pull("file://" + vmdk);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectNothingStored();

  // A header qemu-img itself cannot read.
  std::string broken = dir_ / "broken.qcow2";
  WriteFile(broken, std::string("QFI\xfb\0\0\0\x03", 8) + std::string(200, '\xff'));
  r = store_->Pull("file://" + broken);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectNothingStored();
}

TEST_F(ImageStoreTest, OverlayPinsBackingFormat) {
  auto r = store_->Pull("file://" + MakeQcow2(dir_, "disk.qcow2"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->disk_format, "qcow2");
  std::string overlay = dir_ / "overlay.qcow2";
  ASSERT_TRUE(store_->CreateOverlay(*r, overlay).ok());
  std::string info;
  ASSERT_EQ(Sh("qemu-img info --output=json -U '" + overlay + "'", &info), 0);
  EXPECT_THAT(info, HasSubstr("\"backing-filename-format\": \"qcow2\""));
}

TEST_F(ImageStoreTest, FileImportsOnlyBelowTheImportRoot) {
  TempDir elsewhere;
  std::string outside = MakeQcow2(elsewhere, "outside.qcow2");
  auto r = store_->Pull("file://" + outside);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("import root"));

  // A symlink inside the root that points outside does not get through.
  fs::create_symlink(outside, dir_ / "link.qcow2");
  r = store_->Pull("file://" + (dir_ / "link.qcow2"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  ExpectNothingStored();

  // A store without an import root takes no file:// pulls at all.
  store_.reset();
  auto closed = ImageStore::Open(root_);
  ASSERT_TRUE(closed.ok()) << closed.status();
  r = (*closed)->Pull("file://" + MakeQcow2(dir_, "inside.qcow2"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("--image-import-root"));
  EXPECT_THAT((*closed)->List(), IsEmpty());
}

TEST_F(ImageStoreTest, PullSizeLimit) {
  store_.reset();
  ImageStoreOptions options = Options();
  options.max_image_bytes = 1 << 20;
  auto store = ImageStore::Open(root_, options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
  std::string big = MakeQcow2(dir_, "big.qcow2");
  fs::resize_file(big, 2u << 20);
  auto r = store_->Pull("file://" + big);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("--max-image-size"));
  HttpServer server;
  server.Serve("/big", big);
  r = store_->Pull(server.Url("/big"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  ExpectNothingStored();
}

// A server that accepts connections (the kernel's backlog) and never answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = images_test::ListenLoopback(&port_);
    if (fd_ < 0) abort();
  }
  ~SilentServer() { close(fd_); }
  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(ImageStoreTest, PullTimeAndConcurrencyLimits) {
  store_.reset();
  ImageStoreOptions options = Options();
  options.pull_timeout = std::chrono::seconds(6);
  options.max_concurrent_pulls = 1;
  auto store = ImageStore::Open(root_, options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
  std::string disk = MakeQcow2(dir_, "disk.qcow2");
  SilentServer silent;
  std::atomic<int> finished{0};
  int slow_done = -1, fast_done = -1;
  absl::Status slow, fast;
  std::thread a([&] {
    slow = store_->Pull(silent.Url("/a")).status();
    slow_done = finished++;
  });
  // The second pull starts while the first holds the only slot: it waits,
  // then runs once the first gives up at its time limit (2 s before its own).
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::thread b([&] {
    fast = store_->Pull("file://" + disk).status();
    fast_done = finished++;
  });
  a.join();
  b.join();
  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
  EXPECT_THAT(slow.message(), HasSubstr("--pull-timeout"));
  EXPECT_TRUE(fast.ok()) << fast;
  EXPECT_EQ(slow_done, 0);
  EXPECT_EQ(fast_done, 1);
  EXPECT_EQ(store_->List().size(), 1u);
  EXPECT_THAT(DirEntries(root_ + "/tmp"), IsEmpty());
}

// issue 8: a call whose client has gone away stops waiting; a download
// others still wait for goes on.
TEST_F(ImageStoreTest, CallerThatGoesAwayStopsWaiting) {
  store_.reset();
  ImageStoreOptions options = Options();
  options.pull_timeout = std::chrono::seconds(4);
  auto store = ImageStore::Open(root_, options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
  SilentServer silent;
  const std::string url = silent.Url("/slow");

  // Alone: the download is abandoned.
  std::atomic<bool> gone{false};
  absl::Status alone;
  std::thread a([&] { alone = store_->Pull(url, {}, [&] { return gone.load(); }).status(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  gone = true;
  a.join();
  EXPECT_EQ(alone.code(), absl::StatusCode::kCancelled) << alone;
  ExpectNothingStored();

  // Shared: the follower leaves, the leader keeps waiting until its limit.
  std::atomic<bool> follower_gone{false};
  absl::Status leader, follower;
  std::thread l([&] { leader = store_->Pull(url).status(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::thread f(
      [&] { follower = store_->Pull(url, {}, [&] { return follower_gone.load(); }).status(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  follower_gone = true;
  f.join();
  EXPECT_EQ(follower.code(), absl::StatusCode::kCancelled) << follower;
  l.join();
  EXPECT_EQ(leader.code(), absl::StatusCode::kDeadlineExceeded) << leader;
  ExpectNothingStored();
}

TEST_F(ImageStoreTest, VirtletTranslations) {
  HttpServer server;
  server.Serve("/images/cirros.qcow2", MakeQcow2(dir_, "cirros.qcow2"));
  server.Serve("/images/disk-32.qcow2", MakeQcow2(dir_, "disk32.qcow2"));
  const std::string file = dir_ / "translations.yaml";
  WriteFile(file,
            "translations:\n"
            "  - name: cirros\n"
            "    url: " +
                server.Url("/images/cirros.qcow2") +
                "\n"
                "  - regexp: 'disk/(\\d+)'\n"
                "    url: " +
                server.Url("/images/disk-$1.qcow2") + "\n");
  // Without the file, such names are refused with the flag named.
  auto r = store_->Pull("virtlet.cloud/cirros:latest");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("--image-translations"));

  store_.reset();
  ImageStoreOptions options = Options();
  options.translations_file = file;
  auto store = ImageStore::Open(root_, options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
  // kubelet adds ":latest"; the name matches without it.
  r = store_->Pull("virtlet.cloud/cirros:latest");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "sha256:" + Sha256sum(dir_ / "cirros.qcow2"));
  EXPECT_THAT(r->tags, ElementsAre("virtlet.cloud/cirros:latest"));
  EXPECT_EQ(store_->Find("virtlet.cloud/cirros:latest")->id, r->id);
  auto d = store_->Pull("virtlet.cloud/disk/32");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->id, "sha256:" + Sha256sum(dir_ / "disk32.qcow2"));
  auto missing = store_->Pull("virtlet.cloud/fedora");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_THAT(missing.status().message(), HasSubstr("no translation for \"fedora\""));

  // A malformed file stops Open with the field named.
  store_.reset();
  WriteFile(file, "translations:\n  - regexp: '('\n    url: http://x/\n");
  auto bad = ImageStore::Open(root_, options);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_THAT(bad.status().message(), HasSubstr("translations[0].regexp"));
  WriteFile(file, "translations:\n  - name: x\n    url: file:///etc/shadow\n");
  bad = ImageStore::Open(root_, options);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_THAT(bad.status().message(), HasSubstr("translations[0].url"));
}

}  // namespace
}  // namespace vmmap
