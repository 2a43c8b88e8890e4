#include "proxy/gateway/tcp/tcp_session.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/gateway/session.hpp"
#include "proxy/net/relay.hpp"
#include "proxy/net/spawn.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRelayBuffer = 16 * 1024;

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
      if (!closing()) count(GatewayCounter::upstream_unreachable);
      set_reason("upstream unreachable: " + connect_error.message());
      co_return;
    }
    boost::system::error_code ignored;
    upstream_.set_option(tcp::no_delay(true), ignored);
    log_open(asset_.address.to_string());

    auto self = std::static_pointer_cast<TcpSession>(shared_from_this());
    asio::co_spawn(client_.get_executor(), [self] { return self->relay_downstream(); },
                   report_escaped("tcp relay"));
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
    RelayEnd end = co_await relay_one_way(
        client_, upstream_, upstream_buffer_, bytes_in_,
        [this](std::span<const char> bytes) { return pass(audit::Direction::client_to_asset, bytes); },
        [this] { return !downstream_done_; });
    note_end(end, "client", "upstream");
    // Stops the other direction: its pending read on the asset socket fails at once.
    close_upstream();
  }

  // asset -> client
  asio::awaitable<void> relay_downstream() {
    RelayEnd end = co_await relay_one_way(
        upstream_, client_, downstream_buffer_, bytes_out_,
        [this](std::span<const char> bytes) { return pass(audit::Direction::asset_to_client, bytes); },
        [] { return true; });
    note_end(end, "upstream", "client");
    // Aborts the client read so relay_upstream() returns; the TLS state stays usable for
    // the close_notify sent afterwards.
    boost::system::error_code ignored;
    client_.next_layer().cancel(ignored);
    downstream_done_ = true;
    downstream_done_timer_.cancel();
  }

  // Names why one direction ended: the side it read from, or the one it wrote to.
  void note_end(const RelayEnd& end, std::string_view reader, std::string_view writer) {
    if (end.side == RelayEnd::Side::read) {
      if (is_stream_close(end.error)) {
        set_reason(std::string(reader) + " closed");
      } else if (end.error != asio::error::operation_aborted) {
        set_reason(std::string(reader) + " error: " + end.error.message());
      }
    } else if (end.side == RelayEnd::Side::write) {
      set_reason(std::string(writer) + " error: " + end.error.message());
    }
  }

  // Every chunk is activity, and is recorded before it is passed on.
  bool pass(audit::Direction direction, std::span<const char> bytes) {
    touch();
    if (record_bytes(direction, bytes.data(), bytes.size())) return true;
    count(GatewayCounter::recording_failed);
    set_reason("recording failed");
    return false;
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
