// Longer than the other files on purpose: the scanner is one pass over the
// text and the tables it reads as it goes (digit look-alikes and other
// scripts, invisible characters, number words in Indonesian and English,
// messenger hosts and labels). Apart, none of those pieces means anything.
#include "relay/messaging/contact_guard.hpp"

#include <algorithm>
#include <array>
#include <span>

namespace tirai::relay {

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool alnum(char c) { return digit(c) || alpha(c); }
bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
char tolower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), tolower_ascii);
  return out;
}

using Span = ContactScanner::Span;

// Where a byte of the text the scan reads came from: bytes [begin, end) of
// the message; `word` when it is a digit the message spelled out.
struct Origin {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool word = false;
};

// The text a finder reads, and where each of its bytes came from. An empty
// `from` means the text is the message itself.
struct View {
  std::string_view text;
  std::span<const Origin> from;

  Origin origin(std::size_t i) const { return from.empty() ? Origin{i, i + 1} : from[i]; }
  // A span of `text` as the bytes of the message it covers: from where its
  // first byte came from to where its last byte came from, so an invisible
  // character just after a number stays outside its span.
  Span original(Span s) const { return {origin(s.begin).begin, origin(s.end - 1).end}; }
};

// A rewritten copy of the message, in buffers that are reused.
struct Rewritten {
  std::string text;
  std::vector<Origin> from;

  void clear() {
    text.clear();
    from.clear();
  }
  void push(char c, Origin o) {
    text.push_back(c);
    from.push_back(o);
  }
  View view() const { return {text, from}; }
};

// The code point starting at t[i] and its length in bytes. A byte that does
// not start a well-formed sequence (a stray continuation byte, an overlong
// form, a cut-off end) reads as `invalid`, one byte long.
constexpr char32_t invalid = 0xFFFFFFFF;
std::pair<char32_t, std::size_t> decode(std::string_view t, std::size_t i) {
  const auto b = static_cast<unsigned char>(t[i]);
  if (b < 0x80) return {b, 1};
  const std::size_t len = b >= 0xC2 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xF0 && b < 0xF5 ? 4 : 0;
  if (len == 0 || i + len > t.size()) return {invalid, 1};
  char32_t c = b & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) {
    const auto cont = static_cast<unsigned char>(t[i + k]);
    if ((cont & 0xC0) != 0x80) return {invalid, 1};
    c = (c << 6) | (cont & 0x3F);
  }
  const bool shortest = len == 2 || (len == 3 && c >= 0x800) || (len == 4 && c >= 0x10000 && c <= 0x10FFFF);
  if (!shortest || (c >= 0xD800 && c <= 0xDFFF)) return {invalid, 1};
  return {c, len};
}

// The first code point (the zero) of each block of ten decimal digits that
// people could type or paste instead of 0-9: Arabic-Indic, Extended
// Arabic-Indic, the scripts of South and South-East Asia (Javanese, Balinese
// and Sundanese among them), full-width, and the mathematical digits.
constexpr char32_t digit_zeros[] = {
    0x0660,  0x06F0,  0x07C0,  0x0966,  0x09E6,  0x0A66,  0x0AE6,  0x0B66,  0x0BE6,  0x0C66,  0x0CE6,  0x0D66,
    0x0DE6,  0x0E50,  0x0ED0,  0x0F20,  0x1040,  0x1090,  0x17E0,  0x1810,  0x1946,  0x19D0,  0x1A80,  0x1A90,
    0x1B50,  0x1BB0,  0x1C40,  0x1C50,  0xA9D0,  0xFF10,  0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0xA8D0};

// How the scan reads a character that is not ASCII: as an ASCII character
// (a digit in another script, a full-width form, a space or dash of another
// kind), as nothing (an invisible format character or a combining mark,
// which could sit between the digits of a number), or as itself (`keep`).
constexpr int keep = -1;
constexpr int drop = 0;
int fold(char32_t c) {
  for (const char32_t zero : digit_zeros)
    if (c >= zero && c <= zero + 9) return '0' + static_cast<int>(c - zero);
  if (c >= 0xFF01 && c <= 0xFF5E) return static_cast<int>(c - 0xFF01) + '!';  // full-width ASCII
  struct Run {
    char32_t first, last;
    int as;  // what the first of the run reads as; a digit counts up along the run
  };
  static constexpr Run runs[] = {
      {0x00B2, 0x00B3, '2'}, {0x00B9, 0x00B9, '1'}, {0x2070, 0x2070, '0'}, {0x2074, 0x2079, '4'},  // superscript
      {0x2080, 0x2089, '0'},                                                                          // subscript
      {0x2460, 0x2468, '1'}, {0x24EA, 0x24EA, '0'}, {0x24FF, 0x24FF, '0'}, {0x2776, 0x277E, '1'},  // circled
      {0x2780, 0x2788, '1'}, {0x278A, 0x2792, '1'},
      {0x00A0, 0x00A0, ' '}, {0x1680, 0x1680, ' '}, {0x2000, 0x200A, ' '}, {0x202F, 0x202F, ' '},  // spaces
      {0x205F, 0x205F, ' '}, {0x3000, 0x3000, ' '},
      {0x2010, 0x2015, '-'}, {0x2212, 0x2212, '-'}, {0xFE58, 0xFE58, '-'}, {0xFE63, 0xFE63, '-'},  // dashes
      {0x00B7, 0x00B7, '.'}, {0x2022, 0x2022, '.'}, {0x2024, 0x2024, '.'}, {0x2027, 0x2027, '.'},  // dots
      {0x066B, 0x066B, '.'}, {0x30FB, 0x30FB, '.'}, {0xFF61, 0xFF61, '.'},
      {0x00AD, 0x00AD, drop}, {0x0300, 0x036F, drop}, {0x061C, 0x061C, drop}, {0x180B, 0x180F, drop},
      {0x200B, 0x200F, drop}, {0x202A, 0x202E, drop}, {0x2060, 0x206F, drop}, {0x20D0, 0x20FF, drop},
      {0xFE00, 0xFE0F, drop}, {0xFEFF, 0xFEFF, drop},
  };
  for (const auto& r : runs) {
    if (c < r.first || c > r.last) continue;
    const bool counts = r.as >= '0' && r.as <= '9';
    return counts ? r.as + static_cast<int>(c - r.first) : r.as;
  }
  if ((c >= 0xE0000 && c <= 0xE007F) || (c >= 0xE0100 && c <= 0xE01EF)) return drop;  // tags, variation selectors
  return keep;
}

// `text` with the characters above folded, or `text` itself (no copy) when
// it is all ASCII, as most messages are.
View fold_unicode(std::string_view text, Rewritten& out) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return {text, {}};
  out.clear();
  for (std::size_t i = 0; i < text.size();) {
    const auto [c, len] = decode(text, i);
    const int as = c < 0x80 || c == invalid ? keep : fold(c);
    if (as == keep) {
      for (std::size_t k = i; k < i + len; ++k) out.push(text[k], {k, k + 1});
    } else if (as != drop) {
      out.push(static_cast<char>(as), {i, i + len});
    }
    i += len;
  }
  return out.view();
}

// The digit a letter stands for inside a number, as in "o8l2": O for 0; l,
// I and i for 1; S for 5. '\0' for any other character.
char digit_letter(char c) {
  switch (c) {
    case 'o': case 'O': return '0';
    case 'l': case 'I': case 'i': return '1';
    case 's': case 'S': return '5';
    default: return '\0';
  }
}

// Whether `w`, a run of letters and digits, is a number with letters for
// some of its digits: it has a digit, and each letter stands for one. An S
// only between two digits, so that "80s" stays a decade; "lol" or "Oil",
// with no digit, stay words.
bool letters_for_digits(std::string_view w) {
  bool has_digit = false, has_letter = false;
  for (std::size_t k = 0; k < w.size(); ++k) {
    if (digit(w[k])) {
      has_digit = true;
      continue;
    }
    if (!digit_letter(w[k])) return false;
    const bool s = w[k] == 's' || w[k] == 'S';
    if (s && (k == 0 || k + 1 == w.size() || !digit(w[k - 1]) || !digit(w[k + 1]))) return false;
    has_letter = true;
  }
  return has_digit && has_letter;
}

// Whether `w` is `lower` in any case.
bool equals_lower(std::string_view w, std::string_view lower) {
  return w.size() == lower.size() &&
         std::equal(w.begin(), w.end(), lower.begin(), [](char a, char b) { return tolower_ascii(a) == b; });
}

// Number words in Indonesian and English, and the digit each stands for.
// "oh" and "o" are how English speakers say a zero in a number; "double" and
// "triple" say the next digit two or three times.
struct NumberWord {
  std::string_view word;
  char digit;  // for "double" and "triple", how many times
};
constexpr NumberWord number_words[] = {
    {"nol", '0'},  {"kosong", '0'}, {"satu", '1'}, {"dua", '2'},     {"tiga", '3'},  {"empat", '4'},
    {"lima", '5'}, {"enam", '6'},   {"tujuh", '7'}, {"delapan", '8'}, {"lapan", '8'}, {"sembilan", '9'},
    {"zero", '0'}, {"oh", '0'},     {"o", '0'},    {"one", '1'},     {"two", '2'},   {"three", '3'},
    {"four", '4'}, {"five", '5'},   {"six", '6'},  {"seven", '7'},   {"eight", '8'}, {"nine", '9'}};
constexpr NumberWord repeat_words[] = {{"double", 2}, {"dobel", 2}, {"triple", 3}, {"tripel", 3}};

// For each first letter, the lengths (as bits) of the number and repeat
// words that start with it: most words of a message are told apart from
// every number word by one look-up.
constexpr auto number_word_shapes = [] {
  std::array<unsigned, 26> shapes{};
  for (const auto& w : number_words) shapes[w.word[0] - 'a'] |= 1u << w.word.size();
  for (const auto& w : repeat_words) shapes[w.word[0] - 'a'] |= 1u << w.word.size();
  return shapes;
}();

bool maybe_number_word(std::string_view w) {
  if (w.empty() || w.size() > 8 || !alpha(w[0])) return false;
  return (number_word_shapes[tolower_ascii(w[0]) - 'a'] >> w.size()) & 1u;
}

// The digit the number word `w` stands for, or '\0'.
char word_digit(std::string_view w) {
  if (!maybe_number_word(w)) return '\0';
  for (const auto& x : number_words)
    if (equals_lower(w, x.word)) return x.digit;
  return '\0';
}

// How many times "double" or "triple" says the next digit, or 0.
int repeat_count(std::string_view w) {
  if (!maybe_number_word(w)) return 0;
  for (const auto& x : repeat_words)
    if (equals_lower(w, x.word)) return x.digit;
  return 0;
}

// The end of the run of letters and digits that starts at t[b].
std::size_t run_end(std::string_view t, std::size_t b) {
  while (b < t.size() && alnum(t[b])) ++b;
  return b;
}

// `v` with number words ("nol delapan satu dua", "oh eight one two double
// three") and the letters that stand for digits read as those digits, for
// the phone search; `v` itself (no copy) when it has neither.
View read_digits(View v, Rewritten& out) {
  const std::string_view t = v.text;
  bool rewriting = false;
  std::size_t copied = 0;  // t[0, copied) is in `out`
  auto rewrite_from = [&](std::size_t b) {
    if (!rewriting) out.clear();
    rewriting = true;
    for (; copied < b; ++copied) out.push(t[copied], v.origin(copied));
  };
  for (std::size_t b = 0; b < t.size();) {
    if (!alnum(t[b])) {
      ++b;
      continue;
    }
    std::size_t e = b;
    bool letters_only = true;
    for (; e < t.size() && alnum(t[e]); ++e) letters_only = letters_only && alpha(t[e]);
    const auto w = t.substr(b, e - b);
    char d = letters_only ? word_digit(w) : '\0';
    int times = 1;
    if (const int n = d || !letters_only ? 0 : repeat_count(w)) {  // "double three", "triple 0"
      std::size_t nb = e;
      while (nb < t.size() && t[nb] == ' ') ++nb;
      const std::size_t ne = run_end(t, nb);
      const auto next = t.substr(nb, ne - nb);
      d = next.size() == 1 && digit(next[0]) ? next[0] : word_digit(next);
      if (d) {
        times = n;
        e = ne;
      }
    }
    if (d) {
      rewrite_from(b);
      for (int k = 0; k < times; ++k) out.push(d, {v.origin(b).begin, v.origin(e - 1).end, true});
      copied = e;
      // What stands between two number words ("satu, dua", "dua - tiga")
      // reads as one space, as it does between digits.
      std::size_t k = e;
      while (k < t.size() && k - e < 3 && (t[k] == ' ' || t[k] == ',' || t[k] == '-' || t[k] == '.' || t[k] == '/'))
        ++k;
      if (k > e && k < t.size() && (digit(t[k]) || word_digit(t.substr(k, run_end(t, k) - k)))) {
        out.push(' ', {v.origin(e).begin, v.origin(k - 1).end});
        copied = k;
      }
    } else if (!letters_only && letters_for_digits(w)) {
      rewrite_from(b);
      for (; copied < e; ++copied) out.push(digit(t[copied]) ? t[copied] : digit_letter(t[copied]), v.origin(copied));
    }
    b = e;
  }
  if (!rewriting) return v;
  for (; copied < t.size(); ++copied) out.push(t[copied], v.origin(copied));
  return out.view();
}

// What the finders read: `folded`, the message with its characters folded,
// and `digits`, that with letters read as digits, for the phone search.
// Views into this thread's buffers, good until the next call on the thread.
struct Normalised {
  View folded;
  View digits;
};
Normalised normalise(std::string_view text) {
  thread_local Rewritten folded, digits;
  const View f = fold_unicode(text, folded);
  return {f, read_digits(f, digits)};
}

// "0812/3456/7890" too: a date has too few digits to pass for a number, and
// a range of dates is told apart by only_dates.
bool separator(char c) { return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')' || c == '_'; }

// The word just before `pos` (lowercase), skipping spaces.
std::string word_before(std::string_view t, std::size_t pos) {
  std::size_t e = pos;
  while (e > 0 && space(t[e - 1])) --e;
  std::size_t b = e;
  while (b > 0 && !space(t[b - 1]) && !digit(t[b - 1])) --b;
  return lowered(t.substr(b, e - b));
}

// The word just after `pos` (lowercase), skipping spaces.
std::string word_after(std::string_view t, std::size_t pos) {
  std::size_t b = pos;
  while (b < t.size() && space(t[b])) ++b;
  std::size_t e = b;
  while (e < t.size() && alpha(t[e])) ++e;
  return lowered(t.substr(b, e - b));
}

// Money, not a phone number: "Rp 1.500.000", "300 ribu", "IDR 250000".
bool price_context(std::string_view t, std::size_t begin, std::size_t end) {
  const auto before = word_before(t, begin);
  for (std::string_view p : {"rp", "rp.", "idr", "$", "usd", "harga", "total", "dp"})
    if (before.size() >= p.size() && before.compare(before.size() - p.size(), p.size(), p) == 0) return true;
  const auto after = word_after(t, end);
  for (std::string_view s : {"rb", "ribu", "k", "jt", "juta", "rupiah", "idr", "perak"})
    if (after == s) return true;
  return false;
}

// Whether the digit groups of a run are dates and nothing else, one after
// another: day, month, year ("01/12/2026-05/12/2026") or year, month, day.
// A phone number's are not: 0812/3456/7890 has no day, month and year.
bool only_dates(std::string_view t, std::span<const Span> groups) {
  auto value = [&](const Span& g) {
    int n = 0;
    for (std::size_t k = g.begin; k < g.end; ++k) n = n * 10 + (t[k] - '0');
    return n;
  };
  auto day_month = [&](const Span& d, const Span& m) {
    return d.end - d.begin <= 2 && m.end - m.begin <= 2 && value(d) >= 1 && value(d) <= 31 && value(m) >= 1 &&
           value(m) <= 12;
  };
  auto year = [&](const Span& y) { return y.end - y.begin == 4 && value(y) >= 1900 && value(y) <= 2099; };
  if (groups.empty() || groups.size() % 3 != 0) return false;
  for (std::size_t g = 0; g < groups.size(); g += 3) {
    const bool dmy = day_month(groups[g], groups[g + 1]) && year(groups[g + 2]);
    const bool ymd = year(groups[g]) && day_month(groups[g + 2], groups[g + 1]);
    if (!dmy && !ymd) return false;
  }
  return true;
}

// Phone numbers in `v`, as spans of the message.
void find_phones(View v, std::size_t carried, std::vector<Span>& out) {
  const std::string_view t = v.text;
  std::size_t i = 0;
  bool first_run = true;
  while (i < t.size()) {
    const bool plus = t[i] == '+' && i + 1 < t.size() && (digit(t[i + 1]) || t[i + 1] == ' ');
    if (!plus && !digit(t[i])) {
      if (!space(t[i])) first_run = false;
      ++i;
      continue;
    }
    const std::size_t begin = i;
    std::size_t j = plus ? i + 1 : i;
    std::size_t digits = 0, spoken = 0, end = j;
    std::string leading;
    // Each digit one more than the last, one less, or the same.
    bool counting = true;
    int step = 0;
    std::array<Span, 9> groups;  // the run's digit groups, if no more than 9
    std::size_t group_count = 0;
    while (j < t.size()) {
      if (digit(t[j])) {
        if (leading.size() < 2) leading.push_back(t[j]);
        if (digits > 0) {
          const int diff = t[j] - t[end - 1];
          if (digits == 1) step = diff;
          counting = counting && diff == step && diff >= -1 && diff <= 1;
        }
        if (digits == 0 || j != end) {  // after a separator: a new group
          if (group_count < groups.size()) groups[group_count] = {j, j + 1};
          ++group_count;
        } else if (group_count <= groups.size()) {
          groups[group_count - 1].end = j + 1;
        }
        ++digits;
        if (v.origin(j).word) ++spoken;
        end = ++j;
        continue;
      }
      // Up to two separators in a row, and only when the number goes on.
      std::size_t k = j;
      while (k < t.size() && k - j < 2 && separator(t[k])) ++k;
      if (k > j && k < t.size() && digit(t[k])) {
        j = k;
        continue;
      }
      break;
    }
    const bool local_or_intl = plus || leading.rfind('0', 0) == 0 || leading == "62";
    // Nobody spells out eight digits in a row but to give a number, or to
    // count: "one two three four …" is counting and "oh oh oh …" a cry,
    // whatever their length.
    bool phone = (digits >= 10 && local_or_intl) || digits >= 11 || spoken >= 8;
    if (spoken >= 4 && digits >= 8 && counting) phone = false;
    if (phone && group_count <= groups.size() && only_dates(t, {groups.data(), group_count})) phone = false;
    // The second half of a number split across two messages.
    if (!phone && first_run && carried > 0 && digits >= 3 && carried + digits >= 10) phone = true;
    if (phone && price_context(t, begin, end)) phone = false;
    if (phone) out.push_back(v.original({begin, end}));
    first_run = false;
    i = std::max(end, begin + 1);
  }
}

bool email_local(char c) { return alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
bool domain_char(char c) { return alnum(c) || c == '.' || c == '-'; }
bool handle_char(char c) { return alnum(c) || c == '_' || c == '.'; }

void find_emails_and_handles(std::string_view t, std::vector<Span>& out) {
  for (std::size_t at = 0; at < t.size(); ++at) {
    if (t[at] != '@') continue;
    std::size_t b = at;
    while (b > 0 && email_local(t[b - 1])) --b;
    std::size_t e = at + 1;
    while (e < t.size() && domain_char(t[e])) ++e;
    while (e > at + 1 && (t[e - 1] == '.' || t[e - 1] == '-')) --e;
    const auto domain = t.substr(at + 1, e - at - 1);
    const auto dot = domain.rfind('.');
    const bool tld = dot != std::string_view::npos && domain.size() - dot - 1 >= 2 &&
                     std::all_of(domain.begin() + static_cast<std::ptrdiff_t>(dot) + 1, domain.end(), alpha);
    if (b < at && tld) {
      out.push_back({b, e});
      at = e;
      continue;
    }
    if (b == at) {  // an @handle, not glued to a word before it
      std::size_t h = at + 1;
      while (h < t.size() && handle_char(t[h])) ++h;
      while (h > at + 1 && t[h - 1] == '.') --h;
      if (h - at - 1 >= 2) {
        out.push_back({at, h});
        at = h;
      }
    }
  }
}

struct Token {
  std::size_t begin, end;
  std::string_view word;  // lowercase, without surrounding punctuation (a view into the lowered text)
};

// `lower` is `t` lowercased: tokens view it rather than each holding a copy.
void tokens(std::string_view t, std::string_view lower, std::vector<Token>& out) {
  out.clear();
  std::size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && space(t[i])) ++i;
    std::size_t b = i;
    while (i < t.size() && !space(t[i])) ++i;
    if (i == b) break;
    std::string_view w = lower.substr(b, i - b);
    while (!w.empty() && (w.back() == ':' || w.back() == ',' || w.back() == '!' || w.back() == '?' ||
                          w.back() == '=' || w.back() == ')' || (w.back() == '.' && w.size() > 1)))
      w.remove_suffix(1);
    while (!w.empty() && (w.front() == '(' || w.front() == '['))
      w.remove_prefix(1);
    if (!w.empty() && w.back() == ']') w.remove_suffix(1);
    out.push_back({b, i, w});
  }
}

// "nama at gmail dot com", "nama (at) yahoo.co.id".
void find_spelled_emails(const std::vector<Token>& tok, std::vector<Span>& out) {
  static constexpr std::array providers = {"gmail", "yahoo", "ymail", "hotmail", "outlook", "icloud", "protonmail", "proton"};
  for (std::size_t k = 0; k < tok.size(); ++k) {
    const auto& w = tok[k].word;
    const bool provider = std::any_of(providers.begin(), providers.end(),
                                      [&](std::string_view p) { return w.substr(0, p.size()) == p; });
    if (!provider || k == 0) continue;
    const auto& prev = tok[k - 1].word;
    if (prev != "at" && prev != "@" && prev != "et") continue;
    std::size_t first = k >= 2 ? k - 2 : k - 1;
    std::size_t last = k;
    if (k + 2 < tok.size() && (tok[k + 1].word == "dot" || tok[k + 1].word == "titik")) last = k + 2;
    out.push_back({tok[first].begin, tok[last].end});
  }
}

void find_links(std::string_view t, std::string_view l, std::vector<Span>& out) {
  static constexpr std::array<std::string_view, 24> hosts = {
      "wa.me/",       "whatsapp.com", "wa.link/",    "t.me/",         "telegram.me/", "telegram.dog/",
      "instagram.com", "instagr.am",  "ig.me/",      "line.me/",      "lin.ee/",      "facebook.com",
      "fb.com/",      "fb.me/",       "m.me/",       "tiktok.com",    "twitter.com",  "x.com/",
      "snapchat.com", "discord.gg/",  "discord.com/", "linktr.ee/",   "bit.ly/",      "s.id/"};
  // Every host has a dot, so only the text's dots are tried: a host occurs
  // at s exactly when the text has a dot at s + (where the host's first dot
  // is). Most texts have no dot and cost one memchr.
  static constexpr auto first_dot = [] {
    std::array<std::size_t, hosts.size()> d{};
    for (std::size_t i = 0; i < hosts.size(); ++i) d[i] = hosts[i].find('.');
    return d;
  }();
  for (std::size_t dot = l.find('.'); dot != std::string_view::npos; dot = l.find('.', dot + 1)) {
    for (std::size_t h = 0; h < hosts.size(); ++h) {
      if (dot < first_dot[h]) continue;
      const std::size_t pos = dot - first_dot[h];
      if (l.compare(pos, hosts[h].size(), hosts[h]) != 0) continue;
      if (pos > 0 && !space(l[pos - 1]) && l[pos - 1] != '/' && l[pos - 1] != '.' && l[pos - 1] != ':' &&
          l[pos - 1] != '(')
        continue;
      std::size_t b = pos;
      while (b > 0 && !space(t[b - 1])) --b;
      std::size_t e = pos;
      while (e < t.size() && !space(t[e])) ++e;
      out.push_back({b, e});
    }
  }
}

// "IG: natasha.cute", "WA aku 0812…", "line: natasha99", "tele @nat". A label
// counts when a colon follows it or its value looks like a handle, so that
// "aku lagi scroll twitter" or "the line at the bank" stay untouched.
void find_labels(std::string_view t, const std::vector<Token>& tok, std::vector<Span>& out) {
  static constexpr std::array<std::string_view, 14> loose = {
      "ig",      "insta",   "instagram", "wa",  "whatsapp", "watsap", "wasap",
      "telegram", "snapchat", "tiktok",  "twitter", "facebook", "kik",   "discord"};
  static constexpr std::array<std::string_view, 6> strict = {"line", "tele", "tg", "sc", "fb", "snap"};
  static constexpr std::array<std::string_view, 31> filler = {
      "aku", "ku",  "saya", "gue",  "gw",   "me",   "id",  "ya",  "dong", "ke",     "di",    "is",   "my",  "nya",  "-",
      "=",   ":",   "nih",  "kak",  "kakak", "sayang", "say", "dear", "nanti", "aja", "dulu", "sekarang", "yuk", "sis",
      "bro", "please"};
  auto in = [](auto& list, std::string_view w) { return std::find(list.begin(), list.end(), w) != list.end(); };
  auto has_colon = [&](const Token& x) {
    const auto raw = t.substr(x.begin, x.end - x.begin);
    return raw.find(':') != std::string_view::npos || raw.find('=') != std::string_view::npos;
  };
  for (std::size_t k = 0; k < tok.size(); ++k) {
    const auto& w = tok[k].word;
    if (!in(loose, w) && !in(strict, w) && w != "idline") continue;
    bool colon = has_colon(tok[k]);
    std::size_t v = k + 1, skipped = 0;
    while (v < tok.size() && skipped < 2 && (tok[v].word.empty() || in(filler, tok[v].word))) {
      colon = colon || has_colon(tok[v]);
      ++v;
      ++skipped;
    }
    if (v >= tok.size()) continue;
    const auto& value = tok[v].word;
    const bool value_ok = value.size() >= 3 && !in(filler, value) && std::all_of(value.begin(), value.end(), [](char c) {
                            return handle_char(c) || c == '@' || c == '-' || c == '+' || c == '#';
                          });
    if (!value_ok) continue;
    const bool looks_like_handle = std::any_of(value.begin(), value.end(), [](char c) {
      return digit(c) || c == '_' || c == '.' || c == '@' || c == '#';
    });
    const bool line_id = (w == "line" || w == "idline") && k + 1 < tok.size() && tok[k + 1].word == "id";
    if (in(strict, w) && !colon && !line_id) continue;
    if (!colon && !looks_like_handle) continue;
    out.push_back({tok[k].begin, tok[v].end});
  }
}

}  // namespace

std::vector<ContactScanner::Span> ContactScanner::scan(std::string_view message, std::size_t carried_digits) const {
  // The finders read the message folded (see normalise) and find spans of
  // that text, which are mapped back to the message's own bytes.
  const auto [v, digits] = normalise(message);
  const std::string_view text = v.text;
  std::vector<Span> found;
  find_emails_and_handles(text, found);
  // Every message is scanned on the relay's thread: the lowercase copy and
  // the tokens reuse this thread's buffers.
  thread_local std::string lower;
  thread_local std::vector<Token> tok;
  lower.assign(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), tolower_ascii);
  tokens(text, lower, tok);
  find_spelled_emails(tok, found);
  find_links(text, lower, found);
  find_labels(text, tok, found);
  for (auto& s : found) s = v.original(s);
  // A phone number has digits, written or spelled out.
  if (std::any_of(digits.text.begin(), digits.text.end(), digit)) find_phones(digits, carried_digits, found);
  // Merge overlaps, so every detail is hidden once and whole.
  std::sort(found.begin(), found.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::vector<Span> merged;
  for (const auto& s : found) {
    if (!merged.empty() && s.begin <= merged.back().end) merged.back().end = std::max(merged.back().end, s.end);
    else merged.push_back(s);
  }
  return merged;
}

std::size_t ContactScanner::trailing_digits(std::string_view message) {
  // Most messages end in a sign or an ordinary word that no folding or
  // reading turns into a digit: those need no normalising.
  std::size_t last = message.size();
  while (last > 0 && space(message[last - 1])) --last;
  if (last == 0) return 0;
  const auto ascii = [](char c) { return static_cast<unsigned char>(c) < 0x80; };
  const char end = message[last - 1];
  if (ascii(end) && !alnum(end) && !separator(end)) return 0;
  if (alpha(end)) {
    std::size_t b = last;
    while (b > 0 && alpha(message[b - 1])) --b;
    const bool whole_word = b == 0 || (ascii(message[b - 1]) && !digit(message[b - 1]));
    if (whole_word && !word_digit(message.substr(b, last - b))) return 0;
  }
  const std::string_view text = normalise(message).digits.text;
  std::size_t e = text.size();
  while (e > 0 && space(text[e - 1])) --e;
  std::size_t digits = 0;
  std::size_t i = e;
  while (i > 0) {
    if (digit(text[i - 1])) {
      ++digits;
      --i;
    } else if (separator(text[i - 1]) && i > 1 && digit(text[i - 2])) {
      --i;
    } else {
      break;
    }
  }
  return digits >= 3 ? digits : 0;
}

std::string ContactScanner::redact(std::string_view text, const std::vector<Span>& spans) {
  std::string out;
  std::size_t pos = 0;
  for (const auto& s : spans) {
    out.append(text.substr(pos, s.begin - pos));
    out.append("[hidden]");
    pos = s.end;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace tirai::relay
