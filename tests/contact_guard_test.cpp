#include "relay/messaging/contact_guard.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <fstream>

using tirai::relay::ContactScanner;

namespace {
std::string redacted(std::string_view text, std::size_t carried = 0) {
  ContactScanner s;
  return ContactScanner::redact(text, s.scan(text, carried));
}
}  // namespace

TEST_CASE("phone numbers as people write them are hidden", "[contact]") {
  CHECK(redacted("WA aku 081234567890 ya") == "[hidden] ya");
  CHECK(redacted("nomorku +62 812-3456-7890.") == "nomorku [hidden].");
  CHECK(redacted("0812.3456.7890") == "[hidden]");
  CHECK(redacted("0 8 1 2 3 4 5 6 7 8 9 0") == "[hidden]");
  CHECK(redacted("O812 3456 789O ini") == "[hidden] ini");
  CHECK(redacted("(0812) 3456-7890") == "([hidden]");
}

TEST_CASE("prices, times, dates and ordinary numbers are left alone", "[contact]") {
  for (const char* text : {"Rp 300.000 untuk 30 menit", "300rb", "harga 2.500.000", "jam 22:00", "22.00 - 23.00",
                           "2026-11-22 22:00", "tgl 14-02-1995", "kamar 1203 lantai 12", "IDR 750000"}) {
    INFO(text);
    CHECK(redacted(text) == text);
  }
}

TEST_CASE("e-mail, handles, links and labels are hidden", "[contact]") {
  CHECK(redacted("email aku nat.cute@gmail.com ya") == "email aku [hidden] ya");
  CHECK(redacted("natasha at gmail dot com") == "[hidden]");
  CHECK(redacted("follow @bella_rose") == "follow [hidden]");
  CHECK(redacted("klik https://wa.me/6281234567890 aja") == "klik [hidden] aja");
  CHECK(redacted("t.me/natasha") == "[hidden]");
  // Links are found from the text's dots: in any case, after www., several
  // in one text, and not inside another word.
  CHECK(redacted("cek WWW.Instagram.COM/nat ya") == "cek [hidden] ya");
  CHECK(redacted("wa.me/62812 atau t.me/nat.") == "[hidden] atau [hidden]");
  CHECK(redacted("ok. sampai nanti. bye.") == "ok. sampai nanti. bye.");
  CHECK(redacted("kuwa.me/abc") == "kuwa.me/abc");
  CHECK(redacted("IG: natasha_cute99") == "[hidden]");
  CHECK(redacted("line: natasha99 ya") == "[hidden] ya");
  CHECK(redacted("the line at the bank") == "the line at the bank");
}

TEST_CASE("a number split across two messages is found in its second half", "[contact]") {
  ContactScanner s;
  const std::string first = "nomor aku 0812 3456";
  const auto carried = ContactScanner::trailing_digits(first);
  CHECK(carried == 8);
  CHECK(s.scan(first, 0).empty());  // on its own, the first half is not a number
  CHECK(ContactScanner::redact("7890 ya", s.scan("7890 ya", carried)) == "[hidden] ya");
  CHECK(s.scan("7890 ya", 0).empty());
  CHECK(ContactScanner::trailing_digits("jam 10 ya") == 0);
  CHECK(ContactScanner::trailing_digits("nomor aku 0812 3456.") == 8);
  CHECK(ContactScanner::trailing_digits("nomor aku 0812 3456 lagi") == 0);
}

TEST_CASE("full-width and Arabic-Indic digits are read as digits", "[contact]") {
  CHECK(redacted("nomorku ０８１２-３４５６-７８９０ ya") == "nomorku [hidden] ya");
  CHECK(redacted("call me ＋６２ ８１２ ３４５６ ７８９０") == "call me [hidden]");
  CHECK(redacted("٠٨١٢٣٤٥٦٧٨٩٠") == "[hidden]");
  CHECK(redacted("hubungi ۰۸۱۲ ۳۴۵۶ ۷۸۹۰ ok") == "hubungi [hidden] ok");
  CHECK(redacted("08١٢ ３４56 7890") == "[hidden]");  // mixed within one number
  // Folded digits are still prices and times.
  CHECK(redacted("１５０ ribu aja, jam ２２:００") == "１５０ ribu aja, jam ２２:００");
  // The first half of a number split across two messages.
  CHECK(ContactScanner::trailing_digits("nomorku ０８１２ ３４５６") == 8);
}

TEST_CASE("format characters between digits do not hide a number", "[contact]") {
  CHECK(redacted("0\u200B8\u200B1\u200B2\u200B3\u200B4\u200B5\u200B6\u200B7\u200B8\u200B9\u200B0") == "[hidden]");
  CHECK(redacted("nomor 0812\u200C3456\u200D7890 ya") == "nomor [hidden] ya");
  CHECK(redacted("0812\u2060 3456\uFEFF7890") == "[hidden]");
  CHECK(redacted("nomor 0812\u00AD3456\u00AD7890") == "nomor [hidden]");
  // The span ends at the last digit, not at the invisible character after it.
  CHECK(redacted("0812\u200B3456\u200B7890\u200B ya") == "[hidden]\u200B ya");
}

TEST_CASE("digits separated by slashes are a number", "[contact]") {
  CHECK(redacted("0812/3456/7891") == "[hidden]");
  CHECK(redacted("wa aku +62/812/3456/7890 ya") == "wa aku [hidden] ya");
  CHECK(redacted("tgl 12/12/2026 jam 20:00") == "tgl 12/12/2026 jam 20:00");
  // A range of dates has enough digits, but every group is a day, a month or a year.
  CHECK(redacted("cuti 01/12/2026-05/12/2026 ya") == "cuti 01/12/2026-05/12/2026 ya");
  CHECK(redacted("2026/12/01-2026/12/05") == "2026/12/01-2026/12/05");
}

TEST_CASE("the letters people use for digits are read as digits", "[contact]") {
  CHECK(redacted("o8l2 3456 789l") == "[hidden]");
  CHECK(redacted("nomor O8I2-3456-789i ya") == "nomor [hidden] ya");
  CHECK(redacted("08l2 34S6 7890") == "[hidden]");  // S only between digits
  CHECK(ContactScanner::trailing_digits("nomor 0812 345l") == 8);
  for (const char* text : {"hello, look at the lol", "Illinois is cold", "80s 90s 2000s music", "laptop i5 i7 i9"}) {
    INFO(text);
    CHECK(redacted(text) == text);
  }
}

TEST_CASE("a number written in Indonesian words is a number", "[contact]") {
  CHECK(redacted("nol delapan satu dua tiga empat lima enam tujuh delapan sembilan") == "[hidden]");
  CHECK(redacted("wa ke kosong delapan satu tiga dua dua dua dua satu satu satu satu ya") == "wa ke [hidden] ya");
  CHECK(redacted("nomorku 0812 tiga empat lima enam 7890") == "nomorku [hidden]");
  CHECK(redacted("nol delapan satu dua, tiga empat lima enam, tujuh delapan sembilan") == "[hidden]");
  for (const char* text : {"satu dua hari lagi", "lima ratus ribu untuk satu jam", "tiga empat kali aku coba",
                           "satu dua tiga empat lima enam tujuh delapan sembilan sepuluh"}) {
    INFO(text);
    CHECK(redacted(text) == text);
  }
  // A number split across two messages.
  CHECK(ContactScanner::trailing_digits("nomorku nol delapan satu dua tiga empat") == 6);
  CHECK(redacted("lima enam tujuh delapan ya", 6) == "[hidden] ya");
}

TEST_CASE("a number written in English words is a number", "[contact]") {
  CHECK(redacted("zero eight one two three four five six seven eight nine") == "[hidden]");
  CHECK(redacted("call oh eight one two three four five six seven eight nine oh now") == "call [hidden] now");
  CHECK(redacted("Oh Eight One Two double three four five six seven eight") == "[hidden]");
  for (const char* text : {"I'll be there at eight", "oh no, one more thing", "two or three times, maybe four",
                           "zero one two three four five six seven eight nine", "oh oh oh oh oh oh oh oh oh"}) {
    INFO(text);
    CHECK(redacted(text) == text);
  }
}

TEST_CASE("the labelled corpus: precision at least 0.95, recall at least 0.90", "[contact]") {
  std::ifstream in(TIRAI_TEST_DATA "/contact_corpus.tsv");
  REQUIRE(in);
  ContactScanner s;
  int tp = 0, fp = 0, fn = 0, tn = 0;
  std::string line;
  std::vector<std::string> misses;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab = line.find('\t');
    REQUIRE(tab == 1);
    const bool contact = line[0] == '1';
    const auto text = line.substr(2);
    const bool found = !s.scan(text).empty();
    if (found && contact) ++tp;
    else if (found) ++fp, misses.push_back("false positive: " + text);
    else if (contact) ++fn, misses.push_back("missed: " + text);
    else ++tn;
  }
  const double precision = tp / double(tp + fp), recall = tp / double(tp + fn);
  WARN(fmt::format("contact corpus: {} lines, precision {:.3f}, recall {:.3f} (tp {}, fp {}, fn {}, tn {})",
                   tp + fp + fn + tn, precision, recall, tp, fp, fn, tn));
  for (const auto& m : misses) WARN(m);
  CHECK(tp + fp + fn + tn >= 200);
  CHECK(precision >= 0.95);
  CHECK(recall >= 0.90);
}
