// What a protocol brings to the gateway: a handler that starts the protocol part of a
// session on an accepted connection. Everything else a session is -- the TLS accept, the
// identity, the session grant, the recording's start and end, registration for kill and
// revocation, deadlines -- is protocol-independent (session.hpp) and written once.
//
// Each protocol lives in its own folder (proxy/gateway/<protocol>/) and registers one
// handler, keyed by its authz::ProtocolId, in the HandlerRegistry the gateway is built
// with (proxy/cli/serve.cpp). Shared code asks the registry; it never compares a listener's
// protocol with a particular one.
//
// Threading: a handler is immutable after registration and used from every I/O thread.
// Its per-thread state (e.g. upstream pools) lives in the WorkerState it makes for each
// I/O thread, which only that thread touches.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "authz/protocol_rules.hpp"
#include "proxy/gateway/counters.hpp"
#include "proxy/gateway/runtime.hpp"
#include "proxy/net/session_registry.hpp"

namespace conduit::proxy {

class Session;
using Sessions = SessionRegistry<Session>;

// A handler's state on one I/O thread.
class WorkerState {
 public:
  virtual ~WorkerState() = default;
  // Adds this thread's counters of the handler to `totals` (on this thread).
  virtual void add_counters(std::vector<CounterValue>& totals) const { (void)totals; }
};

// Where a listener's connections are accepted and their sessions run.
enum class Placement {
  every_thread,  // every I/O thread accepts (SO_REUSEPORT) and serves
  asset_thread,  // only the asset's home thread: sessions share state without locks
};

// An accepted connection, admitted against max_sessions and max_unauthenticated (the
// session releases both counts), on the I/O thread whose `registry` and `worker` it gets.
struct Accepted {
  boost::asio::ip::tcp::socket socket;
  std::size_t listener_index;
  std::shared_ptr<const Snapshot> snapshot;
  GatewayState& state;
  Sessions& registry;
  GatewayCounters& counters;
  WorkerState* worker;  // what make_worker_state() made for this thread, or null
};

class ProtocolHandler {
 public:
  virtual ~ProtocolHandler() = default;

  virtual authz::ProtocolId protocol() const = 0;
  virtual Placement placement() const { return Placement::every_thread; }
  // Made once for each I/O thread, on the thread that builds the gateway.
  virtual std::unique_ptr<WorkerState> make_worker_state(boost::asio::any_io_executor executor,
                                                         GatewayState& state) const {
    (void)executor;
    (void)state;
    return nullptr;
  }
  // Starts a session for the connection; runs on the connection's I/O thread.
  virtual void start_session(Accepted accepted) const = 0;
};

// The handlers a gateway is built with, one per protocol at most.
class HandlerRegistry {
 public:
  // Throws std::logic_error if the protocol already has a handler.
  void add(std::unique_ptr<ProtocolHandler> handler);
  // Null when no handler serves the protocol.
  const ProtocolHandler* find(authz::ProtocolId protocol) const;
  // Throws std::runtime_error naming the protocol when no handler serves it.
  const ProtocolHandler& at(authz::ProtocolId protocol) const;

 private:
  std::array<std::unique_ptr<ProtocolHandler>, authz::kProtocolCount> handlers_;
};

}  // namespace conduit::proxy
