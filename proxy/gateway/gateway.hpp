// The data plane: one io_context and thread per I/O thread, each with its own
// SO_REUSEPORT acceptor per listener (or, for a protocol whose sessions share per-asset
// state, only on the asset's home thread), so a session lives on one thread for its whole
// life. Accepted connections are admitted against the session caps and handed to the
// listener's protocol handler (protocol_handler.hpp). Also owns the session recorder.
//
// Threading: construct, bind() and start() on one thread; end_refused_sessions(),
// drain() and stop() from one other thread (the control thread of proxy/cli/serve.cpp),
// never from an I/O thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "proxy/gateway/counters.hpp"
#include "proxy/gateway/protocol_handler.hpp"
#include "proxy/gateway/runtime.hpp"

namespace conduit::proxy {

class Gateway {
 public:
  // Opens the recorder and the request log (before privileges are dropped). Throws
  // std::runtime_error if they cannot be opened, or a listener's protocol has no handler.
  Gateway(std::shared_ptr<const Snapshot> initial, const HandlerRegistry& handlers, unsigned threads);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  GatewayState& state();
  unsigned threads() const;

  // Binds every listener, logging listener_ready for each. Throws std::runtime_error
  // naming the listener if one cannot be bound.
  void bind();
  // Accepts on every bound listener, on the I/O threads.
  void start();

  // Why `next` cannot replace the running configuration without a restart, or empty.
  std::string reload_refusal(const config::Config& current, const config::Config& next) const;

  // Ends the live sessions that the current revocation list refuses, on every I/O thread;
  // returns how many, once all have done so.
  unsigned end_refused_sessions();
  // Every counter of every I/O thread, summed (gateway.*, and each handler's own), with
  // the live session count.
  std::vector<CounterValue> counters();
  // Closes the acceptors, lets live sessions continue up to limits.drain_timeout, then
  // ends the rest. Returns how many had to be ended. Runs on the caller's executor.
  boost::asio::awaitable<unsigned> drain();
  // Stops the I/O threads (after a drain) and closes the recorder.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace conduit::proxy
