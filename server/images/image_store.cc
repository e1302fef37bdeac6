#include "server/base/errno_status.h"
#include "server/base/files.h"
#include "server/images/image_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/images/disk_inspect.h"
#include "server/images/fetch.h"
#include "server/images/fs_util.h"
#include "server/images/reference.h"
#include "server/images/registry_pull.h"
#include "server/images/subprocess.h"
#include "server/images/tar_bundle.h"

namespace vmmap {

using images_internal::DiskFormat;
using images_internal::IndexEntry;
using images_internal::UniqueFd;

namespace {

constexpr char kIndexName[] = "index";
// WriteFileAtomically's temp files for the index (server/base/files.h), and
// those of earlier versions.
constexpr const char* kIndexTmpPrefixes[] = {"index.tmp.", ".index.tmp."};
constexpr char kIdPrefix[] = "sha256:";

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
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
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::chrono::milliseconds Millis(std::chrono::seconds s) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

absl::Status Rename(const std::string& from, const std::string& to) {
  if (rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("rename ", from, " to ", to));
  }
  return absl::OkStatus();
}

absl::Status Chmod(const std::string& path, mode_t mode) {
  if (chmod(path.c_str(), mode) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("chmod ", path));
  }
  return absl::OkStatus();
}

}  // namespace

const char* ImageKindName(ImageKind kind) {
  return kind == ImageKind::kKernelBundle ? "bundle" : "disk";
}

absl::StatusOr<std::unique_ptr<ImageStore>> ImageStore::Open(std::string root,
                                                             ImageStoreOptions options) {
  if (options.max_concurrent_pulls < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_concurrent_pulls must be at least 1, not ",
                                                   options.max_concurrent_pulls));
  }
  if (root.empty() || root[0] != '/' || root.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("image store root must be an absolute path: ", absl::CHexEscape(root)));
  }
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  for (const std::string& dir : {root, absl::StrCat(root, "/sha256"), absl::StrCat(root, "/tmp")}) {
    absl::Status s = MakeDirectories(dir, 0755);
    if (!s.ok()) return s;
  }
  // Pulls in progress are nobody else's business.
  absl::Status s = Chmod(absl::StrCat(root, "/tmp"), 0700);
  if (!s.ok()) return s;
  std::string lock_path = absl::StrCat(root, "/lock");
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", lock_path));
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(lock_fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("image store ", root, " is already open (", lock_path, " is locked)"));
    }
    return ErrnoToStatus(err, absl::StrCat("flock ", lock_path));
  }
  std::unique_ptr<ImageStore> store(new ImageStore(std::move(root), std::move(options), lock_fd));
  if (!store->options_.translations_file.empty()) {
    const std::string& path = store->options_.translations_file;
    absl::StatusOr<std::string> text = ReadFile(path, 4 << 20);
    if (!text.ok()) return text.status();
    absl::StatusOr<std::shared_ptr<const images_internal::Translations>> t =
        images_internal::Translations::Parse(*text, path, store->options_.translation_prefix);
    if (!t.ok()) return t.status();
    store->translations_ = *t;
  }
  s = store->Load();
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
  // Crash leftovers: pulls in progress, deleted images not yet removed, and
  // index temp files.
  std::string tmp = absl::StrCat(root_, "/tmp");
  for (const std::string& name : ListDir(tmp)) {
    absl::Status s = images_internal::RemoveTree(absl::StrCat(tmp, "/", name));
    if (!s.ok()) return s;
  }
  for (const std::string& name : ListDir(root_)) {
    bool temp = false;
    for (const char* prefix : kIndexTmpPrefixes) {
      temp = temp || absl::StartsWith(name, prefix);
    }
    if (temp) {
      std::string path = absl::StrCat(root_, "/", name);
      if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        return ErrnoToStatus(errno, absl::StrCat("unlink ", path));
      }
    }
  }

  images_internal::IndexMap index;
  std::string index_path = absl::StrCat(root_, "/", kIndexName);
  absl::StatusOr<std::string> text = ReadFile(index_path, 64 << 20);
  if (!text.ok() && !absl::IsNotFound(text.status())) return text.status();
  if (text.ok()) {
    absl::StatusOr<images_internal::IndexMap> parsed =
        images_internal::ParseIndex(*text, index_path);
    if (!parsed.ok()) return parsed.status();
    index = std::move(*parsed);
  }

  // Reconcile with the files on disk.
  bool dirty = false;
  for (auto it = index.begin(); it != index.end();) {
    std::string dir = ImageDir(it->first);
    IndexEntry& e = it->second;
    bool ok;
    if (e.is_bundle) {
      ok = Exists(absl::StrCat(dir, "/vmlinuz"));
      e.has_initrd = Exists(absl::StrCat(dir, "/initrd.img"));
      absl::StatusOr<std::string> cmdline = ReadFile(absl::StrCat(dir, "/cmdline"), 4096);
      if (cmdline.ok()) {
        e.cmdline = std::string(absl::StripTrailingAsciiWhitespace(*cmdline));
      }
    } else {
      ok = Exists(absl::StrCat(dir, "/image"));
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
    fprintf(stderr, "vmmap: image store: removing unindexed %s/%s\n", sha_dir.c_str(),
            name.c_str());
    absl::Status s = images_internal::RemoveTree(absl::StrCat(sha_dir, "/", name));
    if (!s.ok()) return s;
  }

  absl::MutexLock lock(&mu_);
  index_ = std::move(index);
  if (dirty) return PersistLocked();
  return absl::OkStatus();
}

absl::Status ImageStore::PersistLocked() const {
  // Only vmmap reads the index.
  return WriteFileAtomically(absl::StrCat(root_, "/", kIndexName),
                             images_internal::SerializeIndex(index_), 0600);
}

ImageRecord ImageStore::MakeRecord(const std::string& hex, const IndexEntry& e) const {
  ImageRecord r;
  r.id = absl::StrCat(kIdPrefix, hex);
  r.tags = e.tags;
  r.repo_digests = e.repo_digests;
  r.kind = e.is_bundle ? ImageKind::kKernelBundle : ImageKind::kDisk;
  r.size_bytes = e.size_bytes;
  std::string dir = ImageDir(hex);
  if (!e.is_bundle) {
    r.disk_path = absl::StrCat(dir, "/image");
    r.disk_format = images_internal::DiskFormatName(e.disk_format);
  } else {
    r.kernel_path = absl::StrCat(dir, "/vmlinuz");
    if (e.has_initrd) r.initrd_path = absl::StrCat(dir, "/initrd.img");
    r.cmdline = e.cmdline;
  }
  return r;
}

absl::StatusOr<ImageRecord> ImageStore::Find(const std::string& reference) const {
  absl::ReaderMutexLock lock(&mu_);
  absl::StatusOr<images_internal::Resolved> r =
      images_internal::ResolveReference(index_, reference);
  if (!r.ok()) return r.status();
  return MakeRecord(r->hex, index_.at(r->hex));
}

std::vector<ImageRecord> ImageStore::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<ImageRecord> out;
  out.reserve(index_.size());
  for (const auto& [hex, e] : index_) out.push_back(MakeRecord(hex, e));
  return out;
}

absl::Status ImageStore::AcquirePullSlot(absl::Time deadline,
                                         const std::function<bool()>& abandoned) {
  while (true) {
    {
      absl::MutexLock lock(&pulls_mu_);
      auto free_slot = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pulls_mu_) {
        return active_pulls_ < options_.max_concurrent_pulls;
      };
      // Short waits, so that `abandoned` (which takes pulls_mu_) is polled.
      absl::Time until = std::min(deadline, absl::Now() + absl::Milliseconds(200));
      if (pulls_mu_.AwaitWithDeadline(absl::Condition(&free_slot), until)) {
        ++active_pulls_;
        return absl::OkStatus();
      }
    }
    if (absl::Now() >= deadline) break;
    if (abandoned()) return absl::CancelledError("the caller went away");
  }
  {
    return absl::DeadlineExceededError(absl::StrCat(
        "no pull slot became free within the pull time limit (", options_.max_concurrent_pulls,
        " pulls at once: vmmap serve --max-concurrent-pulls; --pull-timeout)"));
  }
}

void ImageStore::ReleasePullSlot() {
  absl::MutexLock lock(&pulls_mu_);
  --active_pulls_;
}

bool ImageStore::PlainHttp(const std::string& domain) const {
  if (images_internal::IsLoopbackRegistry(domain)) return true;
  std::string host = domain.substr(0, domain.rfind(':'));
  for (const std::string& insecure : options_.insecure_registries) {
    if (insecure == domain || insecure == host) return true;
  }
  return false;
}

absl::StatusOr<ImageRecord> ImageStore::Pull(const std::string& reference, const RegistryAuth& auth,
                                             const std::function<bool()>& cancelled) {
  // Callers asking for the same reference with the same credentials share
  // one download: the first runs it, the others wait for its result.
  const std::string key =
      absl::StrCat(reference, "\n", auth.username, "\n", auth.password, "\n", auth.registry_token);
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    absl::MutexLock lock(&pulls_mu_);
    auto it = flights_.find(key);
    if (it == flights_.end()) {
      flight = std::make_shared<Flight>();
      flights_[key] = flight;
      leader = true;
    } else {
      flight = it->second;
    }
  }
  if (!leader) {
    absl::MutexLock lock(&pulls_mu_);
    ++flight->waiting;
    absl::Condition done(
        +[](Flight* f) { return f->done; }, flight.get());
    while (!pulls_mu_.AwaitWithTimeout(done, absl::Milliseconds(200))) {
      if (cancelled && cancelled()) {
        --flight->waiting;
        return absl::CancelledError(absl::StrCat("pull ", reference, ": the caller went away"));
      }
    }
    return flight->result;
  }
  // The download goes on while anyone waits for it.
  std::function<bool()> abandoned = [this, flight, cancelled] {
    bool leader_cancelled = cancelled && cancelled();
    absl::MutexLock lock(&pulls_mu_);
    if (leader_cancelled && !flight->leader_gone) {
      flight->leader_gone = true;
      --flight->waiting;
    }
    return flight->waiting == 0;
  };
  absl::StatusOr<ImageRecord> result = PullOnce(reference, auth, abandoned);
  absl::MutexLock lock(&pulls_mu_);
  flight->result = result;
  flight->done = true;
  flights_.erase(key);
  return result;
}

absl::StatusOr<ImageRecord> ImageStore::PullOnce(const std::string& reference,
                                                 const RegistryAuth& auth,
                                                 const std::function<bool()>& abandoned) {
  // A Virtlet name is pulled from its translation's URL, under its own name.
  std::string source = reference;
  if (translations_) {
    absl::StatusOr<std::optional<std::string>> url = translations_->Translate(reference);
    if (!url.ok()) return url.status();
    if (url->has_value()) source = **url;
  } else if (absl::StartsWith(reference, options_.translation_prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("image ", absl::CHexEscape(reference.substr(0, 300)), ": names under ",
                     options_.translation_prefix,
                     " need image translations (vmmap serve --image-translations FILE)"));
  }
  const bool is_url = images_internal::IsUrlReference(source);
  if (is_url) {
    absl::StatusOr<images_internal::ParsedReference> parsed =
        images_internal::ParseReference(source);
    if (!parsed.ok()) return parsed.status();
  } else {
    absl::StatusOr<images_internal::ImageReference> parsed =
        images_internal::ParseImageReference(reference);
    if (!parsed.ok()) return parsed.status();
  }
  const absl::Time deadline = absl::Now() + absl::FromChrono(options_.pull_timeout);
  absl::Status slot = AcquirePullSlot(deadline, abandoned);
  if (!slot.ok()) return slot;
  struct SlotRelease {
    ImageStore* store;
    ~SlotRelease() { store->ReleasePullSlot(); }
  } slot_release{this};

  // Everything this pull writes lives in `work` until Commit moves the
  // finished image out of it; `work` is removed whatever happens.
  std::string work = absl::StrCat(root_, "/tmp/pull-XXXXXX");
  if (mkdtemp(work.data()) == nullptr) {
    return ErrnoToStatus(errno, absl::StrCat("create ", work));
  }
  struct Cleanup {
    const std::string& dir;
    ~Cleanup() { images_internal::RemoveTree(dir).IgnoreError(); }
  } cleanup{work};

  absl::StatusOr<Staged> staged = is_url ? PullUrl(source, work, deadline, abandoned)
                                         : PullRegistry(reference, auth, work, deadline, abandoned);
  if (!staged.ok()) return staged.status();
  staged->tag = is_url ? reference : staged->tag;
  return Commit(*staged);
}

absl::StatusOr<ImageStore::Staged> ImageStore::PullUrl(const std::string& reference,
                                                       const std::string& work, absl::Time deadline,
                                                       const std::function<bool()>& abandoned) {
  absl::StatusOr<images_internal::ParsedReference> parsed =
      images_internal::ParseReference(reference);
  if (!parsed.ok()) return parsed.status();
  std::string download = absl::StrCat(work, "/download");
  UniqueFd fd(open(download.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoToStatus(errno, absl::StrCat("create ", download));

  images_internal::FetchLimits limits;
  limits.max_bytes = options_.max_image_bytes;
  limits.deadline = deadline;
  limits.file_import_root = options_.file_import_root;
  limits.abandoned = abandoned;
  absl::StatusOr<images_internal::FetchResult> fetched =
      images_internal::Fetch(reference, *parsed, limits, fd.get());
  if (!fetched.ok()) return fetched.status();

  // Verify what actually reached the disk: flush, drop the cached pages so
  // the re-read comes from the device where possible, and hash again.
  if (fsync(fd.get()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("fsync ", download));
  }
  posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  uint64_t stored_size = 0;
  absl::StatusOr<std::string> verify = images_internal::Sha256OfFd(fd.get(), &stored_size);
  if (!verify.ok()) return verify.status();
  if (fetched->sha256_hex.size() != 64) {
    return absl::InternalError("sha256 is unavailable (OpenSSL failed)");
  }
  if (*verify != fetched->sha256_hex || stored_size != fetched->size) {
    return absl::DataLossError(absl::StrCat("pull ", reference,
                                            ": stored bytes do not match what was received ("
                                            "sha256 ",
                                            fetched->sha256_hex, " received, ", *verify,
                                            " stored)"));
  }

  Staged staged;
  staged.hex = fetched->sha256_hex;
  staged.tag = reference;
  staged.entry.size_bytes = fetched->size;
  staged.dir = absl::StrCat(work, "/image");
  if (mkdir(staged.dir.c_str(), 0755) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("mkdir ", staged.dir));
  }
  absl::Status s = Chmod(staged.dir, 0755);
  if (!s.ok()) return s;

  unsigned char head[512] = {0};
  absl::StatusOr<size_t> head_len =
      images_internal::PreadFull(fd.get(), head, sizeof head, 0, download);
  if (!head_len.ok()) return head_len.status();
  if (*head_len >= 4 && memcmp(head, "QFI\xfb", 4) == 0) {
    absl::StatusOr<images_internal::DiskInfo> disk =
        images_internal::InspectDisk(download, reference, Millis(options_.qemu_img_timeout));
    if (!disk.ok()) return disk.status();
    staged.entry.disk_format = disk->format;
  } else if (images_internal::LooksLikeTar(head, *head_len)) {
    staged.entry.is_bundle = true;
    UniqueFd dir_fd(open(staged.dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir_fd.valid()) {
      return ErrnoToStatus(errno, absl::StrCat("open ", staged.dir));
    }
    absl::StatusOr<images_internal::BundleContents> contents =
        images_internal::ExtractBundle(fd.get(), dir_fd.get(), reference);
    if (!contents.ok()) return contents.status();
    staged.entry.has_initrd = contents->has_initrd;
    staged.entry.cmdline = contents->cmdline;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("image ", reference, " (sha256:", staged.hex,
                     ") is neither a qcow2 disk (magic \"QFI\\xfb\") nor a kernel bundle "
                     "(a POSIX tar holding vmlinuz, optionally initrd.img and cmdline)"));
  }
  if (fchmod(fd.get(), 0644) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("chmod ", download));
  }
  fd.Reset();
  s = Rename(download, absl::StrCat(staged.dir, "/image"));
  if (!s.ok()) return s;
  return staged;
}

absl::StatusOr<ImageStore::Staged> ImageStore::PullRegistry(
    const std::string& reference, const RegistryAuth& auth, const std::string& work,
    absl::Time deadline, const std::function<bool()>& abandoned) {
  absl::StatusOr<images_internal::ImageReference> ref =
      images_internal::ParseImageReference(reference);
  if (!ref.ok()) return ref.status();
  images_internal::RegistryPullRequest request;
  request.ref = *ref;
  request.auth = auth;
  request.plain_http = PlainHttp(ref->domain);
  request.deadline = deadline;
  request.abandoned = abandoned;
  request.max_bytes = options_.max_image_bytes;
  request.work_dir = work;
  absl::StatusOr<images_internal::RegistryPullResult> pulled =
      images_internal::PullFromRegistry(request);
  if (!pulled.ok()) return pulled.status();

  Staged staged;
  staged.hex = pulled->config_digest.substr(7);
  staged.tag = ref->TagRef();
  staged.repo_digest = absl::StrCat(ref->Name(), "@", pulled->manifest_digest);
  staged.entry.size_bytes = pulled->size;
  staged.dir = absl::StrCat(work, "/image");
  if (mkdir(staged.dir.c_str(), 0755) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("mkdir ", staged.dir));
  }
  absl::Status s = Chmod(staged.dir, 0755);
  if (!s.ok()) return s;
  const images_internal::VmImageFiles& files = pulled->files;
  // Files are moved under fixed names: no name from the image is a path.
  auto place = [&](const std::string& from, const char* name) {
    std::string to = absl::StrCat(staged.dir, "/", name);
    absl::Status moved = Rename(from, to);
    if (!moved.ok()) return moved;
    moved = Chmod(to, 0644);
    if (!moved.ok()) return moved;
    return images_internal::FsyncPath(to);
  };
  if (files.is_disk) {
    absl::StatusOr<images_internal::DiskInfo> disk = images_internal::InspectDisk(
        files.disk, absl::StrCat(ref->Canonical(), " (/", files.disk_name, ")"),
        Millis(options_.qemu_img_timeout));
    if (!disk.ok()) return disk.status();
    staged.entry.disk_format = disk->format;
    s = place(files.disk, "image");
    if (!s.ok()) return s;
  } else {
    staged.entry.is_bundle = true;
    s = place(files.kernel, "vmlinuz");
    if (!s.ok()) return s;
    if (!files.initrd.empty()) {
      staged.entry.has_initrd = true;
      s = place(files.initrd, "initrd.img");
      if (!s.ok()) return s;
    }
    staged.entry.cmdline = files.cmdline;
    if (!files.cmdline.empty()) {
      s = WriteFileAtomically(absl::StrCat(staged.dir, "/cmdline"), files.cmdline + "\n", 0644);
      if (!s.ok()) return s;
    }
  }
  s = images_internal::FsyncPath(staged.dir);
  if (!s.ok()) return s;
  return staged;
}

absl::StatusOr<ImageRecord> ImageStore::Commit(Staged& staged) {
  absl::MutexLock lock(&mu_);
  images_internal::IndexMap before = index_;
  if (index_.count(staged.hex) == 0) {
    // Not pulled concurrently by someone else: commit the staged directory.
    std::string final_dir = ImageDir(staged.hex);
    absl::Status s = images_internal::RemoveTree(final_dir);  // unindexed
    if (!s.ok()) return s;
    s = Rename(staged.dir, final_dir);
    if (!s.ok()) return s;
    s = images_internal::FsyncPath(absl::StrCat(root_, "/sha256"));
    if (!s.ok()) return s;
    index_[staged.hex] = staged.entry;
  }
  if (!staged.tag.empty()) images_internal::AddTag(index_, staged.hex, staged.tag);
  if (!staged.repo_digest.empty()) {
    images_internal::AddRepoDigest(index_, staged.hex, staged.repo_digest);
  }
  absl::Status s = PersistLocked();
  if (!s.ok()) {
    // The directory, if just committed, is unindexed and removed by the next
    // Open or replaced by the next pull of the same image.
    index_ = std::move(before);
    return s;
  }
  return MakeRecord(staged.hex, index_.at(staged.hex));
}

absl::Status ImageStore::Remove(const std::string& reference, const InUseFn& in_use) {
  std::string hex;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<images_internal::Resolved> resolved =
        images_internal::ResolveReference(index_, reference);
    if (!resolved.ok()) return resolved.status();
    hex = resolved->hex;
    IndexEntry& e = index_.at(hex);
    if (!resolved->matched_ref.empty() && !resolved->is_digest_ref && e.tags.size() > 1) {
      // One tag of several: the image stays for the others.
      IndexEntry saved = e;
      e.tags.erase(std::remove(e.tags.begin(), e.tags.end(), resolved->matched_ref), e.tags.end());
      absl::Status s = PersistLocked();
      if (!s.ok()) index_[hex] = std::move(saved);
      return s;
    }
  }
  std::string id = absl::StrCat(kIdPrefix, hex);
  if (in_use) {
    std::optional<std::string> user = in_use(id);
    if (user.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat("image ", id, " is in use by ", *user));
    }
  }
  std::string trash;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(hex);
    if (it == index_.end()) {
      return absl::NotFoundError(absl::StrCat("image ", id, " not found"));
    }
    IndexEntry saved = it->second;
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
  if (current->kind != ImageKind::kDisk) {
    return absl::FailedPreconditionError(
        absl::StrCat("image ", current->id, " is a kernel image; only disk images take overlays"));
  }
  if (overlay_path.empty() || overlay_path[0] != '/' ||
      overlay_path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("overlay path must be absolute: ", absl::CHexEscape(overlay_path)));
  }
  if (Exists(overlay_path)) {
    return absl::AlreadyExistsError(absl::StrCat("overlay ", overlay_path, " already exists"));
  }
  absl::StatusOr<images_internal::ProgramOutput> created =
      images_internal::RunProgram({"qemu-img", "create", "-q", "-f", "qcow2", "-F",
                                   current->disk_format, "-b", current->disk_path, overlay_path},
                                  Millis(options_.qemu_img_timeout), 64 << 10);
  return created.status();
}

absl::StatusOr<FsUsage> ImageStore::Usage() const {
  FsUsage usage;
  char real[PATH_MAX];
  if (realpath(root_.c_str(), real) == nullptr) {
    return ErrnoToStatus(errno, absl::StrCat("realpath ", root_));
  }
  std::string path = real;
  std::ifstream mountinfo("/proc/self/mountinfo");
  if (!mountinfo) return absl::InternalError("cannot read /proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 5) continue;
    std::string mp = UnescapeMount(f[4]);
    bool covers = mp == "/" || path == mp || (absl::StartsWith(path, mp) && path[mp.size()] == '/');
    // Later lines are mounted on top of earlier ones: >= keeps the last.
    if (covers && mp.size() >= usage.mountpoint.size()) usage.mountpoint = mp;
  }
  if (usage.mountpoint.empty()) {
    return absl::InternalError(absl::StrCat("no mount in /proc/self/mountinfo holds ", path));
  }
  absl::Status s = images_internal::WalkUsage(root_, &usage.used_bytes, &usage.inodes_used);
  if (!s.ok()) return s;
  return usage;
}

}  // namespace vmmap
