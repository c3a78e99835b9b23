#pragma once
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace tirai::test {

// A fresh folder under $TMPDIR, removed with everything in it on destruction
// (kept, for a look at a failing test's logs, when TIRAI_KEEP_TEST_DIRS is set).
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/tirai-test-XXXXXX";
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    if (std::getenv("TIRAI_KEEP_TEST_DIRS")) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The whole content of a file, or empty when it does not exist.
std::string read_file(const std::filesystem::path& p);
// True when `needle` occurs anywhere in the raw bytes of `p`.
bool file_contains(const std::filesystem::path& p, std::string_view needle);

}  // namespace tirai::test
