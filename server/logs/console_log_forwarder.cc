#include "server/logs/console_log_forwarder.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace vmmap {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

absl::Status ErrnoError(const std::string& what, const std::string& path, int err) {
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

// ------------------------------------------------------------- sanitizing

// Length of the valid UTF-8 sequence starting at raw[i] (a byte >= 0x80):
// n > 0 valid, 0 invalid, -1 a valid prefix cut off by the end of `raw`.
int Utf8SequenceLength(std::string_view raw, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(raw[k]); };
  const unsigned char c = byte(i);
  int n;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the first continuation byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // continuation byte, overlong lead (C0, C1), or F5..FF
  }
  for (int k = 1; k < n; ++k) {
    if (i + k >= raw.size()) return -1;
    const unsigned char b = byte(i + k);
    const unsigned char min = k == 1 ? lo : 0x80;
    const unsigned char max = k == 1 ? hi : 0xBF;
    if (b < min || b > max) return 0;
  }
  return n;
}

struct SanitizeResult {
  size_t consumed = 0;  // raw bytes turned into output
  bool full = false;    // stopped because the next character would not fit
};

// Appends the sanitized form of a prefix of `raw` to `out`, stopping before
// `out` would exceed `max_out` bytes. '\r' is dropped; tab and printable
// characters are kept; everything else (C0 controls, DEL, C1 controls, bytes
// that are not valid UTF-8) becomes one '?' per byte or character. Unless
// `final`, a UTF-8 sequence cut off by the end of `raw` is left unconsumed so
// a later pass can complete it.
SanitizeResult Sanitize(std::string_view raw, size_t max_out, bool final, std::string* out) {
  SanitizeResult result;
  size_t i = 0;
  while (i < raw.size()) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    size_t in_len = 1;
    std::string_view emit;
    if (c == '\r') {
      emit = std::string_view();
    } else if (c == '\t' || (c >= 0x20 && c < 0x7F)) {
      emit = raw.substr(i, 1);
    } else if (c < 0x80) {
      emit = "?";
    } else {
      const int n = Utf8SequenceLength(raw, i);
      if (n < 0 && !final) break;
      if (n <= 0) {
        emit = "?";
      } else {
        in_len = static_cast<size_t>(n);
        // U+0080..U+009F (C1 controls, e.g. 0x9B is a CSI) encode as C2 80..C2 9F.
        const bool c1 = c == 0xC2 && static_cast<unsigned char>(raw[i + 1]) < 0xA0;
        emit = c1 ? std::string_view("?") : raw.substr(i, in_len);
      }
    }
    if (out->size() + emit.size() > max_out) {
      result.full = true;
      break;
    }
    out->append(emit.data(), emit.size());
    i += in_len;
  }
  result.consumed = i;
  return result;
}

// "2026-11-22T19:30:00.123456789Z"
std::string CriTimestamp(absl::Time now) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", now, absl::UTCTimeZone());
}

void AppendCriLine(const std::string& timestamp, bool full, const std::string& text,
                   std::string* out) {
  out->append(timestamp);
  out->append(full ? " stdout F " : " stdout P ");
  out->append(text);
  out->push_back('\n');
}

// Emits all of `raw` as one logical line: P chunks of at most kMaxLineBytes,
// the last one tagged F if `complete`, else P.
void EmitAll(std::string_view raw, bool complete, const std::string& timestamp, std::string* out) {
  do {
    std::string text;
    SanitizeResult r = Sanitize(raw, ConsoleLogForwarder::kMaxLineBytes, /*final=*/true, &text);
    raw.remove_prefix(r.consumed);
    AppendCriLine(timestamp, raw.empty() ? complete : false, text, out);
  } while (!raw.empty());
}

// ----------------------------------------------------------------- files

// mkdir -p with mode 0755 for every missing component.
absl::Status MakeDirs(const fs::path& dir) {
  fs::path partial;
  for (const fs::path& part : dir) {
    partial /= part;
    if (partial == partial.root_path()) continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoError("cannot create directory", partial.string(), errno);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> OpenLog(const std::string& path) {
  if (absl::Status s = MakeDirs(fs::path(path).parent_path()); !s.ok()) return s;
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoError("cannot open container log", path, errno);
  return fd;
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write container log", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// The saved offset; 0 if there is none. A corrupt file also means 0
// (duplicated lines are better than lost ones).
int64_t LoadOffset(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[64];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  int64_t offset = 0;
  if (n <= 0 || !absl::SimpleAtoi(std::string(buf, static_cast<size_t>(n)), &offset) ||
      offset < 0) {
    std::fprintf(stderr, "vmmap: console log forwarder: ignoring unreadable %s\n", path.c_str());
    return 0;
  }
  return offset;
}

// Frees the disk blocks of console bytes [0, end) (rounded down to whole
// blocks); the file keeps its size, and a writer appending meanwhile is
// unaffected. Releasing a range again is harmless.
absl::Status ReleaseConsolePrefix(int fd, int64_t end, const std::string& path) {
  constexpr int64_t kBlock = 4096;
  const int64_t length = end / kBlock * kBlock;
  if (length <= 0) return absl::OkStatus();
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, length) != 0) {
    return ErrnoError("cannot release forwarded bytes of console", path, errno);
  }
  return absl::OkStatus();
}

absl::Status SaveOffset(const std::string& path, int64_t offset) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", tmp, errno);
  absl::Status s = WriteAll(fd, absl::StrCat(offset, "\n"), tmp);
  if (close(fd) != 0 && s.ok()) s = ErrnoError("cannot write", tmp, errno);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoError("cannot rename", tmp, errno);
  if (!s.ok()) unlink(tmp.c_str());
  return s;
}

}  // namespace

// ------------------------------------------------------------------ tails

struct ConsoleLogForwarder::Tail {
  absl::Mutex mu;
  // Everything below is guarded by mu.
  bool resolved = false;     // log_path / skip computed from the configs
  bool skip = false;         // no log_directory, log_path or console
  std::string log_path;      // log_directory + "/" + log_path
  std::string console_path;  // set even if skip: its bytes are released unread
  std::string offset_path;   // <container dir>/console.offset
  bool loaded = false;       // `committed` read from offset_path
  int64_t committed = 0;     // console bytes already represented in the CRI log
  int64_t saved = 0;         // the value offset_path holds
  int64_t released = 0;      // console bytes [0, released) have no disk blocks
  std::string pending;       // console bytes after `committed`, held back
  SteadyClock::time_point pending_since;
  int log_fd = -1;
  std::string last_error;  // last message printed to stderr

  ~Tail() {
    if (log_fd >= 0) close(log_fd);
  }

  void CloseLog() {
    if (log_fd >= 0) close(log_fd);
    log_fd = -1;
  }

  absl::Status Resolve(StateStore* store, const ContainerRecord& record) {
    if (resolved) return absl::OkStatus();
    absl::StatusOr<SandboxRecord> sandbox = store->GetSandbox(record.sandbox_id);
    if (!sandbox.ok()) return sandbox.status();
    const std::string& log_directory = sandbox->config.log_directory;
    const std::string& container_log_path = record.config.log_path;
    resolved = true;
    console_path = record.console_path;
    skip = log_directory.empty() || container_log_path.empty() || record.console_path.empty();
    if (skip) return absl::OkStatus();
    log_path = absl::StrCat(log_directory, "/", container_log_path);
    offset_path = (fs::path(console_path).parent_path() / "console.offset").string();
    return absl::OkStatus();
  }

  void Report(const std::string& id, const absl::Status& status) {
    if (status.ok()) {
      last_error.clear();
      return;
    }
    std::string message = status.ToString();
    if (message == last_error) return;
    std::fprintf(stderr, "vmmap: console log forwarder: container %s: %s\n", id.c_str(),
                 message.c_str());
    last_error = std::move(message);
  }
};

ConsoleLogForwarder::ConsoleLogForwarder(StateStore* store, std::chrono::milliseconds interval,
                                         std::chrono::milliseconds partial_timeout,
                                         const Clock* clock, int64_t max_console_bytes)
    : store_(store),
      interval_(interval),
      partial_timeout_(partial_timeout),
      clock_(clock != nullptr ? clock : Clock::Real()),
      max_console_bytes_(max_console_bytes > 0 ? max_console_bytes : kDefaultMaxConsoleBytes) {}

ConsoleLogForwarder::~ConsoleLogForwarder() { Stop(); }

void ConsoleLogForwarder::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void ConsoleLogForwarder::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ConsoleLogForwarder::Run() {
  std::string last_list_error;
  std::unique_lock<std::mutex> lock(wake_mu_);
  while (!stop_) {
    lock.unlock();
    bool listed = true;
    absl::Status s = SyncAll(&listed);  // per-container errors are reported already
    if (!listed && s.ToString() != last_list_error) {
      last_list_error = s.ToString();
      std::fprintf(stderr, "vmmap: console log forwarder: %s\n", last_list_error.c_str());
    } else if (listed) {
      last_list_error.clear();
    }
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

absl::StatusOr<std::shared_ptr<ConsoleLogForwarder::Tail>> ConsoleLogForwarder::TailFor(
    const ContainerRecord& record) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Tail>& tail = tails_[record.id];
  if (tail == nullptr) tail = std::make_shared<Tail>();
  return tail;
}

absl::Status ConsoleLogForwarder::SyncOnce() {
  bool listed = true;
  return SyncAll(&listed);
}

absl::Status ConsoleLogForwarder::SyncAll(bool* listed) {
  absl::StatusOr<std::vector<ContainerRecord>> records = store_->ListContainers();
  if (!records.ok()) {
    *listed = false;
    return records.status();
  }
  absl::Status first_error;
  absl::flat_hash_set<std::string> live;
  for (const ContainerRecord& record : *records) {
    live.insert(record.id);
    if (record.pending) continue;
    absl::StatusOr<std::shared_ptr<Tail>> tail = TailFor(record);
    if (!tail.ok()) continue;
    absl::Status s;
    {
      absl::MutexLock lock(&(*tail)->mu);
      s = SyncTail(**tail, record);
      (*tail)->Report(record.id, s);
    }
    if (!s.ok() && first_error.ok()) {
      first_error =
          absl::Status(s.code(), absl::StrCat("container ", record.id, ": ", s.message()));
    }
  }
  // Forget removed containers (closing their log files).
  std::vector<std::shared_ptr<Tail>> dropped;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = tails_.begin(); it != tails_.end();) {
      if (live.contains(it->first)) {
        ++it;
      } else {
        dropped.push_back(std::move(it->second));
        tails_.erase(it++);
      }
    }
  }
  dropped.clear();  // closes outside mu_ (unless Reopen still holds one)
  return first_error;
}

absl::Status ConsoleLogForwarder::SyncContainer(const std::string& container_id) {
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(container_id);
  if (!record.ok()) return record.status();
  if (record->pending) return absl::OkStatus();
  absl::StatusOr<std::shared_ptr<Tail>> tail = TailFor(*record);
  if (!tail.ok()) return tail.status();
  absl::MutexLock lock(&(*tail)->mu);
  absl::Status s = SyncTail(**tail, *record);
  (*tail)->Report(record->id, s);
  return s;
}

absl::Status ConsoleLogForwarder::Reopen(const std::string& container_id) {
  absl::StatusOr<ContainerRecord> record = store_->GetContainer(container_id);
  if (!record.ok()) return record.status();
  absl::StatusOr<std::shared_ptr<Tail>> tail = TailFor(*record);
  if (!tail.ok()) return tail.status();
  Tail& t = **tail;
  absl::MutexLock lock(&t.mu);
  if (absl::Status s = t.Resolve(store_, *record); !s.ok()) return s;
  if (t.skip) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", container_id, " has no log path"));
  }
  t.CloseLog();
  absl::StatusOr<int> fd = OpenLog(t.log_path);
  if (!fd.ok()) return fd.status();
  t.log_fd = *fd;
  return absl::OkStatus();
}

absl::Status ConsoleLogForwarder::SyncTail(Tail& tail, const ContainerRecord& record) {
  if (absl::Status s = tail.Resolve(store_, record); !s.ok()) return s;
  if (tail.skip) return DiscardConsole(tail);
  if (!tail.loaded) {
    tail.committed = LoadOffset(tail.offset_path);
    tail.saved = tail.committed;
    tail.pending.clear();
    tail.loaded = true;
  }
  const bool exited = record.state == ContainerState::kExited;
  const SteadyClock::time_point now = clock_->SteadyNow();
  const std::string timestamp = CriTimestamp(clock_->WallNow());

  // Everything is computed into locals and committed only once the CRI lines
  // are written, so a failed write is retried by the next pass.
  int64_t start = tail.committed;
  std::string work = tail.pending;  // raw bytes from `start` on
  bool truncated = false;
  bool at_eof = true;
  std::string out;

  // Read-write only to release forwarded bytes (fallocate needs a writable fd).
  int fd = open(tail.console_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) return ErrnoError("cannot open console", tail.console_path, errno);
  if (fd >= 0) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int err = errno;
      close(fd);
      return ErrnoError("cannot stat console", tail.console_path, err);
    }
    int64_t read_from = start + static_cast<int64_t>(work.size());
    if (st.st_size < read_from) {
      // Truncated: what was held back ended there; start over from byte 0.
      truncated = true;
      if (!work.empty()) EmitAll(work, /*complete=*/true, timestamp, &out);
      work.clear();
      start = 0;
      read_from = 0;
      tail.released = 0;
    }
    if (const int64_t unread = st.st_size - read_from; unread > max_console_bytes_) {
      // The guest outran the forwarder: skip the oldest unread bytes. A
      // held-back partial line ends where the gap begins.
      const int64_t dropped = unread - max_console_bytes_;
      if (!work.empty()) EmitAll(work, /*complete=*/true, timestamp, &out);
      AppendCriLine(timestamp, /*full=*/true,
                    absl::StrCat("[vmmap: ", dropped,
                                 " bytes of console output dropped: the guest wrote more than ",
                                 max_console_bytes_, " bytes faster than they were forwarded]"),
                    &out);
      work.clear();
      start = read_from + dropped;
      read_from = start;
    }
    const int64_t available = st.st_size - read_from;
    const size_t want = static_cast<size_t>(std::min<int64_t>(available, kMaxReadPerPass));
    at_eof = static_cast<int64_t>(want) == available;
    const size_t base = work.size();
    work.resize(base + want);
    size_t got = 0;
    while (got < want) {
      ssize_t n = pread(fd, &work[base + got], want - got, read_from + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        close(fd);
        return ErrnoError("cannot read console", tail.console_path, err);
      }
      if (n == 0) break;  // shrank meanwhile; the next pass notices
      got += static_cast<size_t>(n);
    }
    work.resize(base + got);
  }
  // Closes `fd` on every return below.
  std::unique_ptr<int, void (*)(int*)> console_fd(fd >= 0 ? &fd : nullptr,
                                                  [](int* f) { close(*f); });

  // Complete lines.
  std::string_view rest(work);
  bool emitted = false;
  for (size_t nl; (nl = rest.find('\n')) != std::string_view::npos;) {
    EmitAll(rest.substr(0, nl), /*complete=*/true, timestamp, &out);
    rest.remove_prefix(nl + 1);
    emitted = true;
  }
  // An unterminated line: full-size chunks go out as P now.
  for (;;) {
    std::string text;
    SanitizeResult r = Sanitize(rest, kMaxLineBytes, /*final=*/false, &text);
    if (!r.full) break;
    AppendCriLine(timestamp, /*full=*/false, text, &out);
    rest.remove_prefix(r.consumed);
    emitted = true;
  }
  // The remainder is held back unless it is stale or can no longer grow.
  SteadyClock::time_point since =
      (emitted || tail.pending.empty() || truncated) ? now : tail.pending_since;
  if (!rest.empty()) {
    const bool final = exited && at_eof;
    if (final || now - since > partial_timeout_) {
      EmitAll(rest, /*complete=*/final, timestamp, &out);
      rest = std::string_view();
    }
  }

  if (!out.empty()) {
    if (tail.log_fd < 0) {
      absl::StatusOr<int> log_fd = OpenLog(tail.log_path);
      if (!log_fd.ok()) return log_fd.status();
      tail.log_fd = *log_fd;
    }
    if (absl::Status s = WriteAll(tail.log_fd, out, tail.log_path); !s.ok()) return s;
  }

  const int64_t end = start + static_cast<int64_t>(work.size());
  const int64_t committed = end - static_cast<int64_t>(rest.size());
  tail.committed = committed;
  tail.pending.assign(rest.data(), rest.size());
  tail.pending_since = since;
  if (exited && at_eof && tail.pending.empty()) tail.CloseLog();  // nothing more will come
  if (tail.saved != tail.committed) {
    if (absl::Status s = SaveOffset(tail.offset_path, tail.committed); !s.ok()) return s;
    tail.saved = tail.committed;
  }
  // Only bytes the saved offset covers are released: a restart never needs them.
  if (fd >= 0 && tail.saved - tail.released >= kReleaseStep) {
    if (absl::Status s = ReleaseConsolePrefix(fd, tail.saved, tail.console_path); !s.ok()) {
      return s;
    }
    tail.released = tail.saved;
  }
  return absl::OkStatus();
}

absl::Status ConsoleLogForwarder::DiscardConsole(Tail& tail) {
  if (tail.console_path.empty()) return absl::OkStatus();
  int fd = open(tail.console_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT ? absl::OkStatus()
                           : ErrnoError("cannot open console", tail.console_path, errno);
  }
  struct stat st;
  absl::Status s;
  if (fstat(fd, &st) != 0) {
    s = ErrnoError("cannot stat console", tail.console_path, errno);
  } else if (st.st_size < tail.released) {
    tail.released = 0;  // truncated meanwhile
  } else if (st.st_size - tail.released >= kReleaseStep) {
    s = ReleaseConsolePrefix(fd, st.st_size, tail.console_path);
    if (s.ok()) tail.released = st.st_size;
  }
  close(fd);
  return s;
}

}  // namespace vmmap
