// What the running gateway shares across its I/O threads and with the control plane: the
// current configuration snapshot (policy and TLS context; immutable, swapped atomically on
// SIGHUP), the revocation list (swapped by the admin socket), the single-use ledger of
// per-session certificates, the admission counts, the session recorder and the request log.
// A session takes the snapshot once when it is accepted and keeps it for its whole life.
// Per-thread counters live with each I/O thread (gateway.cpp), not here.
#pragma once

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>

#include "audit/recorder.hpp"
#include "audit/request_log.hpp"
#include "authz/policy.hpp"
#include "authz/revocation_list.hpp"
#include "config/model.hpp"

namespace conduit::proxy {

struct Snapshot {
  config::Config config;
  authz::Policy policy;
  std::shared_ptr<boost::asio::ssl::context> tls;
};

// Builds the policy and TLS context of a validated configuration. Throws
// config::ConfigError if a TLS file does not load.
std::shared_ptr<const Snapshot> make_snapshot(config::Config config);

// Per-session certificates are single use: one key touch opens one session. Remembers the
// assertion ids seen until their certificates would have expired anyway. Called once per
// session open (not per request), from any I/O thread.
class AssertionLedger {
 public:
  // True the first time an id is presented.
  bool first_use(const std::string& assertion, std::chrono::steady_clock::time_point now,
                 std::chrono::seconds keep);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> seen_;
};

struct GatewayState {
  std::atomic<std::shared_ptr<const Snapshot>> snapshot;
  // Revoked users/keys/devices/certificates and lockdowns (published by proxy/control/).
  std::atomic<std::shared_ptr<const authz::RevocationList>> revocations{std::make_shared<const authz::RevocationList>()};
  AssertionLedger assertions;
  std::atomic<unsigned> sessions{0};       // accepted connections, handshaking or relaying
  std::atomic<unsigned> handshaking{0};    // accepted, TLS handshake not finished
  std::atomic<std::uint64_t> next_session{1};
  std::string session_prefix;              // random per process, so ids stay unique across restarts
  std::unique_ptr<audit::RequestLogFile> request_log;  // the Modbus request trail; each thread writes through its own RequestLog
  std::unique_ptr<audit::Recorder> recorder;       // null only with recordings.enabled false

  std::string new_session_id();
};

}  // namespace conduit::proxy
