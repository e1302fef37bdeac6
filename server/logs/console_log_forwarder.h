// Forwards each VM's serial console into the CRI container log kubelet reads.
//
// libvirt/QEMU append the guest's serial output to
// `<state-dir>/containers/<id>/console.log` (ContainerRecord::console_path).
// Kubelet (`kubectl logs`) reads `PodSandboxConfig.log_directory + "/" +
// ContainerConfig.log_path` in the CRI log format:
//
//   <RFC3339Nano UTC timestamp> stdout <F|P> <text>\n
//
// Each pass reads the console bytes appended since the previous pass and
// appends one CRI line per console line (tag F). A trailing line without a
// newline is held back until a later pass completes it; if it stays
// incomplete longer than `partial_timeout` it is written as P (more may
// follow), and once the container is EXITED it is written as F. Lines longer
// than kMaxLineBytes are split into P chunks ending with an F. The guest is
// untrusted: '\r' is dropped, and bytes that are not valid UTF-8 or are
// control characters (C0 except tab, DEL, C1) become '?'. Timestamps are the
// time vmmap read the bytes (the console carries none).
//
// The read position is persisted per container in `<container dir>/console.offset`
// (temp file + rename, after the CRI lines were written), so a restarted vmmap
// continues where the previous one stopped: nothing is lost, and at most the
// lines of one interrupted pass are duplicated (a crash between the log write
// and the rename). A console file smaller than the saved offset was truncated
// and is read again from the start.
//
// The console file is bounded (a guest that writes forever must not fill the
// node's disk): console bytes already forwarded are released with
// fallocate(PUNCH_HOLE) — the file keeps its size, so offsets stay valid and
// QEMU's concurrent O_APPEND writes are never lost or overwritten — and if
// more than `max_console_bytes` are waiting unread (the guest writes faster
// than a pass forwards), the oldest are skipped and the CRI log gets one
// marker line saying how many bytes were dropped. A container without a CRI
// log path has its console released unread. Disk use of a console file is
// thus at most `max_console_bytes` plus what the guest writes in one
// interval. The CRI log itself is kubelet's to rotate (containerLogMaxSize,
// then ReopenContainerLog).
//
// The CRI log file is kept open (O_APPEND) per container, like containerd does:
// after kubelet renames it for rotation, writes keep going to the rotated file
// until Reopen() creates a new one at the configured path. The descriptor is
// closed once an EXITED container's console is drained, and when the container
// leaves the store.
//
// Thread-safety: all methods may be called from any thread. Work on one
// container is serialized by a per-container mutex held during its file I/O;
// the map of containers is locked only for lookups. Errors for one container
// are logged to stderr (once per distinct message) and never stop the others.
#ifndef VMMAP_SERVER_LOGS_CONSOLE_LOG_FORWARDER_H_
#define VMMAP_SERVER_LOGS_CONSOLE_LOG_FORWARDER_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/base/clock.h"
#include "server/state/state_store.h"

namespace vmmap {

class ConsoleLogForwarder {
 public:
  // Longest text of one CRI log line; longer console lines are split.
  static constexpr size_t kMaxLineBytes = 16 * 1024;
  // Most console bytes read per container per pass (the rest waits for the
  // next pass, so one chatty guest cannot starve the others).
  static constexpr size_t kMaxReadPerPass = 8 * 1024 * 1024;
  // Default bound on unread console bytes: kubelet's containerLogMaxSize.
  static constexpr int64_t kDefaultMaxConsoleBytes = 10 * 1024 * 1024;
  // Forwarded console bytes are released in steps of at least this much.
  static constexpr int64_t kReleaseStep = 1024 * 1024;

  // `store` must outlive the forwarder. `interval` is the Start() thread's
  // period (real time: it only paces the thread); `partial_timeout` is how
  // long an unterminated line is held back, measured on `clock`'s steady
  // reading; CRI line timestamps are its wall reading. `clock` nullptr:
  // Clock::Real(); otherwise it must outlive the forwarder.
  // `max_console_bytes` (> 0) bounds each console file (see above).
  ConsoleLogForwarder(StateStore* store, std::chrono::milliseconds interval,
                      std::chrono::milliseconds partial_timeout = std::chrono::seconds(1),
                      const Clock* clock = nullptr,
                      int64_t max_console_bytes = kDefaultMaxConsoleBytes);
  ~ConsoleLogForwarder();  // Stop()s and closes every log file
  ConsoleLogForwarder(const ConsoleLogForwarder&) = delete;
  ConsoleLogForwarder& operator=(const ConsoleLogForwarder&) = delete;

  // Runs SyncOnce() every `interval` on a background thread until Stop().
  // Calling Start() while running does nothing.
  void Start();
  // Wakes and joins the background thread (finishing its current pass).
  // Idempotent; Start() may be called again afterwards.
  void Stop();

  // One pass over every non-pending container in the store. Returns the
  // first per-container error (after processing all of them), or the store's
  // error if listing failed.
  absl::Status SyncOnce();

  // One pass over a single container, e.g. right after StopContainer marked
  // it EXITED so its last output (including an unterminated line) is in the
  // CRI log before the call returns. NotFound if the container is unknown.
  absl::Status SyncContainer(const std::string& container_id);

  // For CRI ReopenContainerLog: closes the current CRI log file and creates
  // (O_CREAT|O_APPEND) a new one at the configured path; later writes go
  // there. NotFound if the container is unknown, FailedPrecondition if it has
  // no log path. Does not check the container's state.
  absl::Status Reopen(const std::string& container_id);

 private:
  struct Tail;

  // Looks up or creates the tail for `record` (its paths are resolved lazily).
  absl::StatusOr<std::shared_ptr<Tail>> TailFor(const ContainerRecord& record);
  absl::Status SyncTail(Tail& tail, const ContainerRecord& record);
  // For a container without a CRI log: releases its console bytes unread.
  absl::Status DiscardConsole(Tail& tail);
  // One pass over the store; `listed` tells whether listing succeeded.
  absl::Status SyncAll(bool* listed);
  void Run();

  StateStore* const store_;
  const std::chrono::milliseconds interval_;
  const std::chrono::milliseconds partial_timeout_;
  const Clock* const clock_;
  const int64_t max_console_bytes_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Tail>> tails_ ABSL_GUARDED_BY(mu_);

  std::mutex lifecycle_mu_;  // serializes Start() and Stop(); guards thread_
  std::thread thread_;
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by wake_mu_
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_LOGS_CONSOLE_LOG_FORWARDER_H_
