#include "proxy/control/control_plane.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "proxy/control/admin_socket.hpp"
#include "proxy/control/auth_server.hpp"
#include "proxy/control/control_state.hpp"
#include "proxy/net/accept.hpp"
#include "proxy/net/net_text.hpp"
#include "proxy/net/spawn.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using local = asio::local::stream_protocol;

mfa::CredentialStore open_store(const std::filesystem::path& data_dir) {
  std::string message;
  auto store = mfa::CredentialStore::open(data_dir / "credentials.db", &message);
  if (!store) throw std::runtime_error(message.empty() ? store.error().message() : message);
  return std::move(*store);
}

std::string read_text(const std::filesystem::path& file) {
  if (file.empty()) return {};
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

mfa::AuthPolicy auth_policy(const config::AuthSettings& auth) {
  mfa::AuthPolicy policy;
  policy.rp_id = auth.rp_id;
  policy.certificate_ttl = auth.certificate_ttl;
  policy.session_certificate_ttl = auth.session_certificate_ttl;
  policy.challenge_ttl = auth.challenge_ttl;
  policy.require_user_verification = auth.require_user_verification;
  policy.aaguids = auth.aaguids;
  policy.attestation_roots_pem = read_text(auth.attestation_roots);
  policy.modbus_role_extension = auth.modbus_role_extension;
  return policy;
}

// Root-only: created 0600 by the (still privileged) gateway; a stale socket file from a
// crashed run is replaced, anything else at that path is not.
local::acceptor bind_admin_socket(asio::io_context& context, const std::filesystem::path& path) {
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      throw std::runtime_error("admin socket path " + path.string() + " exists and is not a socket");
    }
    ::unlink(path.c_str());
  }
  local::acceptor acceptor(context);
  boost::system::error_code ec;
  acceptor.open(local(), ec);
  mode_t old_mask = ::umask(0177);
  if (!ec) acceptor.bind(local::endpoint(path.string()), ec);
  ::umask(old_mask);
  if (!ec) acceptor.listen(16, ec);
  if (ec) throw std::runtime_error("cannot listen on admin socket " + path.string() + ": " + ec.message());
  return acceptor;
}

}  // namespace

std::optional<unsigned> ControlState::publish_revocations(bool end_live) {
  auto revocations = store.revocations();
  auto lockdowns = store.lockdowns();
  if (!revocations || !lockdowns) return std::nullopt;
  auto list = std::make_shared<authz::RevocationList>();
  for (const mfa::Revocation& revocation : *revocations) {
    switch (revocation.kind) {
      case mfa::RevocationKind::user: list->users.insert(revocation.id); break;
      case mfa::RevocationKind::key: list->keys.insert(revocation.id); break;
      case mfa::RevocationKind::device: list->devices.insert(revocation.id); break;
      case mfa::RevocationKind::certificate: list->certificates.insert(revocation.id); break;
    }
  }
  for (const mfa::Lockdown& lockdown : *lockdowns) list->lockdowns.push_back({lockdown.role, lockdown.asset_pattern});
  // New sessions see the list first; then the live ones that it refuses are ended.
  gateway.revocations.store(list);
  return end_live ? data_plane.end_refused_sessions() : 0u;
}

struct ControlPlane::Impl {
  asio::io_context context{1};
  ControlState state;
  std::optional<tcp::acceptor> auth_acceptor;
  local::acceptor admin_acceptor;
  std::filesystem::path admin_path;
  config::AuthSettings auth_settings;
  std::thread thread;

  Impl(const config::Config& config, Gateway& gateway)
      : state{gateway, gateway.state(), open_store(config.gateway.data_dir), {}, {}, ::geteuid()},
        admin_acceptor(bind_admin_socket(context, config.gateway.admin_socket)),
        admin_path(config.gateway.admin_socket),
        auth_settings(config.auth) {
    if (!state.publish_revocations(false)) {
      throw std::runtime_error("cannot read revocations from the credential store: " + state.store.last_error_message());
    }
    if (config.auth.enabled) {
      state.ca.emplace(mfa::SiteCa::open(config.gateway.data_dir));
      state.auth.emplace(state.store, *state.ca, auth_policy(config.auth));
      tcp::endpoint endpoint(asio::ip::make_address(config.auth.listen.host), config.auth.listen.port);
      auth_acceptor.emplace(context);
      boost::system::error_code ec;
      auth_acceptor->open(endpoint.protocol(), ec);
      if (!ec) auth_acceptor->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) auth_acceptor->bind(endpoint, ec);
      if (!ec) auth_acceptor->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) throw std::runtime_error("cannot listen on " + config.auth.listen.to_string() + " for the auth API: " + ec.message());
    }
  }

  asio::awaitable<void> accept_auth() {
    asio::steady_timer backoff(context);
    for (;;) {
      std::optional<tcp::socket> socket = co_await accept_next(*auth_acceptor, backoff);
      if (!socket) break;
      // The TLS context of the configuration current now (SIGHUP may have replaced it).
      auto snapshot = state.gateway.snapshot.load();
      asio::co_spawn(context,
                     [this, snapshot, s = std::move(*socket)]() mutable {
                       return serve_auth_connection(std::move(s), *snapshot->tls, state);
                     },
                     report_escaped("auth connection"));
    }
  }

  asio::awaitable<void> accept_admin() {
    for (;;) {
      auto [error, socket] = co_await admin_acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error == asio::error::operation_aborted || !admin_acceptor.is_open()) break;
      if (error) continue;
      asio::co_spawn(context, serve_admin_connection(std::move(socket), state),
                     report_escaped("admin connection"));
    }
  }
};

ControlPlane::ControlPlane(const config::Config& config, Gateway& gateway)
    : impl_(std::make_unique<Impl>(config, gateway)) {}

ControlPlane::~ControlPlane() {
  stop();
  ::unlink(impl_->admin_path.c_str());
}

std::string ControlPlane::auth_address() const {
  return impl_->auth_acceptor ? endpoint_text(impl_->auth_acceptor->local_endpoint()) : std::string();
}

std::string ControlPlane::admin_socket() const { return impl_->admin_path.string(); }

bool ControlPlane::can_reload(const config::AuthSettings& b) const {
  const config::AuthSettings& a = impl_->auth_settings;
  return a.enabled == b.enabled && a.listen.to_string() == b.listen.to_string() && a.rp_id == b.rp_id &&
         a.certificate_ttl == b.certificate_ttl && a.session_certificate_ttl == b.session_certificate_ttl &&
         a.challenge_ttl == b.challenge_ttl && a.require_user_verification == b.require_user_verification &&
         a.aaguids == b.aaguids && a.attestation_roots == b.attestation_roots &&
         a.modbus_role_extension == b.modbus_role_extension;
}

void ControlPlane::start() {
  if (impl_->auth_acceptor) asio::co_spawn(impl_->context, impl_->accept_auth(), report_escaped("auth accept"));
  asio::co_spawn(impl_->context, impl_->accept_admin(), report_escaped("admin accept"));
  impl_->thread = std::thread([this] { impl_->context.run(); });
}

void ControlPlane::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->context, [this] {
    boost::system::error_code ignored;
    if (impl_->auth_acceptor) impl_->auth_acceptor->close(ignored);
    impl_->admin_acceptor.close(ignored);
  });
  impl_->context.stop();
  impl_->thread.join();
}

}  // namespace conduit::proxy
