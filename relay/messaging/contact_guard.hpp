#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tirai::relay {

// Finds contact details in message text, the way people really write them:
// phone numbers with spaces, dashes, dots or slashes, with letters for some
// digits ("o8l2": O for 0; l, I, i for 1; S for 5 between digits) or
// spelled out in Indonesian or English words ("nol delapan satu dua …",
// "oh eight one two double three …"); numbers split across two messages; e-mail addresses (also "nama at gmail dot com");
// @handles; links to WhatsApp, Telegram, Instagram, LINE, Facebook, TikTok and
// the like; and labels such as "IG: nama" or "WA aku 0812…". Digits of
// other scripts and full-width forms read as 0-9, and invisible format
// characters (U+200B and the like) as nothing, so neither hides a number.
// Prices ("Rp 300.000", "300rb"), times ("22:00"), dates and ordinary numbers
// are not contact details. Pure text processing: no state, no I/O.
class ContactScanner {
 public:
  struct Span {
    std::size_t begin = 0;
    std::size_t end = 0;
  };

  // Contact details in `text`, as byte ranges, in order and not overlapping.
  // `carried_digits` is the length of the digit run that ended the sender's
  // previous message in this session (see trailing_digits): a number split in
  // two is found in its second half.
  std::vector<Span> scan(std::string_view text, std::size_t carried_digits = 0) const;

  // How many phone digits end `text` (after trailing spaces), to carry into
  // the next message's scan; 0 when it does not end in digits.
  static std::size_t trailing_digits(std::string_view text);

  // `text` with every span replaced by "[hidden]".
  static std::string redact(std::string_view text, const std::vector<Span>& spans);
};

}  // namespace tirai::relay
