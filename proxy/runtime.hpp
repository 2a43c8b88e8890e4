// What the running gateway shares across its I/O threads: the current configuration
// snapshot (immutable, swapped atomically on SIGHUP) and a few atomic counters.
// A session takes the snapshot once when it is accepted and keeps it for its whole life.
#pragma once

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "audit/request_log.hpp"
#include "authz/policy.hpp"
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

struct GatewayState {
  std::atomic<std::shared_ptr<const Snapshot>> snapshot;
  std::atomic<unsigned> sessions{0};       // accepted connections, handshaking or relaying
  std::atomic<unsigned> handshaking{0};    // accepted, TLS handshake not finished
  std::atomic<std::uint64_t> next_session{1};
  std::string session_prefix;              // random per process, so ids stay unique across restarts
  std::unique_ptr<audit::RequestLog> request_log;  // Modbus request audit trail

  std::string new_session_id();
};

}  // namespace conduit::proxy
