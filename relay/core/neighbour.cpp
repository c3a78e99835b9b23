#include "relay/core/neighbour.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

namespace tirai::relay {

std::string http_answer_error(const boost::system::error_code& ec, std::string_view timeout_key) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  if (ec == beast::error::timeout) return fmt::format("did not answer within {}", timeout_key);
  if (ec == beast::http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset)
    return "closed the connection without an answer";
  return fmt::format("answered with something that is not HTTP ({})", ec.message());
}

}  // namespace tirai::relay
