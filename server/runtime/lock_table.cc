#include "server/runtime/lock_table.h"

namespace vmmap {

LockTable::Guard::~Guard() {
  if (table_ == nullptr) return;
  if (held_) entry_->mu.Unlock();
  table_->Release(id_);
}

LockTable::Entry* LockTable::Acquire(const std::string& id) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Entry>& entry = entries_[id];
  if (!entry) entry = std::make_unique<Entry>();
  ++entry->users;
  return entry.get();  // stable: erased only when users drops to 0
}

void LockTable::Release(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it != entries_.end() && --it->second->users == 0) entries_.erase(it);
}

LockTable::Guard LockTable::Lock(const std::string& id) {
  Entry* entry = Acquire(id);
  entry->mu.Lock();
  return Guard(this, id, entry, true);
}

LockTable::Guard LockTable::TryLock(const std::string& id) {
  Entry* entry = Acquire(id);
  const bool held = entry->mu.TryLock();
  return Guard(this, id, entry, held);
}

size_t LockTable::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace vmmap
