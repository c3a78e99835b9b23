#pragma once
#include <cstdint>
#include <vector>

namespace tirai::store {

// The send ids of one session's messages, as 64-bit hashes mapped to their
// seqs: open addressing with linear probing in one array, so checking a send
// id for a retry costs one cache miss and storing one allocates only when
// the table doubles (a node-based map cost a third of the store thread's
// time at full load, chasing pointers through a cold heap).
class SendIdTable {
 public:
  // The seq stored under `hash`; 0 when none.
  std::int64_t find(std::uint64_t hash) const {
    if (entries_.empty()) return 0;
    const auto mask = entries_.size() - 1;
    for (auto i = hash & mask;; i = (i + 1) & mask) {
      const auto& e = entries_[i];
      if (e.seq == 0) return 0;
      if (e.hash == hash) return e.seq;
    }
  }

  // Stores `seq` (> 0) under `hash`, replacing what was there.
  void put(std::uint64_t hash, std::int64_t seq) {
    if ((size_ + 1) * 2 > entries_.size()) grow();
    if (place(entries_, hash, seq)) ++size_;
  }

  std::size_t size() const { return size_; }

 private:
  struct Entry {
    std::uint64_t hash = 0;
    std::int64_t seq = 0;  // 0: empty
  };

  // True when a new entry was taken, false when an existing one was replaced.
  static bool place(std::vector<Entry>& entries, std::uint64_t hash, std::int64_t seq) {
    const auto mask = entries.size() - 1;
    for (auto i = hash & mask;; i = (i + 1) & mask) {
      auto& e = entries[i];
      if (e.seq == 0) {
        e = {hash, seq};
        return true;
      }
      if (e.hash == hash) {
        e.seq = seq;
        return false;
      }
    }
  }

  void grow() {
    std::vector<Entry> bigger(entries_.empty() ? 16 : entries_.size() * 2);
    for (const auto& e : entries_)
      if (e.seq != 0) place(bigger, e.hash, e.seq);
    entries_.swap(bigger);
  }

  std::vector<Entry> entries_;  // size: zero or a power of two, at most half full
  std::size_t size_ = 0;
};

}  // namespace tirai::store
