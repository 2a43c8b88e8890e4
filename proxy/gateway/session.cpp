#include "proxy/gateway/session.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/gateway/week_time.hpp"
#include "proxy/net/net_text.hpp"
#include "proxy/net/spawn.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
// How long we wait for the client's close_notify after sending ours.
constexpr auto kShutdownGrace = std::chrono::seconds(1);
// Reads are recorded asynchronously: buffered records reach the writer at least this
// often, or sooner when the buffer passes kRecordingFlushBytes.
constexpr auto kRecordingFlushInterval = std::chrono::milliseconds(250);
constexpr std::size_t kRecordingFlushBytes = 64 * 1024;
// A bound on waiting for the writer at close (a stalled disk must not hold sessions forever).
constexpr auto kRecordingCloseWait = std::chrono::seconds(10);
// Admission refusals that are not revocations (authz::RevocationList names those).
constexpr std::string_view kLockdown = "lockdown";
constexpr std::string_view kAlreadyUsed = "per-session certificate already used";

}  // namespace

Session::Session(Accepted& accepted)
    : snapshot_(std::move(accepted.snapshot)),
      listener_(snapshot_->config.listeners.at(accepted.listener_index)),
      asset_(*snapshot_->config.find_asset(listener_.asset)),
      state_(accepted.state),
      client_(std::move(accepted.socket), *snapshot_->tls),
      registry_(accepted.registry),
      counters_(accepted.counters),
      lifecycle_(client_.get_executor(), Phase::handshake),
      recording_timer_(client_.get_executor()) {
  peer_ = remote_text(client_.next_layer());
  registry_.add(this);
}

Session::~Session() {
  registry_.remove(this);
  release_slot();
}

void Session::start() {
  set_phase(Phase::handshake, snapshot_->config.limits.handshake_timeout);
  auto self = shared_from_this();
  asio::co_spawn(client_.get_executor(),
                 [self] {
                   return self->lifecycle_.watch([&session = *self] { return session.current_deadline(); },
                                                 [&session = *self](Phase phase) { session.on_deadline(phase); });
                 },
                 report_escaped("session watchdog"));
  asio::co_spawn(client_.get_executor(), [self] { return self->run(); }, report_escaped("session"));
}

void Session::terminate(std::string_view reason) {
  count(GatewayCounter::sessions_terminated);
  set_reason(reason);
  close_sockets();
}

asio::awaitable<void> Session::run() {
  // Not `if (co_await open())`: GCC 12 miscompiles co_await inside a condition here.
  bool allowed = co_await open();
  if (allowed) {
    opened_at_ = Clock::now();
    opened_ = true;
    if (recording_) {
      auto self = shared_from_this();
      asio::co_spawn(client_.get_executor(), [self] { return self->flush_recording(); },
                     report_escaped("session recording flush"));
    }
    co_await serve();
    co_await close_client();
    co_await close_recording();
    log_close();
  }
  finish();
}

asio::awaitable<bool> Session::open() {
  auto [handshake_error] = co_await client_.async_handshake(ssl::stream_base::server, kUseTuple);
  release_unauthenticated();
  if (handshake_error) {
    if (!lifecycle_.deadline_fired()) count(GatewayCounter::tls_handshake_failed);  // else counted as a timeout
    log_handshake_failure(handshake_error);
    co_return false;
  }
  boost::system::error_code ignored;
  client_.next_layer().set_option(asio::ip::tcp::no_delay(true), ignored);

  identity_ = identity_from_client_certificate(SSL_get0_peer_certificate(client_.native_handle()), asset_.name);
  session_id_ = state_.new_session_id();
  if (std::string_view refusal = admission_refusal(); !refusal.empty()) {
    count(refusal == kLockdown       ? GatewayCounter::sessions_denied_locked_down
          : refusal == kAlreadyUsed ? GatewayCounter::sessions_denied_mfa_reused
                                    : GatewayCounter::sessions_denied_revoked);
    log_denied("revocation", refusal);
    co_await close_client();
    co_return false;
  }
  authz::SessionDecision result =
      snapshot_->policy.decide_session(identity_.subject(), asset_.name, asset_.protocol(), week_time_now());
  if (!result.decision.allowed()) {
    count(GatewayCounter::sessions_denied_policy);
    log_denied(result.decision.rule, result.decision.reason);
    co_await close_client();
    co_return false;
  }
  rule_ = result.decision.rule;
  grants_ = std::move(result.grants);
  if (!start_recording()) {
    count(GatewayCounter::sessions_denied_recording);
    log_denied("recording", "recording unavailable: the gateway refuses sessions it cannot record");
    co_await close_client();
    co_return false;
  }
  co_return true;
}

std::string_view Session::refused_by(const authz::RevocationList& revocations) const {
  return revocations.refusal(identity_.holder(), asset_.name);
}

std::string_view Session::admission_refusal() {
  std::string_view refusal = refused_by(*state_.revocations.load());
  if (!refusal.empty()) return refusal;
  // One touch, one session: a per-session certificate for this asset opens one session.
  if (identity_.mfa == authz::Mfa::per_session) {
    // Remembered while the certificate could still be valid (plus clock skew).
    auto keep = std::chrono::duration_cast<std::chrono::seconds>(snapshot_->config.auth.session_certificate_ttl +
                                                                std::chrono::minutes(2));
    if (!state_.assertions.first_use(identity_.assertion, Clock::now(), keep)) {
      return kAlreadyUsed;
    }
  }
  return {};
}

bool Session::start_recording() {
  if (!state_.recorder) return true;  // recordings.enabled false: measurements only
  audit::Header header;
  header.session_id = session_id_;
  header.gateway_id = snapshot_->config.gateway.id;
  header.user = identity_.user;
  header.device = identity_.device;
  header.role = identity_.role;
  header.asset = asset_.name;
  header.protocol = authz::protocol_name(asset_.protocol());
  header.listener = listener_.name;
  std::string asset_address = asset_.address.to_string();
  header.client_address = peer_;
  header.asset_address = asset_address;
  header.start_wall_us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  header.policy_version = snapshot_->config.version;
  recording_ = state_.recorder->open(header);
  if (!recording_) return false;
  if (!identity_.key.empty()) {
    std::string note = "authorized by FIDO2 key " + identity_.key;
    if (!identity_.assertion.empty()) note += " with per-session assertion " + identity_.assertion;
    recording_->note(note);
  }
  return true;
}

bool Session::record(audit::Direction direction, audit::RecordedDecision decision, std::string_view rule,
                        std::string_view summary, std::span<const std::uint8_t> payload) {
  if (!recording_) return !state_.recorder;
  bool ok = recording_->data(direction, decision, rule, summary, payload);
  if (recording_->buffered() >= kRecordingFlushBytes) recording_->flush(counters());
  return ok;
}

void Session::record_durably() {
  if (!recording_) {
    on_recorded_durably(!state_.recorder);
    return;
  }
  durable_self_ = shared_from_this();  // alive until the answer is handled
  recording_->flush_durable(counters(), *this);
}

// On the writer thread: the answer is handled on this session's thread, in memory the
// session keeps for it (one write waits at a time).
void Session::on_durable(bool ok) {
  asio::post(client_.get_executor(), asio::bind_allocator(SlotAllocator<void>(durable_slot_), [this, ok] {
               std::shared_ptr<Session> self = std::move(durable_self_);
               on_recorded_durably(ok);
             }));
}

// session_close is logged once the recording is closed on disk and in the index, so that
// whoever reads the index after that event finds the session ended.
asio::awaitable<void> Session::close_recording() {
  if (!recording_) co_return;
  auto self = shared_from_this();
  auto closed = std::make_shared<asio::steady_timer>(client_.get_executor());
  closed->expires_after(kRecordingCloseWait);
  recording_->close(reason().empty() ? "closed" : reason(), counters(), [closed](bool) {
    asio::post(closed->get_executor(), [closed] { closed->cancel(); });
  });
  co_await closed->async_wait(kUseTuple);
}

asio::awaitable<void> Session::flush_recording() {
  auto self = shared_from_this();
  // Ends once the recording is closed (or the recorder failed): healthy() turns false.
  // finish() cancels the timer, so a closed session frees its slot at once.
  while (!lifecycle_.done() && recording_->healthy()) {
    recording_timer_.expires_after(kRecordingFlushInterval);
    co_await recording_timer_.async_wait(kUseTuple);
    if (!lifecycle_.done() && recording_->healthy()) recording_->flush(counters());
  }
}

void Session::log_denied(std::string_view rule, std::string_view reason) {
  release_slot();
  log_event(LogLevel::warn, "session_denied",
            {{"session", session_id_}, {"listener", listener_.name}, {"peer", peer_},
             {"device", identity_.device}, {"user", identity_.user}, {"role", identity_.role},
             {"key", identity_.key}, {"asset", listener_.asset}, {"rule", rule}, {"reason", reason}});
}

void Session::log_open(std::string_view upstream) {
  count(GatewayCounter::sessions_opened);
  log_event(LogLevel::info, "session_open",
            {{"session", session_id_}, {"listener", listener_.name}, {"peer", peer_},
             {"device", identity_.device}, {"user", identity_.user}, {"role", identity_.role},
             {"asset", asset_.name}, {"upstream", upstream}, {"rule", rule_}, {"key", identity_.key},
             {"mfa_assertion", identity_.assertion}, {"identity", to_string(identity_.source)}});
  touch();
  lifecycle_.enter(Phase::relaying, Clock::time_point::max());  // the idle timeout applies
}

void Session::log_close() {
  release_slot();
  count(GatewayCounter::sessions_closed);
  auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - opened_at_);
  std::array<LogField, 20> fields{
      LogField{"session", session_id_}, {"listener", listener_.name}, {"peer", peer_},
      {"device", identity_.device},     {"user", identity_.user},     {"asset", asset_.name},
      {"bytes_in", bytes_in_},          {"bytes_out", bytes_out_},    {"duration_ms", duration.count()},
      {"reason", reason()}};
  constexpr std::size_t kCommon = 10;
  std::size_t extra = close_fields(std::span<LogField>(fields).subspan(kCommon));
  log_event(LogLevel::info, "session_close", std::span<const LogField>(fields.data(), kCommon + extra));
}

asio::awaitable<void> Session::close_client() {
  if (client_.next_layer().is_open()) {
    set_phase(Phase::closing, kShutdownGrace);
    co_await client_.async_shutdown(kUseTuple);
  }
  close_sockets();
}

Session::Clock::time_point Session::current_deadline() const {
  if (lifecycle_.phase() == Phase::relaying) return last_activity_ + snapshot_->config.limits.idle_timeout;
  return lifecycle_.deadline();
}

void Session::on_deadline(Phase phase) {
  switch (phase) {
    case Phase::handshake:
      count(GatewayCounter::tls_handshake_timeout);
      set_reason("handshake timeout");
      break;
    case Phase::connecting:
      count(GatewayCounter::upstream_connect_timeout);
      set_reason("upstream connect timeout");
      break;
    case Phase::relaying:
      count(GatewayCounter::sessions_idle_timeout);
      set_reason("idle timeout");
      break;
    case Phase::closing:
    case Phase::done: break;
  }
  close_sockets();
}

void Session::set_phase(Phase phase, Clock::duration timeout) { lifecycle_.enter(phase, Clock::now() + timeout); }

void Session::set_reason(std::string_view reason) { lifecycle_.set_reason(reason); }

void Session::close_sockets() {
  boost::system::error_code ignored;
  client_.next_layer().close(ignored);
  close_upstream();
}

void Session::finish() {
  lifecycle_.finish();
  close_sockets();
  recording_timer_.cancel();
}

// The session's place under max_sessions is free once its last event is logged, not when
// its last coroutine lets go of it: whoever reads session_close may connect again at once.
void Session::release_slot() {
  release_unauthenticated();
  if (holds_slot_) {
    holds_slot_ = false;
    state_.sessions.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Session::release_unauthenticated() {
  if (unauthenticated_) {
    unauthenticated_ = false;
    state_.handshaking.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Session::log_handshake_failure(const boost::system::error_code& ec) {
  release_slot();
  std::string reason = this->reason().empty() ? ec.message() : this->reason();
  long verify = SSL_get_verify_result(client_.native_handle());
  if (verify != X509_V_OK) reason += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
  log_event(LogLevel::warn, "tls_handshake_failed", {{"listener", listener_.name}, {"peer", peer_}, {"reason", reason}});
}

}  // namespace conduit::proxy
