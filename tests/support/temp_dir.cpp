#include "support/temp_dir.hpp"

#include <fstream>
#include <sstream>

namespace tirai::test {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool file_contains(const std::filesystem::path& p, std::string_view needle) {
  return read_file(p).find(needle) != std::string::npos;
}

}  // namespace tirai::test
