#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace tirai::crypto {

// Many 32-byte keys in few sodium_malloc regions. One sodium_malloc per key
// costs three memory mappings (the key and its guard pages), and a process
// may hold only about 65,000: a relay with 20,000 live sessions would run out.
// The arena hands out slots from 32 KiB chunks, each one guarded, locked and
// wiped like any sodium_malloc memory; a slot is wiped when it is returned.
// Not thread-safe: one arena per owning thread (the store's).
class KeyArena {
 public:
  static constexpr std::size_t key_bytes = 32;
  static constexpr std::size_t slots_per_chunk = 1024;

  // A key in the arena; move-only; wipes and returns its slot on destruction.
  class Key {
   public:
    Key() = default;
    Key(Key&& o) noexcept : arena_(o.arena_), slot_(o.slot_) { o.slot_ = nullptr; }
    Key& operator=(Key&& o) noexcept;
    Key(const Key&) = delete;
    Key& operator=(const Key&) = delete;
    ~Key();
    std::span<const std::uint8_t> bytes() const { return {slot_, key_bytes}; }
    std::span<std::uint8_t> writable() { return {slot_, key_bytes}; }
    explicit operator bool() const { return slot_ != nullptr; }

   private:
    friend class KeyArena;
    Key(KeyArena* arena, std::uint8_t* slot) : arena_(arena), slot_(slot) {}
    KeyArena* arena_ = nullptr;
    std::uint8_t* slot_ = nullptr;
  };

  KeyArena() = default;
  ~KeyArena();
  KeyArena(const KeyArena&) = delete;
  KeyArena& operator=(const KeyArena&) = delete;

  // A zeroed slot. Throws std::bad_alloc when sodium_malloc fails.
  Key acquire();
  // A slot holding fresh random key material.
  Key random();
  std::size_t in_use() const { return in_use_; }

 private:
  void release(std::uint8_t* slot);
  std::vector<std::uint8_t*> chunks_;
  std::vector<std::uint8_t*> free_;
  std::size_t in_use_ = 0;
};

// A short sensitive string (a phone number: at most 31 bytes) kept in a slot
// of an arena instead of the heap, so it is locked, guarded and wiped. Owned
// by the arena's thread, like the arena.
class ArenaText {
 public:
  static constexpr std::size_t max_bytes = KeyArena::key_bytes - 1;
  // Throws std::length_error past max_bytes.
  ArenaText(KeyArena& arena, std::string_view text);
  std::string_view view() const {
    const auto b = slot_.bytes();
    return {reinterpret_cast<const char*>(b.data() + 1), b[0]};
  }

 private:
  KeyArena::Key slot_;
};

}  // namespace tirai::crypto
