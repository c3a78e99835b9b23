#pragma once
// The completion token of the relay's coroutines: expected I/O failures (a
// peer gone, a timeout, a cancelled wait) come back as values,
// `auto [ec, n] = co_await ...`, since they are not exceptional for a server.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tirai::relay {

inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace tirai::relay
