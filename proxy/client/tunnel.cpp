#include "proxy/client/tunnel.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include "common/exit_codes.hpp"
#include "config/load.hpp"
#include "proxy/client/client_tls.hpp"
#include "proxy/client/login.hpp"
#include "proxy/net/accept.hpp"
#include "proxy/net/event_log.hpp"
#include "proxy/net/lifecycle.hpp"
#include "proxy/net/net_text.hpp"
#include "proxy/net/relay.hpp"
#include "proxy/net/session_registry.hpp"
#include "proxy/net/spawn.hpp"
#include "proxy/net/tls_ciphers.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRelayBuffer = 16 * 1024;

using common::kExitFailure;
using common::kExitOk;
using common::kExitUsage;

// --- start-up ------------------------------------------------------------------------

// A bad option or file: run_tunnel() prints "error: <what>" and exits 2.
struct UsageError {
  std::string what;
};

bool is_loopback(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
  }
  return address.is_loopback();
}

// --- one tunnelled connection --------------------------------------------------------

class TunnelConnection;

struct Tunnel {
  std::string asset;
  GatewayAddress gateway;
  std::optional<GatewayAddress> auth;  // per-session MFA
  std::string user;
  mfa::KeyOptions key;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds shutdown_grace;
  SessionRegistry<TunnelConnection> registry;
};

bool is_tls_alert(const boost::system::error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category()) return false;
  int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
  return reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256;
}

// OpenSSL's reason alone ("tlsv1 alert unknown ca"), without Asio's " (SSL routines)".
std::string error_text(const boost::system::error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    if (const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) return reason;
  }
  return ec.message();
}

class TunnelConnection final : public std::enable_shared_from_this<TunnelConnection> {
 public:
  TunnelConnection(tcp::socket local, std::shared_ptr<ssl::context> tls, Tunnel& tunnel)
      : tunnel_(tunnel),
        tls_(std::move(tls)),
        local_(std::move(local)),
        gateway_(local_.get_executor(), *tls_),
        resolver_(local_.get_executor()),
        lifecycle_(local_.get_executor(), Phase::connecting),
        to_local_done_timer_(local_.get_executor()) {
    peer_ = remote_text(local_);
    tunnel_.registry.add(this);
  }

  ~TunnelConnection() { tunnel_.registry.remove(this); }

  void start() {
    auto self = shared_from_this();
    asio::co_spawn(local_.get_executor(),
                   [self] {
                     return self->lifecycle_.watch([&connection = *self] { return connection.lifecycle_.deadline(); },
                                                   [&connection = *self](Phase phase) { connection.on_deadline(phase); });
                   },
                   report_escaped("tunnel watchdog"));
    asio::co_spawn(local_.get_executor(), [self] { return self->run(); }, report_escaped("tunnel connection"));
  }

  void terminate(std::string_view reason) {
    set_reason(reason);
    Phase phase = lifecycle_.phase();
    if (phase == Phase::relaying) {
      stop_relay();
    } else if (phase != Phase::closing && phase != Phase::done) {
      resolver_.cancel();
      close_sockets();
    }
  }

 private:
  enum class Phase { connecting, handshake, relaying, closing, done };

  asio::awaitable<void> run() {
    lifecycle_.enter(Phase::connecting, Clock::now() + tunnel_.connect_timeout);
    const GatewayAddress& gateway = tunnel_.gateway;
    boost::system::error_code connect_error;
    if (gateway.numeric) {
      tcp::endpoint endpoint(asio::ip::make_address(gateway.host), gateway.port);
      std::tie(connect_error) = co_await gateway_.next_layer().async_connect(endpoint, kUseTuple);
    } else {
      // Resolved per connection: a gateway's DNS name may move between connections.
      auto [resolve_error, results] = co_await resolver_.async_resolve(
          gateway.host, std::to_string(gateway.port), tcp::resolver::numeric_service, kUseTuple);
      if (resolve_error) {
        fail(resolve_error == asio::error::operation_aborted
                 ? std::string("gateway connect timeout")
                 : "cannot resolve gateway " + gateway.host + ": " + resolve_error.message());
        co_return;
      }
      std::tie(connect_error, std::ignore) = co_await asio::async_connect(gateway_.next_layer(), results, kUseTuple);
    }
    if (connect_error) {
      // A timeout or a stop has already named the reason; otherwise the error does.
      fail("cannot connect to gateway " + gateway.text() + ": " + connect_error.message());
      co_return;
    }
    boost::system::error_code ignored;
    gateway_.next_layer().set_option(tcp::no_delay(true), ignored);
    local_.set_option(tcp::no_delay(true), ignored);

    if (!expect_gateway_identity(gateway_.native_handle(), tunnel_.gateway)) {
      fail("cannot set the expected gateway name: " + openssl_reason().text);
      co_return;
    }
    lifecycle_.enter(Phase::handshake, Clock::now() + tunnel_.connect_timeout);
    auto [handshake_error] = co_await gateway_.async_handshake(ssl::stream_base::client, kUseTuple);
    if (handshake_error) {
      fail(handshake_failure(handshake_error));
      co_return;
    }

    log_event(LogLevel::info, "tunnel_open", {{"asset", tunnel_.asset}, {"peer", peer_}});
    lifecycle_.enter(Phase::relaying, Clock::time_point::max());
    auto self = shared_from_this();
    asio::co_spawn(local_.get_executor(), [self] { return self->relay_to_local(); },
                   report_escaped("tunnel relay"));
    co_await relay_to_gateway();
    if (!to_local_done_) {
      to_local_done_timer_.expires_at(Clock::time_point::max());
      co_await to_local_done_timer_.async_wait(kUseTuple);
    }
    co_await close_gateway();
    log_end();
    finish();
  }

  std::string handshake_failure(const boost::system::error_code& ec) {
    long verify = SSL_get_verify_result(gateway_.native_handle());
    if (verify != X509_V_OK) return std::string("gateway certificate rejected: ") + X509_verify_cert_error_string(verify);
    if (is_tls_alert(ec)) return "gateway refused: " + error_text(ec);
    if (is_stream_close(ec)) return "gateway closed the connection during the TLS handshake";
    return "TLS handshake failed: " + error_text(ec);
  }

  // local client -> gateway
  asio::awaitable<void> relay_to_gateway() {
    RelayEnd end = co_await relay_one_way(local_, gateway_, to_gateway_, bytes_in_, [](auto) { return true; },
                                          [this] { return !stopping_; });
    if (end.side == RelayEnd::Side::read) {
      if (end.error == asio::error::eof) {
        set_reason("client closed");
      } else if (end.error != asio::error::operation_aborted) {
        set_reason("client error: " + end.error.message());
      }
    } else if (end.side == RelayEnd::Side::write) {
      note_gateway_error(end.error);
    }
    stop_relay();
  }

  // gateway -> local client
  asio::awaitable<void> relay_to_local() {
    RelayEnd end = co_await relay_one_way(gateway_, local_, to_local_, bytes_out_, [](auto) { return true; },
                                          [] { return true; });
    if (end.side == RelayEnd::Side::read) {
      note_gateway_error(end.error);
    } else if (end.side == RelayEnd::Side::write && end.error != asio::error::operation_aborted) {
      set_reason("client error: " + end.error.message());
    }
    stop_relay();
    to_local_done_ = true;
    to_local_done_timer_.cancel();
  }

  void note_gateway_error(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (is_stream_close(ec)) {
      set_reason("gateway closed");
      return;
    }
    gateway_broken_ = true;  // no close_notify after a fatal error
    if (is_tls_alert(ec) && bytes_out_ == 0) {
      refused(ec);
      return;
    }
    set_reason("gateway error: " + error_text(ec));
  }

  // With TLS 1.3 the gateway checks our certificate after our handshake has finished, so
  // its refusal (an alert) arrives on the first read or at close instead. Before any byte
  // came back, an alert means the tunnel never worked: report it as a failure.
  void refused(const boost::system::error_code& ec) {
    failed_ = true;
    lifecycle_.replace_reason("gateway refused: " + error_text(ec));
  }

  // Either direction has ended, or the tunnel is stopping: end both, keeping the TLS
  // state usable for close_notify. The local client gets a FIN after what was relayed.
  void stop_relay() {
    if (stopping_) return;
    stopping_ = true;
    lifecycle_.enter(Phase::closing, Clock::now() + tunnel_.shutdown_grace);
    boost::system::error_code ignored;
    local_.shutdown(tcp::socket::shutdown_send, ignored);
    local_.cancel(ignored);
    gateway_.next_layer().cancel(ignored);
  }

  // Sends close_notify and waits for the gateway's, bounded by the closing deadline.
  asio::awaitable<void> close_gateway() {
    if (!gateway_broken_ && gateway_.next_layer().is_open()) {
      auto [error] = co_await gateway_.async_shutdown(kUseTuple);
      if (error && is_tls_alert(error) && bytes_out_ == 0) refused(error);
    }
    close_sockets();
  }

  void on_deadline(Phase phase) {
    switch (phase) {
      case Phase::connecting:
        set_reason("gateway connect timeout");
        resolver_.cancel();
        break;
      case Phase::handshake: set_reason("TLS handshake timeout"); break;
      case Phase::relaying:
      case Phase::closing:
      case Phase::done: break;
    }
    close_sockets();
  }

  void set_reason(std::string_view reason) { lifecycle_.set_reason(reason); }

  // Before tunnel_open: the local client only sees its connection closed.
  void fail(std::string reason) {
    set_reason(reason);
    failed_ = true;
    boost::system::error_code ignored;
    local_.shutdown(tcp::socket::shutdown_send, ignored);
    close_sockets();
    log_end();
    finish();
  }

  void close_sockets() {
    boost::system::error_code ignored;
    local_.close(ignored);
    gateway_.next_layer().close(ignored);
  }

  void finish() {
    lifecycle_.finish();
    close_sockets();
  }

  void log_end() {
    set_reason("closed");
    const std::string& reason = lifecycle_.reason();
    if (failed_) {
      log_event(LogLevel::warn, "tunnel_failed", {{"asset", tunnel_.asset}, {"peer", peer_}, {"reason", reason}});
    } else {
      log_event(LogLevel::info, "tunnel_close",
                {{"asset", tunnel_.asset}, {"peer", peer_}, {"bytes_in", bytes_in_}, {"bytes_out", bytes_out_},
                 {"reason", reason}});
    }
  }

  Tunnel& tunnel_;
  std::shared_ptr<ssl::context> tls_;  // kept alive: a reload may replace the tunnel's
  tcp::socket local_;
  ssl::stream<tcp::socket> gateway_;
  tcp::resolver resolver_;
  Lifecycle<Phase> lifecycle_;
  asio::steady_timer to_local_done_timer_;

  bool stopping_ = false;
  bool to_local_done_ = false;
  bool gateway_broken_ = false;
  bool failed_ = false;

  std::string peer_;
  std::uint64_t bytes_in_ = 0;   // local client -> gateway, as session_close's bytes_in
  std::uint64_t bytes_out_ = 0;  // gateway -> local client
  std::array<char, kRelayBuffer> to_gateway_;
  std::array<char, kRelayBuffer> to_local_;
};

// --- the local listener --------------------------------------------------------------

// The per-session touch blocks on the key (seconds, a person); it runs on `touch_thread`
// so that live connections keep relaying meanwhile. Returns the one-session TLS context,
// or null with the reason logged.
asio::awaitable<std::shared_ptr<ssl::context>> per_session_context(asio::thread_pool& touch_thread,
                                                                  std::shared_ptr<ssl::context> device_tls,
                                                                  const CredentialFiles& files, Tunnel& tunnel,
                                                                  const std::string& peer) {
  auto obtain = [&tunnel, device_tls]() -> asio::awaitable<std::pair<SessionCertificate, std::string>> {
    try {
      co_return std::pair{request_session_certificate(*tunnel.auth, *device_tls, tunnel.user, tunnel.asset, tunnel.key),
                          std::string()};
    } catch (const std::exception& e) {
      co_return std::pair{SessionCertificate{}, std::string(e.what())};
    }
  };
  auto [certificate, error] = co_await asio::co_spawn(touch_thread, obtain(), asio::use_awaitable);
  if (error.empty()) {
    LoadedContext loaded = client_context_from_pem(certificate.certificate_pem, certificate.private_key_pem, files.ca);
    if (loaded.context) {
      log_event(LogLevel::info, "tunnel_session_mfa", {{"asset", tunnel.asset}, {"peer", peer}});
      co_return loaded.context;
    }
    error = loaded.error;
  }
  log_event(LogLevel::warn, "tunnel_failed", {{"asset", tunnel.asset}, {"peer", peer}, {"reason", "per-session MFA: " + error}});
  co_return nullptr;
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, ClientCredentials& credentials, Tunnel& tunnel) {
  asio::steady_timer backoff(acceptor.get_executor());
  asio::thread_pool touch_thread(1);
  for (;;) {
    // Not in the loop condition: GCC 12 miscompiles co_await inside conditions.
    std::optional<tcp::socket> accepted = co_await accept_next(acceptor, backoff);
    if (!accepted) break;
    tcp::socket& socket = *accepted;
    std::string load_error;
    auto tls = credentials.current(load_error);
    if (!tls) {
      log_event(LogLevel::warn, "tunnel_failed",
                {{"asset", tunnel.asset}, {"peer", remote_text(socket)}, {"reason", load_error}});
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    if (tunnel.auth) {
      // One touch per connection, in the order they arrive.
      tls = co_await per_session_context(touch_thread, std::move(tls), credentials.files(), tunnel, remote_text(socket));
      if (!tls) {
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
    }
    std::make_shared<TunnelConnection>(std::move(socket), std::move(tls), tunnel)->start();
  }
}

asio::awaitable<void> stop_on_signal(asio::signal_set& signals, tcp::acceptor& acceptor, Tunnel& tunnel,
                                     std::size_t& stopped) {
  auto [error, signal] = co_await signals.async_wait(kUseTuple);
  if (error) co_return;
  boost::system::error_code ignored;
  acceptor.close(ignored);
  stopped = tunnel.registry.size();
  tunnel.registry.terminate_all("tunnel stopped");
}

struct Prepared {
  tcp::endpoint listen;
  GatewayAddress gateway;
  std::optional<GatewayAddress> auth;
  CredentialFiles files;
};

fs::path file_or_default(const fs::path& given, std::string_view name, std::string_view flag) {
  if (!given.empty()) return given;
  fs::path path = default_client_file(name);
  if (path.empty()) {
    throw UsageError{"no " + std::string(flag) + " given, and neither XDG_CONFIG_HOME nor HOME is set"};
  }
  return path;
}

Prepared prepare(const TunnelOptions& options) {
  Prepared prepared;
  auto listen = config::parse_endpoint(options.listen);
  if (!listen) {
    throw UsageError{"--listen \"" + options.listen + "\" is not ip:port (numeric: 127.0.0.1:5020, [::1]:5020)"};
  }
  prepared.listen = tcp::endpoint(asio::ip::make_address(listen->host), listen->port);
  if (!options.allow_remote && !is_loopback(prepared.listen.address())) {
    throw UsageError{"--listen " + options.listen +
                     " is not a loopback address: anyone who can reach it would use the gateway with your "
                     "certificate's identity. Listen on 127.0.0.1 or [::1], or pass --allow-remote if that "
                     "is really intended"};
  }
  auto gateway = parse_gateway(options.gateway);
  if (!gateway) {
    throw UsageError{"--gateway \"" + options.gateway +
                     "\" is not host:port (a DNS name, IPv4 or [IPv6] address, and a port 1-65535)"};
  }
  prepared.gateway = *gateway;
  if (options.per_session_mfa) {
    prepared.auth = parse_gateway(options.auth);
    if (!prepared.auth) throw UsageError{"--per-session-mfa needs --auth host:port (the gateway's auth API)"};
    if (options.user.empty()) throw UsageError{"--per-session-mfa needs --user"};
  }
  prepared.files = {file_or_default(options.certificate, "client.crt", "--cert"),
                    file_or_default(options.private_key, "client.key", "--key"),
                    file_or_default(options.ca, "ca.crt", "--ca"),
                    options.certificate.empty() || options.private_key.empty() || options.ca.empty()};
  return prepared;
}

}  // namespace

int run_tunnel(const TunnelOptions& options) {
  Prepared prepared;
  try {
    prepared = prepare(options);
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what << "\n";
    return kExitUsage;
  }
  ClientCredentials credentials(prepared.files);
  if (std::string error = credentials.load(); !error.empty()) {
    std::cerr << "error: " << error << "\n";
    return kExitUsage;
  }

  std::signal(SIGPIPE, SIG_IGN);
  Tunnel tunnel{options.asset, prepared.gateway, prepared.auth, options.user,
                {options.key_device, options.key_pin, false}, options.connect_timeout, options.shutdown_grace, {}};
  asio::io_context context(1);
  // Registered before tunnel_ready: a signal sent as soon as it appears must stop cleanly.
  asio::signal_set signals(context, SIGTERM, SIGINT);

  tcp::acceptor acceptor(context);
  boost::system::error_code ec;
  acceptor.open(prepared.listen.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(prepared.listen, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "error: cannot listen on " << options.listen << ": " << ec.message() << "\n";
    return kExitFailure;
  }
  std::string listen_text = endpoint_text(acceptor.local_endpoint());
  std::string gateway_text = tunnel.gateway.text();
  if (!is_loopback(prepared.listen.address())) {
    log_event(LogLevel::warn, "tunnel_remote_access",
              {{"listen", listen_text},
               {"hint", "anyone who can reach this address uses the gateway with your certificate's identity"}});
  }
  log_event(LogLevel::info, "tunnel_ready",
            {{"asset", tunnel.asset}, {"listen", listen_text}, {"gateway", gateway_text}});

  std::size_t stopped = 0;
  asio::co_spawn(context, accept_loop(acceptor, credentials, tunnel), report_escaped("tunnel accept"));
  asio::co_spawn(context, stop_on_signal(signals, acceptor, tunnel, stopped), report_escaped("tunnel signals"));
  context.run();  // returns once stopped and every connection has closed
  log_event(LogLevel::info, "tunnel_stopped", {{"asset", tunnel.asset}, {"connections_closed", stopped}});
  return kExitOk;
}

}  // namespace conduit::proxy
