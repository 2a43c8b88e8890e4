// Accepting connections the same way in the gateway and in `conduit tunnel`: a transient
// error (usually EMFILE) is logged and retried after a short back-off instead of spinning
// on it; a closed acceptor ends the loop.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>

#include "proxy/net/event_log.hpp"

namespace conduit::proxy {

// The next accepted socket, or nullopt once the acceptor is closed.
inline boost::asio::awaitable<std::optional<boost::asio::ip::tcp::socket>> accept_next(
    boost::asio::ip::tcp::acceptor& acceptor, boost::asio::steady_timer& backoff) {
  constexpr auto kUseTuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  while (acceptor.is_open()) {
    auto [error, socket] = co_await acceptor.async_accept(kUseTuple);
    if (!error) co_return std::move(socket);
    if (error == boost::asio::error::operation_aborted) break;
    log_event(LogLevel::error, "accept_failed", {{"error", error.message()}});
    backoff.expires_after(std::chrono::milliseconds(100));
    co_await backoff.async_wait(kUseTuple);
  }
  co_return std::nullopt;
}

}  // namespace conduit::proxy
