#include "proxy/tunnel.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
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

#include "config/load.hpp"
#include "proxy/event_log.hpp"
#include "proxy/accept.hpp"
#include "proxy/net_text.hpp"
#include "proxy/net_util.hpp"
#include "proxy/session_registry.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRelayBuffer = 16 * 1024;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// --- start-up ------------------------------------------------------------------------

// A bad option or file: run_tunnel() prints "error: <what>" and exits 2.
struct UsageError {
  std::string what;
};

struct GatewayAddress {
  std::string host;  // no brackets; a DNS name has no trailing dot
  std::uint16_t port = 0;
  bool numeric = false;  // an IP literal: checked against the certificate's IP SANs, no SNI

  std::string text() const {
    std::string shown = numeric && host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return shown + ":" + std::to_string(port);
  }
};

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens; the last
// label not all digits (so "300.1.1.1" is a malformed address, not a name).
bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::string_view last_label;
  while (!name.empty()) {
    auto dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    last_label = label;
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  return last_label.find_first_not_of("0123456789") != std::string_view::npos;
}

// "10.0.0.5:8802", "[fd00::5]:8802" (config::parse_endpoint) or "gw.plant.example:8802".
std::optional<GatewayAddress> parse_gateway(std::string_view text) {
  if (auto endpoint = config::parse_endpoint(text)) {
    if (endpoint->port == 0) return std::nullopt;
    return GatewayAddress{endpoint->host, endpoint->port, true};
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.ends_with('.')) host.remove_suffix(1);
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (!is_dns_name(host) || port.empty() || error != std::errc() || end != port.data() + port.size() ||
      value == 0 || value > 65535) {
    return std::nullopt;
  }
  return GatewayAddress{std::string(host), static_cast<std::uint16_t>(value), false};
}

bool is_loopback(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
  }
  return address.is_loopback();
}

// --- client certificate, key and CA --------------------------------------------------

struct CredentialFiles {
  fs::path certificate;
  fs::path private_key;
  fs::path ca;
  bool defaulted = false;  // any of them from default_client_file(): say so in errors
};

// The first (root-cause) OpenSSL reason: "no start line" rather than the "PEM lib" that
// follows it, and shorter than the full "error:0480006C:PEM routines::..." form.
struct OpensslReason {
  int code = 0;  // ERR_GET_REASON
  std::string text;
};

OpensslReason openssl_reason() {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  const char* text = first ? ERR_reason_error_string(first) : nullptr;
  return {first ? ERR_GET_REASON(first) : 0, text ? text : "unknown OpenSSL error"};
}

std::optional<std::string> unreadable(const fs::path& path, std::string_view what) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return std::string("cannot read ") + std::string(what) + " \"" + path.string() + "\": " + std::strerror(errno);
  std::fclose(file);
  return std::nullopt;
}

// Never prompt for a passphrase: a tunnel may run without a terminal.
int refuse_passphrase(char*, int, int, void*) { return 0; }

struct LoadedContext {
  std::shared_ptr<ssl::context> context;  // null on failure
  std::string error;
};

LoadedContext load_client_context(const CredentialFiles& files) {
  for (auto [path, what] : {std::pair{&files.certificate, "client certificate"},
                            std::pair{&files.private_key, "private key"}, std::pair{&files.ca, "CA certificate"}}) {
    if (auto error = unreadable(*path, what)) {
      if (files.defaulted) *error += " (default location; choose files with --cert, --key, --ca)";
      return {nullptr, *error};
    }
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                  SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(native, kTls12Ciphers);
  SSL_CTX_set_default_passwd_cb(native, refuse_passphrase);
  auto quoted = [](const fs::path& path) { return "\"" + path.string() + "\""; };
  if (SSL_CTX_use_certificate_chain_file(native, files.certificate.c_str()) != 1) {
    return {nullptr, "cannot load client certificate " + quoted(files.certificate) + ": " + openssl_reason().text};
  }
  // Loading the key also checks it against the certificate.
  bool key_loaded = SSL_CTX_use_PrivateKey_file(native, files.private_key.c_str(), SSL_FILETYPE_PEM) == 1;
  if (!key_loaded || SSL_CTX_check_private_key(native) != 1) {
    OpensslReason reason = openssl_reason();
    if (reason.code == X509_R_KEY_VALUES_MISMATCH || key_loaded) {
      return {nullptr, "private key " + quoted(files.private_key) + " does not match the certificate " +
                           quoted(files.certificate)};
    }
    return {nullptr, "cannot load private key " + quoted(files.private_key) + ": " + reason.text +
                         " (it must be unencrypted PEM)"};
  }
  if (SSL_CTX_load_verify_locations(native, files.ca.c_str(), nullptr) != 1) {
    return {nullptr, "cannot load CA certificates " + quoted(files.ca) + ": " + openssl_reason().text};
  }
  // Only the given CA: the system trust store has no say in who the gateway is.
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_verify_depth(native, 4);
  return {std::move(context), {}};
}

// The client TLS context, rebuilt when one of its files changes (a login renews the
// short-lived certificate in place). Thread-confined to the tunnel's io_context.
class ClientCredentials {
 public:
  explicit ClientCredentials(CredentialFiles files) : files_(std::move(files)) {}

  // Start-up: the files must load. Returns the error, or empty.
  std::string load() {
    std::string error;
    current(error);
    return error;
  }

  // For a new connection. A failed reload is retried on the next connection: a renewal
  // may be half-written (new certificate, old key) for a moment.
  std::shared_ptr<ssl::context> current(std::string& error) {
    auto stamps = read_stamps();
    if (context_ && stamps == stamps_) return context_;
    LoadedContext loaded = load_client_context(files_);
    if (!loaded.context) {
      error = std::move(loaded.error);
      return nullptr;
    }
    context_ = std::move(loaded.context);
    stamps_ = stamps;
    return context_;
  }

 private:
  struct Stamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };

  std::array<Stamp, 3> read_stamps() const {
    std::array<Stamp, 3> stamps{};
    const fs::path* paths[] = {&files_.certificate, &files_.private_key, &files_.ca};
    for (std::size_t i = 0; i < stamps.size(); ++i) {
      struct stat info {};
      if (::stat(paths[i]->c_str(), &info) == 0) {
        stamps[i] = {info.st_dev, info.st_ino, info.st_size,
                     std::int64_t(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
      }
    }
    return stamps;
  }

  CredentialFiles files_;
  std::shared_ptr<ssl::context> context_;
  std::array<Stamp, 3> stamps_{};
};

// --- one tunnelled connection --------------------------------------------------------

struct Tunnel {
  std::string asset;
  GatewayAddress gateway;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds shutdown_grace;
  SessionRegistry registry;
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

bool is_close(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

class TunnelConnection final : public std::enable_shared_from_this<TunnelConnection>, public Terminable {
 public:
  TunnelConnection(tcp::socket local, std::shared_ptr<ssl::context> tls, Tunnel& tunnel)
      : tunnel_(tunnel),
        tls_(std::move(tls)),
        local_(std::move(local)),
        gateway_(local_.get_executor(), *tls_),
        resolver_(local_.get_executor()),
        timer_(local_.get_executor()),
        to_local_done_timer_(local_.get_executor()) {
    peer_ = remote_text(local_);
    tunnel_.registry.add(this);
  }

  ~TunnelConnection() { tunnel_.registry.remove(this); }

  void start() {
    auto self = shared_from_this();
    asio::co_spawn(local_.get_executor(), [self] { return self->watchdog(); }, asio::detached);
    asio::co_spawn(local_.get_executor(), [self] { return self->run(); }, asio::detached);
  }

  void terminate(std::string_view reason) override {
    set_reason(reason);
    if (phase_ == Phase::relaying) {
      stop_relay();
    } else if (phase_ != Phase::closing && phase_ != Phase::done) {
      resolver_.cancel();
      close_sockets();
    }
  }

 private:
  enum class Phase { connecting, handshake, relaying, closing, done };

  asio::awaitable<void> run() {
    set_phase(Phase::connecting, Clock::now() + tunnel_.connect_timeout);
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

    if (!expect_gateway_identity()) {
      fail("cannot set the expected gateway name: " + openssl_reason().text);
      co_return;
    }
    set_phase(Phase::handshake, Clock::now() + tunnel_.connect_timeout);
    auto [handshake_error] = co_await gateway_.async_handshake(ssl::stream_base::client, kUseTuple);
    if (handshake_error) {
      fail(handshake_failure(handshake_error));
      co_return;
    }

    log_event(LogLevel::info, "tunnel_open", {{"asset", tunnel_.asset}, {"peer", peer_}});
    set_phase(Phase::relaying, Clock::time_point::max());
    auto self = shared_from_this();
    asio::co_spawn(local_.get_executor(), [self] { return self->relay_to_local(); }, asio::detached);
    co_await relay_to_gateway();
    if (!to_local_done_) {
      to_local_done_timer_.expires_at(Clock::time_point::max());
      co_await to_local_done_timer_.async_wait(kUseTuple);
    }
    co_await close_gateway();
    log_end();
    finish();
  }

  // The gateway's certificate must name the host we dialled: its DNS name (also sent as
  // SNI) or its IP address.
  bool expect_gateway_identity() {
    SSL* native = gateway_.native_handle();
    const GatewayAddress& gateway = tunnel_.gateway;
    SSL_set_hostflags(native, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (gateway.numeric) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), gateway.host.c_str()) == 1;
    return SSL_set_tlsext_host_name(native, gateway.host.c_str()) == 1 &&
           SSL_set1_host(native, gateway.host.c_str()) == 1;
  }

  std::string handshake_failure(const boost::system::error_code& ec) {
    long verify = SSL_get_verify_result(gateway_.native_handle());
    if (verify != X509_V_OK) return std::string("gateway certificate rejected: ") + X509_verify_cert_error_string(verify);
    if (is_tls_alert(ec)) return "gateway refused: " + error_text(ec);
    if (is_close(ec)) return "gateway closed the connection during the TLS handshake";
    return "TLS handshake failed: " + error_text(ec);
  }

  // local client -> gateway
  asio::awaitable<void> relay_to_gateway() {
    while (!stopping_) {
      auto [read_error, n] = co_await local_.async_read_some(asio::buffer(to_gateway_), kUseTuple);
      if (read_error) {
        if (read_error == asio::error::eof) {
          set_reason("client closed");
        } else if (read_error != asio::error::operation_aborted) {
          set_reason("client error: " + read_error.message());
        }
        break;
      }
      auto [write_error, written] = co_await asio::async_write(gateway_, asio::buffer(to_gateway_, n), kUseTuple);
      if (write_error) {
        note_gateway_error(write_error);
        break;
      }
      bytes_in_ += written;
    }
    stop_relay();
  }

  // gateway -> local client
  asio::awaitable<void> relay_to_local() {
    for (;;) {
      auto [read_error, n] = co_await gateway_.async_read_some(asio::buffer(to_local_), kUseTuple);
      if (read_error) {
        note_gateway_error(read_error);
        break;
      }
      auto [write_error, written] = co_await asio::async_write(local_, asio::buffer(to_local_, n), kUseTuple);
      if (write_error) {
        if (write_error != asio::error::operation_aborted) set_reason("client error: " + write_error.message());
        break;
      }
      bytes_out_ += written;
    }
    stop_relay();
    to_local_done_ = true;
    to_local_done_timer_.cancel();
  }

  void note_gateway_error(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (is_close(ec)) {
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
    reason_ = "gateway refused: " + error_text(ec);
  }

  // Either direction has ended, or the tunnel is stopping: end both, keeping the TLS
  // state usable for close_notify. The local client gets a FIN after what was relayed.
  void stop_relay() {
    if (stopping_) return;
    stopping_ = true;
    set_phase(Phase::closing, Clock::now() + tunnel_.shutdown_grace);
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

  asio::awaitable<void> watchdog() {
    auto self = shared_from_this();
    while (phase_ != Phase::done) {
      timer_.expires_at(deadline_);
      co_await timer_.async_wait(kUseTuple);
      if (phase_ != Phase::done && Clock::now() >= deadline_) on_deadline();
    }
  }

  void on_deadline() {
    deadline_ = Clock::time_point::max();  // wait for run() to finish
    switch (phase_) {
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

  void set_phase(Phase phase, Clock::time_point deadline) {
    phase_ = phase;
    deadline_ = deadline;
    timer_.cancel();  // the watchdog re-arms for the new deadline
  }

  void set_reason(std::string_view reason) {
    if (reason_.empty()) reason_ = reason;
  }

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
    phase_ = Phase::done;
    close_sockets();
    timer_.cancel();
  }

  void log_end() {
    if (reason_.empty()) reason_ = "closed";
    if (failed_) {
      log_event(LogLevel::warn, "tunnel_failed", {{"asset", tunnel_.asset}, {"peer", peer_}, {"reason", reason_}});
    } else {
      log_event(LogLevel::info, "tunnel_close",
                {{"asset", tunnel_.asset}, {"peer", peer_}, {"bytes_in", bytes_in_}, {"bytes_out", bytes_out_},
                 {"reason", reason_}});
    }
  }

  Tunnel& tunnel_;
  std::shared_ptr<ssl::context> tls_;  // kept alive: a reload may replace the tunnel's
  tcp::socket local_;
  ssl::stream<tcp::socket> gateway_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  asio::steady_timer to_local_done_timer_;

  Phase phase_ = Phase::connecting;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool stopping_ = false;
  bool to_local_done_ = false;
  bool gateway_broken_ = false;
  bool failed_ = false;

  std::string peer_;
  std::string reason_;
  std::uint64_t bytes_in_ = 0;   // local client -> gateway, as session_close's bytes_in
  std::uint64_t bytes_out_ = 0;  // gateway -> local client
  std::array<char, kRelayBuffer> to_gateway_;
  std::array<char, kRelayBuffer> to_local_;
};

// --- the local listener --------------------------------------------------------------

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, ClientCredentials& credentials, Tunnel& tunnel) {
  asio::steady_timer backoff(acceptor.get_executor());
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
  prepared.files = {file_or_default(options.certificate, "client.crt", "--cert"),
                    file_or_default(options.private_key, "client.key", "--key"),
                    file_or_default(options.ca, "ca.crt", "--ca"),
                    options.certificate.empty() || options.private_key.empty() || options.ca.empty()};
  return prepared;
}

}  // namespace

fs::path default_client_file(std::string_view name) {
  fs::path base;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  if (xdg && fs::path(xdg).is_absolute()) {  // the XDG spec ignores relative values
    base = xdg;
  } else if (home && *home) {
    base = fs::path(home) / ".config";
  } else {
    return {};
  }
  return base / "conduit" / name;
}

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
  Tunnel tunnel{options.asset, prepared.gateway, options.connect_timeout, options.shutdown_grace, {}};
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
  asio::co_spawn(context, accept_loop(acceptor, credentials, tunnel), asio::detached);
  asio::co_spawn(context, stop_on_signal(signals, acceptor, tunnel, stopped), asio::detached);
  context.run();  // returns once stopped and every connection has closed
  log_event(LogLevel::info, "tunnel_stopped", {{"asset", tunnel.asset}, {"connections_closed", stopped}});
  return 0;
}

}  // namespace conduit::proxy
