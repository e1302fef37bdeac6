// Per-object locks (sandbox or container id): a change to one object never
// blocks calls on another. An entry lives only while someone holds or waits
// for it, so the table is bounded by the calls in flight, not by every id
// ever seen.
//
// Lock order: a sandbox's lock before its container's; never the reverse.
#ifndef VMMAP_SERVER_RUNTIME_LOCK_TABLE_H_
#define VMMAP_SERVER_RUNTIME_LOCK_TABLE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace vmmap {

class LockTable {
 private:
  struct Entry {
    absl::Mutex mu;
    int users = 0;  // holders and waiters; guarded by LockTable::mu_
  };

 public:
  // Holds one object's lock until destroyed (if held()).
  class Guard {
   public:
    Guard(Guard&& other) noexcept
        : table_(other.table_),
          id_(std::move(other.id_)),
          entry_(other.entry_),
          held_(other.held_) {
      other.table_ = nullptr;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;
    ~Guard();
    bool held() const { return held_; }

   private:
    friend class LockTable;
    Guard(LockTable* table, std::string id, Entry* entry, bool held)
        : table_(table), id_(std::move(id)), entry_(entry), held_(held) {}
    LockTable* table_;
    std::string id_;
    Entry* entry_;
    bool held_;
  };

  // Blocks until `id`'s lock is held.
  Guard Lock(const std::string& id);
  // Never blocks: held() is false if another call holds the lock.
  Guard TryLock(const std::string& id);

  // Entries alive now (for tests: 0 when no call is in flight).
  size_t size() const;

 private:
  Entry* Acquire(const std::string& id);
  void Release(const std::string& id);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmap

#endif  // VMMAP_SERVER_RUNTIME_LOCK_TABLE_H_
