#include "proto/json_parse.hpp"

#include "proto/wipe.hpp"

#include <boost/json/parser.hpp>

namespace tirai::proto {

boost::json::value parse_json(std::string_view text, boost::json::error_code& ec, boost::json::storage_ptr sp,
                              const boost::json::parse_options& options, bool secret) {
  unsigned char temp[4096];
  struct WipeTemp {
    unsigned char* at;
    std::size_t size;
    bool on;
    ~WipeTemp() {
      if (on) wipe(at, size);
    }
  } wiped{temp, sizeof temp, secret};
  boost::json::parser p(boost::json::storage_ptr(), options, temp, sizeof temp);
  p.reset(std::move(sp));
  p.write(text, ec);
  if (ec) return nullptr;
  return p.release();
}

}  // namespace tirai::proto
