#include "proxy/tcp_session.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

#include "mfa/certificate_identity.hpp"
#include "proxy/event_log.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// How long we wait for the client's close_notify after sending ours.
constexpr auto kShutdownGrace = std::chrono::seconds(1);
constexpr std::size_t kRelayBuffer = 16 * 1024;

std::string endpoint_text(const tcp::socket& socket) {
  boost::system::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  auto address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

bool is_close(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

class TcpSession final : public std::enable_shared_from_this<TcpSession>, public Terminable {
 public:
  TcpSession(tcp::socket client, std::size_t listener_index, std::shared_ptr<const Snapshot> snapshot,
             GatewayState& state, SessionRegistry& registry)
      : snapshot_(std::move(snapshot)),
        listener_(snapshot_->config.listeners.at(listener_index)),
        state_(state),
        registry_(registry),
        client_(std::move(client), *snapshot_->tls),
        upstream_(client_.get_executor()),
        timer_(client_.get_executor()),
        downstream_done_timer_(client_.get_executor()) {
    peer_ = endpoint_text(client_.next_layer());
    registry_.add(this);
  }

  ~TcpSession() {
    registry_.remove(this);
    release_unauthenticated();
    state_.sessions.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    set_phase(Phase::handshake, snapshot_->config.limits.handshake_timeout);
    auto self = shared_from_this();
    asio::co_spawn(client_.get_executor(), [self] { return self->watchdog(); }, asio::detached);
    asio::co_spawn(client_.get_executor(), [self] { return self->run(); }, asio::detached);
  }

  void terminate(std::string_view reason) override {
    set_reason(reason);
    close_sockets();
  }

 private:
  enum class Phase { handshake, connecting, relaying, closing, done };

  asio::awaitable<void> run() {
    auto [handshake_error] = co_await client_.async_handshake(ssl::stream_base::server, kUseTuple);
    release_unauthenticated();
    if (handshake_error) {
      log_handshake_failure(handshake_error);
      finish();
      co_return;
    }

    identity_ = mfa::identity_from_certificate(SSL_get0_peer_certificate(client_.native_handle()));
    auto decision = snapshot_->policy.decide_session({identity_.user, identity_.device}, listener_.asset);
    session_id_ = state_.new_session_id();
    if (!decision.allowed()) {
      log_event(LogLevel::warn, "session_denied",
                {{"session", session_id_}, {"listener", listener_.name}, {"peer", peer_},
                 {"device", identity_.device}, {"user", identity_.user}, {"asset", listener_.asset},
                 {"rule", decision.rule}, {"reason", decision.reason}});
      co_await close_client();
      finish();
      co_return;
    }

    const config::Asset& asset = *snapshot_->config.find_asset(listener_.asset);
    tcp::endpoint upstream_endpoint(asio::ip::make_address(asset.address.host), asset.address.port);
    set_phase(Phase::connecting, snapshot_->config.limits.connect_timeout);
    opened_at_ = Clock::now();
    auto [connect_error] = co_await upstream_.async_connect(upstream_endpoint, kUseTuple);
    if (connect_error) {
      // A timeout or a drain has already named the reason; otherwise the error does.
      set_reason("upstream unreachable: " + connect_error.message());
      co_await close_client();
      log_close();
      finish();
      co_return;
    }
    boost::system::error_code ignored;
    upstream_.set_option(tcp::no_delay(true), ignored);
    client_.next_layer().set_option(tcp::no_delay(true), ignored);

    log_event(LogLevel::info, "session_open",
              {{"session", session_id_}, {"listener", listener_.name}, {"peer", peer_},
               {"device", identity_.device}, {"user", identity_.user}, {"asset", asset.name},
               {"upstream", asset.address.to_string()}, {"rule", decision.rule}});
    phase_ = Phase::relaying;
    last_activity_ = Clock::now();

    auto self = shared_from_this();
    asio::co_spawn(client_.get_executor(), [self] { return self->relay_downstream(); }, asio::detached);
    co_await relay_upstream();
    if (!downstream_done_) {
      downstream_done_timer_.expires_at(Clock::time_point::max());
      co_await downstream_done_timer_.async_wait(kUseTuple);
    }
    co_await close_client();
    log_close();
    finish();
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
      last_activity_ = Clock::now();
      auto [write_error, written] = co_await asio::async_write(upstream_, asio::buffer(upstream_buffer_, n), kUseTuple);
      if (write_error) {
        set_reason("upstream error: " + write_error.message());
        break;
      }
      bytes_in_ += written;
    }
    // Stops the other direction: its pending read on the asset socket fails at once.
    boost::system::error_code ignored;
    upstream_.close(ignored);
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
      last_activity_ = Clock::now();
      auto [write_error, written] = co_await asio::async_write(client_, asio::buffer(downstream_buffer_, n), kUseTuple);
      if (write_error) {
        set_reason("client error: " + write_error.message());
        break;
      }
      bytes_out_ += written;
    }
    // Aborts the client read so relay_upstream() returns; the TLS state stays usable for
    // the close_notify that run() sends afterwards.
    boost::system::error_code ignored;
    client_.next_layer().cancel(ignored);
    downstream_done_ = true;
    downstream_done_timer_.cancel();
  }

  // Sends close_notify and waits briefly for the client's, so a client sees a clean end
  // of stream rather than a reset. Bounded by the watchdog.
  asio::awaitable<void> close_client() {
    if (client_.next_layer().is_open()) {
      set_phase(Phase::closing, kShutdownGrace);
      co_await client_.async_shutdown(kUseTuple);
    }
    close_sockets();
  }

  asio::awaitable<void> watchdog() {
    auto self = shared_from_this();
    while (phase_ != Phase::done) {
      Clock::time_point deadline = current_deadline();
      timer_.expires_at(deadline);
      co_await timer_.async_wait(kUseTuple);
      if (phase_ == Phase::done) break;
      if (Clock::now() >= current_deadline()) on_deadline();
    }
  }

  Clock::time_point current_deadline() const {
    if (deadline_fired_) return Clock::time_point::max();  // wait for run() to finish
    if (phase_ == Phase::relaying) return last_activity_ + snapshot_->config.limits.idle_timeout;
    return deadline_;
  }

  void on_deadline() {
    deadline_fired_ = true;
    switch (phase_) {
      case Phase::handshake: set_reason("handshake timeout"); break;
      case Phase::connecting: set_reason("upstream connect timeout"); break;
      case Phase::relaying: set_reason("idle timeout"); break;
      case Phase::closing:
      case Phase::done: break;
    }
    close_sockets();
  }

  void set_phase(Phase phase, Clock::duration timeout) {
    phase_ = phase;
    deadline_ = Clock::now() + timeout;
    deadline_fired_ = false;
    timer_.cancel();  // the watchdog re-arms for the new deadline
  }

  void set_reason(std::string_view reason) {
    if (reason_.empty()) reason_ = reason;
  }

  void close_sockets() {
    boost::system::error_code ignored;
    client_.next_layer().close(ignored);
    upstream_.close(ignored);
  }

  void finish() {
    phase_ = Phase::done;
    close_sockets();
    timer_.cancel();
  }

  void release_unauthenticated() {
    if (unauthenticated_) {
      unauthenticated_ = false;
      state_.handshaking.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  void log_handshake_failure(const boost::system::error_code& ec) {
    std::string reason = reason_.empty() ? ec.message() : reason_;
    long verify = SSL_get_verify_result(client_.native_handle());
    if (verify != X509_V_OK) reason += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    log_event(LogLevel::warn, "tls_handshake_failed",
              {{"listener", listener_.name}, {"peer", peer_}, {"reason", reason}});
  }

  void log_close() {
    auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - opened_at_);
    log_event(LogLevel::info, "session_close",
              {{"session", session_id_}, {"listener", listener_.name}, {"peer", peer_},
               {"device", identity_.device}, {"user", identity_.user}, {"asset", listener_.asset},
               {"bytes_in", bytes_in_}, {"bytes_out", bytes_out_}, {"duration_ms", duration.count()},
               {"reason", reason_}});
  }

  std::shared_ptr<const Snapshot> snapshot_;
  const config::Listener& listener_;
  GatewayState& state_;
  SessionRegistry& registry_;
  ssl::stream<tcp::socket> client_;
  tcp::socket upstream_;
  asio::steady_timer timer_;
  asio::steady_timer downstream_done_timer_;

  Phase phase_ = Phase::handshake;
  Clock::time_point deadline_{};
  Clock::time_point last_activity_{};
  Clock::time_point opened_at_{};
  bool deadline_fired_ = false;
  bool unauthenticated_ = true;
  bool downstream_done_ = false;

  std::string peer_;
  std::string session_id_;
  std::string reason_;
  mfa::CertificateIdentity identity_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::array<char, kRelayBuffer> upstream_buffer_;
  std::array<char, kRelayBuffer> downstream_buffer_;
};

}  // namespace

void start_tcp_session(tcp::socket client, std::size_t listener_index, std::shared_ptr<const Snapshot> snapshot,
                       GatewayState& state, SessionRegistry& registry) {
  std::make_shared<TcpSession>(std::move(client), listener_index, std::move(snapshot), state, registry)->start();
}

}  // namespace conduit::proxy
