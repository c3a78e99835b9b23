#pragma once
#include <string.h>

#include <cstddef>
#include <string>

namespace tirai::proto {

// Overwrites memory that held a secret, a token or a real number before it is
// freed or reused; explicit_bzero is not optimised away.
inline void wipe(void* p, std::size_t n) noexcept {
  if (p && n) ::explicit_bzero(p, n);
}

// Overwrites `bytes` of the calling thread's stack below the caller's frame,
// where the frames of calls that just returned (a parser's buffers, copies of
// a secret) were.
[[gnu::noinline]] inline void wipe_stack_below(std::size_t bytes = 32 * 1024) noexcept {
  unsigned char* pad = static_cast<unsigned char*>(__builtin_alloca(bytes));
  wipe(pad, bytes);
}

// Wipes the whole buffer a string owns (its capacity, not just its size),
// then empties it.
inline void wipe(std::string& s) noexcept {
  wipe(s.data(), s.capacity());
  s.clear();
}

}  // namespace tirai::proto

namespace tirai::proto {

// Wipes the strings it was given when its scope ends, whichever return
// leaves it (for functions with many early answers).
class WipeOnExit {
 public:
  WipeOnExit(std::string* a, std::string* b = nullptr, std::string* c = nullptr) noexcept : s_{a, b, c} {}
  ~WipeOnExit() {
    for (auto* s : s_)
      if (s) wipe(*s);
  }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::string* s_[3];
};

}  // namespace tirai::proto

namespace tirai::proto {

// A std::string that wipes its buffer when it goes, so that a move (which
// leaves a short string's characters behind in the moved-from object) or a
// copy leaves no readable trace. For numbers and secrets in requests.
class WipedString : public std::string {
 public:
  using std::string::string;
  WipedString() = default;
  WipedString(const std::string& s) : std::string(s) {}
  WipedString(std::string&& s) noexcept : std::string(std::move(s)) { wipe(s); }
  WipedString(const WipedString&) = default;
  WipedString(WipedString&&) = default;
  WipedString& operator=(const WipedString&) = default;
  WipedString& operator=(WipedString&&) = default;
  ~WipedString() { wipe(*this); }
};

}  // namespace tirai::proto
