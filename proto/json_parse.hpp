#pragma once
#include <boost/json/parse_options.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <string_view>

namespace tirai::proto {

// boost::json::parse, with the parser's temporary buffer (on this stack
// frame: copies of every string it read) wiped before returning when
// `secret` is set: for input that may carry a secret, a token or a real
// number. Input larger than the buffer spills into heap memory that is not
// wiped (admin bodies and hellos are far smaller).
boost::json::value parse_json(std::string_view text, boost::json::error_code& ec, boost::json::storage_ptr sp,
                              const boost::json::parse_options& options, bool secret);

}  // namespace tirai::proto
