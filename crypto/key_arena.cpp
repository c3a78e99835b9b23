#include "crypto/key_arena.hpp"

#include "crypto/random.hpp"

#include <sodium.h>

#include <cstring>
#include <new>
#include <stdexcept>

namespace tirai::crypto {

KeyArena::Key& KeyArena::Key::operator=(Key&& o) noexcept {
  if (this != &o) {
    if (slot_) arena_->release(slot_);
    arena_ = o.arena_;
    slot_ = o.slot_;
    o.slot_ = nullptr;
  }
  return *this;
}

KeyArena::Key::~Key() {
  if (slot_) arena_->release(slot_);
}

KeyArena::~KeyArena() {
  for (auto* c : chunks_) sodium_free(c);  // wipes
}

KeyArena::Key KeyArena::acquire() {
  if (free_.empty()) {
    ensure_sodium();
    auto* chunk = static_cast<std::uint8_t*>(sodium_malloc(key_bytes * slots_per_chunk));
    if (!chunk) throw std::bad_alloc();
    sodium_memzero(chunk, key_bytes * slots_per_chunk);
    chunks_.push_back(chunk);
    for (std::size_t i = slots_per_chunk; i-- > 0;) free_.push_back(chunk + i * key_bytes);
  }
  auto* slot = free_.back();
  free_.pop_back();
  ++in_use_;
  return Key(this, slot);
}

KeyArena::Key KeyArena::random() {
  auto k = acquire();
  randombytes_buf(k.slot_, key_bytes);
  return k;
}

void KeyArena::release(std::uint8_t* slot) {
  sodium_memzero(slot, key_bytes);
  free_.push_back(slot);
  --in_use_;
}

ArenaText::ArenaText(KeyArena& arena, std::string_view text) : slot_(arena.acquire()) {
  if (text.size() > max_bytes) throw std::length_error("ArenaText: text too long");
  auto w = slot_.writable();
  w[0] = static_cast<std::uint8_t>(text.size());
  std::memcpy(w.data() + 1, text.data(), text.size());
}

}  // namespace tirai::crypto
