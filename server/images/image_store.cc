#include "server/images/image_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/images/fetch.h"
#include "server/images/fs_util.h"
#include "server/images/tar_bundle.h"

namespace vmmap {

using images_internal::ErrnoStatus;
using images_internal::UniqueFd;

namespace {

constexpr char kIndexName[] = "index";
constexpr char kIndexTmpPrefix[] = ".index.tmp.";
constexpr char kIndexHeader[] = "vmmap-image-index 1";
constexpr char kIdPrefix[] = "sha256:";

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Index lines are space separated: tags are percent-encoded so that they hold
// no spaces, newlines or other bytes outside printable ASCII.
std::string EscapeTag(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f || c == '%') {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

bool UnescapeTag(absl::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out->push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return false;
    int v = 0;
    for (int k = 1; k <= 2; ++k) {
      char c = s[i + k];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return false;
    }
    out->push_back(static_cast<char>(v));
    i += 2;
  }
  return true;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          size_t limit) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      return absl::DataLossError(absl::StrCat(path, " is too large"));
    }
  }
  return out;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return names;
  while (struct dirent* ent = readdir(dir)) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
      continue;
    }
    names.emplace_back(ent->d_name);
  }
  closedir(dir);
  return names;
}

// Unescapes the \ooo sequences of /proc/self/mountinfo.
std::string UnescapeMount(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' &&
        s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 +
                                      (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string FindInPath(const std::string& program) {
  const char* path = getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::StrCat("/usr/bin/", program);
}

// Runs argv[0] (an absolute path) with stdin/stdout on /dev/null, returning
// its stderr; Internal if it cannot run or exits non-zero.
absl::Status RunCapturingStderr(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  UniqueFd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoStatus(errno, "open /dev/null");
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus(errno, "fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    if (dup2(devnull.get(), 0) < 0 || dup2(devnull.get(), 1) < 0 ||
        dup2(wr.get(), 2) < 0) {
      _exit(126);
    }
    execv(argv[0], argv.data());
    static const char kMsg[] = "exec failed\n";
    ssize_t ignored = write(2, kMsg, sizeof kMsg - 1);
    (void)ignored;
    _exit(127);
  }
  wr.Reset();
  std::string err;
  char buf[4096];
  while (true) {
    ssize_t n = read(rd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;
    if (err.size() < 65536) err.append(buf, static_cast<size_t>(n));
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus(errno, "waitpid");
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return absl::OkStatus();
  std::string how = WIFEXITED(wstatus)
                        ? absl::StrCat("exited with status ",
                                       WEXITSTATUS(wstatus))
                        : absl::StrCat("killed by signal ", WTERMSIG(wstatus));
  return absl::InternalError(
      absl::StrCat(args[0], " ", how, ": ",
                   absl::StripTrailingAsciiWhitespace(err)));
}

}  // namespace

const char* ImageKindName(ImageKind kind) {
  return kind == ImageKind::kKernelBundle ? "bundle" : "disk";
}

absl::StatusOr<std::unique_ptr<ImageStore>> ImageStore::Open(
    std::string root) {
  if (root.empty() || root[0] != '/' ||
      root.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image store root must be an absolute path: ", absl::CHexEscape(root)));
  }
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  for (const std::string& dir :
       {root, absl::StrCat(root, "/sha256"), absl::StrCat(root, "/tmp")}) {
    absl::Status s = images_internal::MkdirAll(dir, 0755);
    if (!s.ok()) return s;
  }
  std::string lock_path = absl::StrCat(root, "/lock");
  int lock_fd = open(lock_path.c_str(),
                     O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", lock_path));
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(lock_fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "image store ", root, " is already open (", lock_path,
          " is locked)"));
    }
    return ErrnoStatus(err, absl::StrCat("flock ", lock_path));
  }
  std::unique_ptr<ImageStore> store(new ImageStore(std::move(root), lock_fd));
  absl::Status s = store->Load();
  if (!s.ok()) return s;
  return store;
}

ImageStore::~ImageStore() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

std::string ImageStore::ImageDir(const std::string& hex) const {
  return absl::StrCat(root_, "/sha256/", hex);
}

absl::Status ImageStore::Load() {
  // Crash leftovers: partial downloads, staged images, deleted images not yet
  // removed, and index temp files.
  std::string tmp = absl::StrCat(root_, "/tmp");
  for (const std::string& name : ListDir(tmp)) {
    absl::Status s = images_internal::RemoveTree(absl::StrCat(tmp, "/", name));
    if (!s.ok()) return s;
  }
  for (const std::string& name : ListDir(root_)) {
    if (absl::StartsWith(name, kIndexTmpPrefix)) {
      std::string path = absl::StrCat(root_, "/", name);
      if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        return ErrnoStatus(errno, absl::StrCat("unlink ", path));
      }
    }
  }

  Index index;
  std::string index_path = absl::StrCat(root_, "/", kIndexName);
  absl::StatusOr<std::string> text = ReadSmallFile(index_path, 64 << 20);
  if (!text.ok() && !absl::IsNotFound(text.status())) return text.status();
  if (text.ok()) {
    auto corrupt = [&](size_t line_no, absl::string_view why) {
      return absl::DataLossError(absl::StrCat("image index ", index_path,
                                              " line ", line_no, ": ", why));
    };
    std::vector<absl::string_view> lines =
        absl::StrSplit(*text, '\n', absl::SkipEmpty());
    if (lines.empty() || lines[0] != kIndexHeader) {
      return corrupt(1, "unknown header");
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      std::vector<absl::string_view> f = absl::StrSplit(lines[i], ' ');
      if (f.size() == 4 && f[0] == "image") {
        if (f[1].size() != 64 || !IsHex(f[1])) return corrupt(i + 1, "bad id");
        Entry e;
        if (f[2] == "disk") e.kind = ImageKind::kQcow2Disk;
        else if (f[2] == "bundle") e.kind = ImageKind::kKernelBundle;
        else return corrupt(i + 1, "bad kind");
        if (!absl::SimpleAtoi(f[3], &e.size_bytes)) {
          return corrupt(i + 1, "bad size");
        }
        index[std::string(f[1])] = std::move(e);
      } else if (f.size() == 3 && f[0] == "tag") {
        auto it = index.find(std::string(f[1]));
        std::string tag;
        if (it == index.end()) return corrupt(i + 1, "tag of unknown image");
        if (!UnescapeTag(f[2], &tag)) return corrupt(i + 1, "bad tag");
        AddTag(index, it->first, tag);
      } else {
        return corrupt(i + 1, "unknown record");
      }
    }
  }

  // Reconcile with the files on disk.
  bool dirty = false;
  for (auto it = index.begin(); it != index.end();) {
    std::string dir = ImageDir(it->first);
    Entry& e = it->second;
    bool ok = Exists(absl::StrCat(dir, "/image"));
    if (ok && e.kind == ImageKind::kKernelBundle) {
      ok = Exists(absl::StrCat(dir, "/vmlinuz"));
      e.has_initrd = Exists(absl::StrCat(dir, "/initrd.img"));
      absl::StatusOr<std::string> cmdline =
          ReadSmallFile(absl::StrCat(dir, "/cmdline"), 4096);
      if (cmdline.ok()) {
        e.cmdline = std::string(absl::StripTrailingAsciiWhitespace(*cmdline));
      }
    }
    if (!ok) {
      fprintf(stderr,
              "vmmap: image store: dropping sha256:%s from the index: its "
              "files are missing\n",
              it->first.c_str());
      it = index.erase(it);
      dirty = true;
    } else {
      ++it;
    }
  }
  std::string sha_dir = absl::StrCat(root_, "/sha256");
  for (const std::string& name : ListDir(sha_dir)) {
    if (index.count(name) != 0) continue;
    fprintf(stderr, "vmmap: image store: removing unindexed %s/%s\n",
            sha_dir.c_str(), name.c_str());
    absl::Status s =
        images_internal::RemoveTree(absl::StrCat(sha_dir, "/", name));
    if (!s.ok()) return s;
  }

  absl::MutexLock lock(&mu_);
  index_ = std::move(index);
  if (dirty) return PersistLocked();
  return absl::OkStatus();
}

absl::Status ImageStore::PersistLocked() const {
  std::string out = absl::StrCat(kIndexHeader, "\n");
  for (const auto& [hex, e] : index_) {
    absl::StrAppend(&out, "image ", hex, " ", ImageKindName(e.kind), " ",
                    e.size_bytes, "\n");
    for (const std::string& tag : e.tags) {
      absl::StrAppend(&out, "tag ", hex, " ", EscapeTag(tag), "\n");
    }
  }
  return images_internal::AtomicWriteFile(root_, kIndexName, kIndexTmpPrefix,
                                          out);
}

void ImageStore::AddTag(Index& index, const std::string& hex,
                        const std::string& tag) {
  for (auto& [other, e] : index) {
    if (other == hex) continue;
    e.tags.erase(std::remove(e.tags.begin(), e.tags.end(), tag), e.tags.end());
  }
  std::vector<std::string>& tags = index[hex].tags;
  if (std::find(tags.begin(), tags.end(), tag) == tags.end()) {
    tags.push_back(tag);
  }
}

ImageRecord ImageStore::MakeRecord(const std::string& hex,
                                   const Entry& e) const {
  ImageRecord r;
  r.id = absl::StrCat(kIdPrefix, hex);
  r.tags = e.tags;
  r.kind = e.kind;
  r.size_bytes = e.size_bytes;
  std::string dir = ImageDir(hex);
  if (e.kind == ImageKind::kQcow2Disk) {
    r.disk_path = absl::StrCat(dir, "/image");
  } else {
    r.kernel_path = absl::StrCat(dir, "/vmlinuz");
    if (e.has_initrd) r.initrd_path = absl::StrCat(dir, "/initrd.img");
    r.cmdline = e.cmdline;
  }
  return r;
}

absl::StatusOr<std::string> ImageStore::ResolveLocked(
    const std::string& reference) const {
  for (const auto& [hex, e] : index_) {
    if (std::find(e.tags.begin(), e.tags.end(), reference) != e.tags.end()) {
      return hex;
    }
  }
  absl::string_view digest = reference;
  absl::ConsumePrefix(&digest, kIdPrefix);
  if (digest.size() >= 12 && digest.size() <= 64 && IsHex(digest)) {
    auto it = index_.lower_bound(std::string(digest));
    if (it != index_.end() && absl::StartsWith(it->first, digest)) {
      auto next = std::next(it);
      if (next != index_.end() && absl::StartsWith(next->first, digest)) {
        return absl::InvalidArgumentError(
            absl::StrCat("image reference ", reference, " is ambiguous"));
      }
      return it->first;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("image ", absl::CHexEscape(reference), " not found"));
}

absl::StatusOr<ImageRecord> ImageStore::Find(
    const std::string& reference) const {
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<std::string> hex = ResolveLocked(reference);
  if (!hex.ok()) return hex.status();
  return MakeRecord(*hex, index_.at(*hex));
}

std::vector<ImageRecord> ImageStore::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<ImageRecord> out;
  out.reserve(index_.size());
  for (const auto& [hex, e] : index_) out.push_back(MakeRecord(hex, e));
  return out;
}

absl::StatusOr<ImageRecord> ImageStore::Pull(const std::string& reference) {
  absl::StatusOr<images_internal::ParsedReference> parsed =
      images_internal::ParseReference(reference);
  if (!parsed.ok()) return parsed.status();

  std::string tmp_dir = absl::StrCat(root_, "/tmp");
  std::string download = absl::StrCat(tmp_dir, "/pull-XXXXXX");
  UniqueFd fd(mkostemp(download.data(), O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("create ", download));
  std::string stage;  // staging directory, once created
  struct Cleanup {
    const std::string& file;
    const std::string& dir;
    ~Cleanup() {
      if (!file.empty()) unlink(file.c_str());
      if (!dir.empty()) images_internal::RemoveTree(dir).IgnoreError();
    }
  } cleanup{download, stage};

  absl::StatusOr<images_internal::FetchResult> fetched =
      images_internal::Fetch(reference, *parsed, fd.get());
  if (!fetched.ok()) return fetched.status();

  // Verify what actually reached the disk: flush, drop the cached pages so
  // the re-read comes from the device where possible, and hash again.
  if (fsync(fd.get()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fsync ", download));
  }
  posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  uint64_t stored_size = 0;
  absl::StatusOr<std::string> verify =
      images_internal::Sha256OfFd(fd.get(), &stored_size);
  if (!verify.ok()) return verify.status();
  if (*verify != fetched->sha256_hex || stored_size != fetched->size) {
    return absl::DataLossError(absl::StrCat(
        "pull ", reference, ": stored bytes do not match what was received ("
        "sha256 ", fetched->sha256_hex, " received, ", *verify, " stored)"));
  }
  const std::string& hex = fetched->sha256_hex;

  unsigned char head[512] = {0};
  absl::StatusOr<size_t> head_len =
      images_internal::PreadFull(fd.get(), head, sizeof head, 0, download);
  if (!head_len.ok()) return head_len.status();
  ImageKind kind;
  if (*head_len >= 4 && memcmp(head, "QFI\xfb", 4) == 0) {
    kind = ImageKind::kQcow2Disk;
  } else if (images_internal::LooksLikeTar(head, *head_len)) {
    kind = ImageKind::kKernelBundle;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "image ", reference, " (sha256:", hex,
        ") is neither a qcow2 disk (magic \"QFI\\xfb\") nor a kernel bundle "
        "(a POSIX tar holding vmlinuz, optionally initrd.img and cmdline)"));
  }

  // Fast path: these bytes are already in the store.
  {
    absl::MutexLock lock(&mu_);
    if (index_.count(hex) != 0) {
      Index before = index_;
      AddTag(index_, hex, reference);
      absl::Status s = PersistLocked();
      if (!s.ok()) {
        index_ = std::move(before);
        return s;
      }
      return MakeRecord(hex, index_.at(hex));
    }
  }

  std::string stage_tmpl = absl::StrCat(tmp_dir, "/stage-XXXXXX");
  if (mkdtemp(stage_tmpl.data()) == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("create ", stage_tmpl));
  }
  stage = stage_tmpl;
  if (chmod(stage.c_str(), 0755) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chmod ", stage));
  }
  Entry entry;
  entry.kind = kind;
  entry.size_bytes = fetched->size;
  if (kind == ImageKind::kKernelBundle) {
    UniqueFd dir_fd(
        open(stage.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir_fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", stage));
    absl::StatusOr<images_internal::BundleContents> contents =
        images_internal::ExtractBundle(fd.get(), dir_fd.get(), reference);
    if (!contents.ok()) return contents.status();
    entry.has_initrd = contents->has_initrd;
    entry.cmdline = contents->cmdline;
  }
  if (fchmod(fd.get(), 0644) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chmod ", download));
  }
  fd.Reset();
  std::string staged_image = absl::StrCat(stage, "/image");
  if (rename(download.c_str(), staged_image.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename ", download));
  }
  download.clear();
  absl::Status s = images_internal::FsyncPath(stage);
  if (!s.ok()) return s;

  absl::MutexLock lock(&mu_);
  Index before = index_;
  if (index_.count(hex) == 0) {
    // Not pulled concurrently by someone else: commit the staged directory.
    std::string final_dir = ImageDir(hex);
    s = images_internal::RemoveTree(final_dir);  // an unindexed leftover
    if (!s.ok()) return s;
    if (rename(stage.c_str(), final_dir.c_str()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("rename ", stage, " to ",
                                             final_dir));
    }
    stage.clear();
    s = images_internal::FsyncPath(absl::StrCat(root_, "/sha256"));
    if (!s.ok()) return s;
    index_[hex] = std::move(entry);
  }
  AddTag(index_, hex, reference);
  s = PersistLocked();
  if (!s.ok()) {
    // The directory, if just committed, is unindexed and removed by the next
    // Open or replaced by the next pull of the same bytes.
    index_ = std::move(before);
    return s;
  }
  return MakeRecord(hex, index_.at(hex));
}

absl::Status ImageStore::Remove(const std::string& reference,
                                const InUseFn& in_use) {
  std::string hex;
  {
    absl::ReaderMutexLock lock(&mu_);
    absl::StatusOr<std::string> resolved = ResolveLocked(reference);
    if (!resolved.ok()) return resolved.status();
    hex = *resolved;
  }
  std::string id = absl::StrCat(kIdPrefix, hex);
  if (in_use) {
    std::optional<std::string> user = in_use(id);
    if (user.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("image ", id, " is in use by ", *user));
    }
  }
  std::string trash;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(hex);
    if (it == index_.end()) {
      return absl::NotFoundError(absl::StrCat("image ", id, " not found"));
    }
    Entry saved = it->second;
    index_.erase(it);
    absl::Status s = PersistLocked();
    if (!s.ok()) {
      index_[hex] = std::move(saved);
      return s;
    }
    // Move the directory out of sha256/ first (atomic), then delete it
    // without the lock; a crash in between leaves it in tmp/ for Open.
    std::string tmpl = absl::StrCat(root_, "/tmp/remove-XXXXXX");
    if (mkdtemp(tmpl.data()) != nullptr) {
      std::string dest = absl::StrCat(tmpl, "/", hex);
      if (rename(ImageDir(hex).c_str(), dest.c_str()) == 0) {
        trash = tmpl;
      } else {
        rmdir(tmpl.c_str());
      }
    }
    if (trash.empty()) trash = ImageDir(hex);  // delete in place instead
  }
  return images_internal::RemoveTree(trash);
}

absl::Status ImageStore::CreateOverlay(const ImageRecord& image,
                                       const std::string& overlay_path) const {
  absl::StatusOr<ImageRecord> current = Find(image.id);
  if (!current.ok()) return current.status();
  if (current->kind != ImageKind::kQcow2Disk) {
    return absl::FailedPreconditionError(absl::StrCat(
        "image ", current->id,
        " is a kernel bundle; only qcow2 disk images take overlays"));
  }
  if (overlay_path.empty() || overlay_path[0] != '/' ||
      overlay_path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "overlay path must be absolute: ", absl::CHexEscape(overlay_path)));
  }
  if (Exists(overlay_path)) {
    return absl::AlreadyExistsError(
        absl::StrCat("overlay ", overlay_path, " already exists"));
  }
  return RunCapturingStderr({FindInPath("qemu-img"), "create", "-q", "-f",
                             "qcow2", "-F", "qcow2", "-b", current->disk_path,
                             overlay_path});
}

absl::StatusOr<FsUsage> ImageStore::Usage() const {
  FsUsage usage;
  char real[PATH_MAX];
  if (realpath(root_.c_str(), real) == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("realpath ", root_));
  }
  std::string path = real;
  std::ifstream mountinfo("/proc/self/mountinfo");
  if (!mountinfo) return absl::InternalError("cannot read /proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 5) continue;
    std::string mp = UnescapeMount(f[4]);
    bool covers = mp == "/" || path == mp ||
                  (absl::StartsWith(path, mp) && path[mp.size()] == '/');
    // Later lines are mounted on top of earlier ones: >= keeps the last.
    if (covers && mp.size() >= usage.mountpoint.size()) usage.mountpoint = mp;
  }
  if (usage.mountpoint.empty()) {
    return absl::InternalError(
        absl::StrCat("no mount in /proc/self/mountinfo holds ", path));
  }
  absl::Status s =
      images_internal::WalkUsage(root_, &usage.used_bytes, &usage.inodes_used);
  if (!s.ok()) return s;
  return usage;
}

}  // namespace vmmap
