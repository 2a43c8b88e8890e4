// What every client session has in common, whatever its protocol: the TLS handshake with
// a required client certificate, the identity read from it, the session decision from
// authz, the recording (opened, flushed, sealed and closed here), deadlines (handshake,
// upstream connect, idle, close), the session_open / session_close log lines, and being
// ended by drain, revocation or lockdown. The protocol part (proxy/gateway/<protocol>/,
// started by its ProtocolHandler) derives from it and implements serve().
//
// Threading: a session runs entirely on the io_context that owns its client socket; all
// its state is confined to that thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "proxy/gateway/identity.hpp"
#include "proxy/gateway/protocol_handler.hpp"
#include "proxy/gateway/runtime.hpp"
#include "proxy/net/event_log.hpp"
#include "proxy/net/handler_slot.hpp"
#include "proxy/net/lifecycle.hpp"
#include "proxy/net/session_registry.hpp"

namespace conduit::proxy {

class Session : public std::enable_shared_from_this<Session>, private audit::DurableWaiter {
 public:
  using Clock = std::chrono::steady_clock;

  // Takes the connection; `state.sessions` and `state.handshaking` must already count it,
  // and the session releases both.
  explicit Session(Accepted& accepted);
  virtual ~Session();

  void start();
  // Ends the session at once (drain timeout, revocation, lockdown).
  void terminate(std::string_view reason);
  // Why this session must end under the given revocations and lockdowns; empty if it may go on.
  std::string_view refused_by(const authz::RevocationList& revocations) const;

 protected:
  enum class Phase { handshake, connecting, relaying, closing, done };

  // The protocol part, once the session decision allowed it. Returns when the session is
  // over; the base then closes the client and logs session_close.
  virtual boost::asio::awaitable<void> serve() = 0;
  // Closes whatever upstream side the protocol has (sockets, pool registrations).
  virtual void close_upstream() = 0;
  // Protocol-specific fields for session_close (e.g. request counts).
  virtual std::size_t close_fields(std::span<LogField> out) const { (void)out; return 0; }
  // What the session index shows for this session; protocols add their request counts.
  virtual audit::SessionCounters counters() const { return {bytes_in_, bytes_out_, 0, 0, 0}; }

  // Appends to the session's recording (audit/recorder.hpp) and hands a full buffer to the
  // writer. Returns false when recording has failed; then nothing more may be forwarded
  // that must be recorded first. Without recordings (measurements only) always true.
  bool record(audit::Direction direction, audit::RecordedDecision decision, std::string_view rule,
              std::string_view summary, std::span<const std::uint8_t> payload);
  // Hands what has been recorded to the writer; on_recorded_durably(ok) then runs on this
  // session's thread once it is on disk (at once without recordings). One at a time; no
  // allocation (a Modbus write's path).
  void record_durably();
  virtual void on_recorded_durably(bool ok) { (void)ok; }

  void log_open(std::string_view upstream);
  void count(GatewayCounter counter) { counters_.add(counter); }
  void set_phase(Phase phase, Clock::duration timeout);
  void set_reason(std::string_view reason);
  void touch() { last_activity_ = Clock::now(); }
  bool closing() const {
    return lifecycle_.phase() == Phase::closing || lifecycle_.done() || lifecycle_.deadline_fired();
  }
  const std::string& reason() const { return lifecycle_.reason(); }
  // Sends close_notify and waits briefly for the client's; bounded by the watchdog.
  boost::asio::awaitable<void> close_client();
  void close_sockets();

  std::shared_ptr<const Snapshot> snapshot_;
  const config::Listener& listener_;
  const config::Asset& asset_;
  GatewayState& state_;
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> client_;
  Identity identity_;
  std::string session_id_;
  std::string peer_;
  std::string_view rule_;
  authz::SessionGrants grants_;
  std::unique_ptr<audit::SessionRecording> recording_;
  std::uint64_t bytes_in_ = 0;   // client -> asset
  std::uint64_t bytes_out_ = 0;  // asset -> client

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<bool> open();
  // Hands buffered records to the recorder a few times a second (and seals on schedule).
  boost::asio::awaitable<void> flush_recording();
  boost::asio::awaitable<void> close_recording();
  bool start_recording();
  Clock::time_point current_deadline() const;
  void on_deadline(Phase phase);
  void finish();
  void release_unauthenticated();
  void release_slot();
  void log_handshake_failure(const boost::system::error_code& ec);
  // Revocations, lockdowns and the single use of a per-session certificate; empty if admitted.
  std::string_view admission_refusal();
  void log_denied(std::string_view rule, std::string_view reason);
  void log_close();

  void on_durable(bool ok) override;  // the recorder's writer thread

  Sessions& registry_;
  HandlerSlot durable_slot_;
  std::shared_ptr<Session> durable_self_;
  GatewayCounters& counters_;
  Lifecycle<Phase> lifecycle_;
  boost::asio::steady_timer recording_timer_;
  Clock::time_point last_activity_{};
  Clock::time_point opened_at_{};
  bool unauthenticated_ = true;
  bool holds_slot_ = true;
  bool opened_ = false;
};

}  // namespace conduit::proxy
