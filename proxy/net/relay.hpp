// One direction of a byte relay, written once for the gateway's raw TCP sessions and for
// `conduit tunnel`: read what `from` has, let the caller see it (record it, note
// activity), write all of it to `to`, until either side fails or the caller stops it.
// No allocation: the caller owns the buffer. Runs on the streams' executor.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <span>

namespace conduit::proxy {

// The peer ended the stream: a FIN, or a TLS peer that closed without close_notify.
inline bool is_stream_close(const boost::system::error_code& ec) {
  return ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
}

struct RelayEnd {
  enum class Side { read, write, stopped };
  Side side = Side::stopped;
  boost::system::error_code error;  // of the side that ended it; empty when stopped
};

// `on_data(span)` runs for every chunk before it is written; returning false stops the
// relay (e.g. the chunk could not be recorded). `keep_going()` is checked before each
// read. `relayed` counts the bytes written to `to`.
template <typename From, typename To, typename OnData, typename KeepGoing>
boost::asio::awaitable<RelayEnd> relay_one_way(From& from, To& to, std::span<char> buffer, std::uint64_t& relayed,
                                               OnData on_data, KeepGoing keep_going) {
  constexpr auto kUseTuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  while (keep_going()) {
    auto [read_error, n] = co_await from.async_read_some(boost::asio::buffer(buffer), kUseTuple);
    if (read_error) co_return RelayEnd{RelayEnd::Side::read, read_error};
    if (!on_data(std::span<const char>(buffer.data(), n))) co_return RelayEnd{};
    auto [write_error, written] = co_await boost::asio::async_write(to, boost::asio::buffer(buffer.data(), n), kUseTuple);
    if (write_error) co_return RelayEnd{RelayEnd::Side::write, write_error};
    relayed += written;
  }
  co_return RelayEnd{};
}

}  // namespace conduit::proxy
