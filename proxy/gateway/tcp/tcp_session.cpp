#include "proxy/gateway/tcp/tcp_session.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "proxy/gateway/session.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRelayBuffer = 16 * 1024;

bool is_close(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

// A generic, authorized TCP tunnel: bytes both ways until either side closes. No
// allocation per relayed read: two fixed buffers live in the session object.
class TcpSession final : public Session {
 public:
  explicit TcpSession(Accepted& accepted)
      : Session(accepted),
        upstream_(client_.get_executor()),
        downstream_done_timer_(client_.get_executor()) {}

 private:
  asio::awaitable<void> serve() override {
    tcp::endpoint endpoint(asio::ip::make_address(asset_.address.host), asset_.address.port);
    set_phase(Phase::connecting, snapshot_->config.limits.connect_timeout);
    auto [connect_error] = co_await upstream_.async_connect(endpoint, kUseTuple);
    if (connect_error) {
      // A timeout or a drain has already named the reason; otherwise the error does.
      set_reason("upstream unreachable: " + connect_error.message());
      co_return;
    }
    boost::system::error_code ignored;
    upstream_.set_option(tcp::no_delay(true), ignored);
    log_open(asset_.address.to_string());

    auto self = std::static_pointer_cast<TcpSession>(shared_from_this());
    asio::co_spawn(client_.get_executor(), [self] { return self->relay_downstream(); }, asio::detached);
    co_await relay_upstream();
    if (!downstream_done_) {
      downstream_done_timer_.expires_at(Clock::time_point::max());
      co_await downstream_done_timer_.async_wait(kUseTuple);
    }
  }

  void close_upstream() override {
    boost::system::error_code ignored;
    upstream_.close(ignored);
  }

  // client -> asset
  asio::awaitable<void> relay_upstream() {
    while (!downstream_done_) {
      auto [read_error, n] = co_await client_.async_read_some(asio::buffer(upstream_buffer_), kUseTuple);
      if (read_error) {
        if (is_close(read_error)) {
          set_reason("client closed");
        } else if (read_error != asio::error::operation_aborted) {
          set_reason("client error: " + read_error.message());
        }
        break;
      }
      touch();
      if (!record_bytes(audit::Direction::client_to_asset, upstream_buffer_.data(), n)) {
        set_reason("recording failed");
        break;
      }
      auto [write_error, written] = co_await asio::async_write(upstream_, asio::buffer(upstream_buffer_, n), kUseTuple);
      if (write_error) {
        set_reason("upstream error: " + write_error.message());
        break;
      }
      bytes_in_ += written;
    }
    // Stops the other direction: its pending read on the asset socket fails at once.
    close_upstream();
  }

  // asset -> client
  asio::awaitable<void> relay_downstream() {
    for (;;) {
      auto [read_error, n] = co_await upstream_.async_read_some(asio::buffer(downstream_buffer_), kUseTuple);
      if (read_error) {
        if (is_close(read_error)) {
          set_reason("upstream closed");
        } else if (read_error != asio::error::operation_aborted) {
          set_reason("upstream error: " + read_error.message());
        }
        break;
      }
      touch();
      if (!record_bytes(audit::Direction::asset_to_client, downstream_buffer_.data(), n)) {
        set_reason("recording failed");
        break;
      }
      auto [write_error, written] = co_await asio::async_write(client_, asio::buffer(downstream_buffer_, n), kUseTuple);
      if (write_error) {
        set_reason("client error: " + write_error.message());
        break;
      }
      bytes_out_ += written;
    }
    // Aborts the client read so relay_upstream() returns; the TLS state stays usable for
    // the close_notify sent afterwards.
    boost::system::error_code ignored;
    client_.next_layer().cancel(ignored);
    downstream_done_ = true;
    downstream_done_timer_.cancel();
  }

  // An opaque tunnel: its bytes are recorded as they pass, both ways, without waiting
  // for the disk (nothing in them can be told to be a write).
  bool record_bytes(audit::Direction direction, const char* data, std::size_t size) {
    return record(direction, audit::RecordedDecision::none, {}, {},
                  {reinterpret_cast<const std::uint8_t*>(data), size});
  }

  tcp::socket upstream_;
  asio::steady_timer downstream_done_timer_;
  bool downstream_done_ = false;
  std::array<char, kRelayBuffer> upstream_buffer_;
  std::array<char, kRelayBuffer> downstream_buffer_;
};

class TcpHandler final : public ProtocolHandler {
 public:
  authz::ProtocolId protocol() const override { return authz::protocol_of<authz::TcpRules>(); }
  void start_session(Accepted accepted) const override { std::make_shared<TcpSession>(accepted)->start(); }
};

}  // namespace

std::unique_ptr<ProtocolHandler> make_tcp_handler() { return std::make_unique<TcpHandler>(); }

}  // namespace conduit::proxy
