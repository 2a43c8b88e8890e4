#include "proxy/gateway/gateway.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <latch>
#include <list>
#include <random>
#include <thread>

#include "proxy/gateway/session.hpp"
#include "proxy/net/accept.hpp"
#include "proxy/net/event_log.hpp"
#include "proxy/net/net_text.hpp"
#include "proxy/net/spawn.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// One I/O thread. Members are destroyed last first: the acceptors and the handlers' state
// (their sockets) while the io_context lives; then the io_context, whose destruction
// destroys the sessions still waiting in it, while the registry and counters they touch
// live.
struct Worker {
  Worker(const HandlerRegistry& handlers, GatewayState& gateway) {
    for (std::size_t protocol = 0; protocol < authz::kProtocolCount; ++protocol) {
      const ProtocolHandler* handler = handlers.find(static_cast<authz::ProtocolId>(protocol));
      state[protocol] = handler ? handler->make_worker_state(context.get_executor(), gateway) : nullptr;
    }
  }

  Sessions registry;
  GatewayCounters counters;
  asio::io_context context{1};
  // Keeps run() going on a worker with nothing to accept (a listener placed on its asset's
  // home thread binds only there), so work posted to it during a drain still runs.
  asio::executor_work_guard<asio::io_context::executor_type> keep_running{context.get_executor()};
  std::array<std::unique_ptr<WorkerState>, authz::kProtocolCount> state;  // per protocol handler
  std::vector<tcp::acceptor> acceptors;  // one per listener, same order as the config; closed if not bound here
  std::thread thread;
};

// The asset's position in the configuration picks its home thread.
std::size_t home_worker(const config::Config& config, const config::Listener& listener, std::size_t workers) {
  for (std::size_t i = 0; i < config.assets.size(); ++i) {
    if (config.assets[i].name == listener.asset) return i % workers;
  }
  return 0;
}

// Counts a new connection against a cap; false (and no count) if the cap is reached.
bool try_admit(std::atomic<unsigned>& counter, unsigned cap) {
  if (counter.fetch_add(1, std::memory_order_relaxed) >= cap) {
    counter.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

std::unique_ptr<audit::Recorder> start_recorder(const config::Config& config) {
  if (!config.recordings.enabled) {
    log_event(LogLevel::warn, "recording_disabled",
              {{"hint", "recordings.enabled is false: sessions are not recorded (for measurements only)"}});
    return nullptr;
  }
  audit::RecorderOptions options;
  options.directory = config.gateway.data_dir / "recordings";
  options.seal_interval = config.recordings.seal_interval;
  if (config.recordings.max_age.count() > 0) {
    options.retention.max_age_us = std::chrono::duration_cast<std::chrono::microseconds>(config.recordings.max_age).count();
  }
  if (config.recordings.max_total_bytes > 0) options.retention.max_total_bytes = config.recordings.max_total_bytes;
  options.on_failure = [](const std::string& what) {
    log_event(LogLevel::error, "recording_failed",
              {{"error", what}, {"hint", "new sessions are refused and nothing more is forwarded until the gateway restarts"}});
  };
  options.on_recovered = [](const std::string& id, const std::string& detail) {
    log_event(LogLevel::warn, "recording_recovered", {{"session", id}, {"detail", detail}});
  };
  options.on_expired = [](const std::string& id) { log_event(LogLevel::info, "recording_expired", {{"session", id}}); };
  return audit::Recorder::start(config.gateway.data_dir, std::move(options));
}

std::string random_prefix() {
  std::random_device random;
  char prefix[9];
  std::snprintf(prefix, sizeof prefix, "%08x", random());
  return prefix;
}

}  // namespace

struct Gateway::Impl {
  Impl(std::shared_ptr<const Snapshot> initial, const HandlerRegistry& handlers, unsigned threads)
      : handlers(handlers) {
    const config::Config& config = initial->config;
    for (const config::Listener& listener : config.listeners) handlers.at(listener.protocol);
    state.session_prefix = random_prefix();
    // Opened before privileges are dropped; the descriptors stay usable afterwards.
    state.request_log = std::make_unique<audit::RequestLogFile>(config.gateway.data_dir / "audit");
    state.recorder = start_recorder(config);
    state.snapshot.store(std::move(initial));
    for (unsigned i = 0; i < threads; ++i) workers.emplace_back(handlers, state);
  }

  const HandlerRegistry& handlers;
  GatewayState state;
  std::list<Worker> workers;

  Placement placement(const config::Listener& listener) const { return handlers.at(listener.protocol).placement(); }

  asio::awaitable<void> accept_loop(Worker& worker, std::size_t listener_index) {
    tcp::acceptor& acceptor = worker.acceptors[listener_index];
    asio::steady_timer backoff(worker.context);
    for (;;) {
      // Not in the loop condition: GCC 12 miscompiles co_await inside conditions.
      std::optional<tcp::socket> accepted = co_await accept_next(acceptor, backoff);
      if (!accepted) break;
      auto snapshot = state.snapshot.load();
      const config::Listener& listener = snapshot->config.listeners[listener_index];
      if (const char* refusal = admission_refusal(snapshot->config.limits, worker.counters)) {
        boost::system::error_code ignored;
        auto peer = accepted->remote_endpoint(ignored);
        log_event(LogLevel::warn, "connection_refused",
                  {{"listener", listener.name}, {"peer", endpoint_text(peer)}, {"reason", refusal}});
        accepted->close(ignored);
        continue;
      }
      handlers.at(listener.protocol)
          .start_session({std::move(*accepted), listener_index, std::move(snapshot), state, worker.registry,
                          worker.counters, worker.state[listener.protocol].get()});
    }
  }

  // Counts the connection against both caps, or says which one it would exceed.
  const char* admission_refusal(const config::Limits& limits, GatewayCounters& counters) {
    if (!try_admit(state.sessions, limits.max_sessions)) {
      counters.add(GatewayCounter::connections_refused_max_sessions);
      return "max_sessions reached";
    }
    if (!try_admit(state.handshaking, limits.max_unauthenticated)) {
      state.sessions.fetch_sub(1, std::memory_order_relaxed);
      counters.add(GatewayCounter::connections_refused_max_unauthenticated);
      return "max_unauthenticated reached";
    }
    counters.add(GatewayCounter::connections_accepted);
    return nullptr;
  }

  // Binds a listener with SO_REUSEPORT on every worker, or only on the asset's home
  // worker. With port 0 the first bind picks the port and the others share it.
  std::string bind_listener(const config::Config& config, const config::Listener& listener) {
    tcp::endpoint endpoint(asio::ip::make_address(listener.bind.host), listener.bind.port);
    std::size_t home = home_worker(config, listener, workers.size());
    bool home_only = placement(listener) == Placement::asset_thread;
    std::size_t index = 0;
    for (Worker& worker : workers) {
      tcp::acceptor acceptor(worker.context);
      if (home_only && index++ != home) {
        worker.acceptors.push_back(std::move(acceptor));
        continue;
      }
      boost::system::error_code ec;
      acceptor.open(endpoint.protocol(), ec);
      if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acceptor.set_option(ReusePort(true), ec);
      if (!ec) acceptor.bind(endpoint, ec);
      if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        throw std::runtime_error("cannot listen on " + listener.bind.to_string() + " for listener \"" +
                                 listener.name + "\": " + ec.message());
      }
      endpoint = acceptor.local_endpoint();
      worker.acceptors.push_back(std::move(acceptor));
    }
    return endpoint_text(endpoint);
  }

  template <typename Function>
  void on_every_worker(Function function) {
    for (Worker& worker : workers) asio::post(worker.context, [&worker, function] { function(worker); });
  }
};

Gateway::Gateway(std::shared_ptr<const Snapshot> initial, const HandlerRegistry& handlers, unsigned threads)
    : impl_(std::make_unique<Impl>(std::move(initial), handlers, threads)) {}

Gateway::~Gateway() { stop(); }

GatewayState& Gateway::state() { return impl_->state; }

unsigned Gateway::threads() const { return static_cast<unsigned>(impl_->workers.size()); }

void Gateway::bind() {
  auto snapshot = impl_->state.snapshot.load();
  for (const config::Listener& listener : snapshot->config.listeners) {
    log_event(LogLevel::info, "listener_ready",
              {{"listener", listener.name}, {"address", impl_->bind_listener(snapshot->config, listener)}});
  }
}

void Gateway::start() {
  for (Worker& worker : impl_->workers) {
    for (std::size_t i = 0; i < worker.acceptors.size(); ++i) {
      if (worker.acceptors[i].is_open()) {
        asio::co_spawn(worker.context, impl_->accept_loop(worker, i), report_escaped("accept"));
      }
    }
  }
  for (Worker& worker : impl_->workers) worker.thread = std::thread([&worker] { worker.context.run(); });
}

// Listener binds cannot change after start-up: privileges are gone and rebinding would
// drop queued connections. A listener placed on its asset's home thread cannot change its
// asset either: that asset's sessions and shared state are pinned to one I/O thread.
std::string Gateway::reload_refusal(const config::Config& a, const config::Config& b) const {
  bool same = a.listeners.size() == b.listeners.size();
  for (std::size_t i = 0; same && i < a.listeners.size(); ++i) {
    const config::Listener& before = a.listeners[i];
    const config::Listener& after = b.listeners[i];
    const ProtocolHandler* handler = impl_->handlers.find(after.protocol);
    bool pinned = impl_->placement(before) == Placement::asset_thread ||
                  (handler && handler->placement() == Placement::asset_thread);
    same = before.name == after.name && before.bind.to_string() == after.bind.to_string() &&
           before.protocol == after.protocol && !(pinned && before.asset != after.asset);
  }
  if (same) return {};
  return "listener names, binds, protocols or the assets of thread-pinned (e.g. Modbus) listeners changed; "
         "restart to apply";
}

// Each I/O thread ends its refused sessions (each session closes its sockets at once);
// the count comes back when all have done so.
unsigned Gateway::end_refused_sessions() {
  auto list = impl_->state.revocations.load();
  std::atomic<unsigned> ended{0};
  std::latch done(static_cast<std::ptrdiff_t>(impl_->workers.size()));
  impl_->on_every_worker([&ended, &done, list](Worker& worker) {
    ended += worker.registry.terminate_where([&list](const Session& session) { return session.refused_by(*list); });
    done.count_down();
  });
  done.wait();
  return ended.load();
}

std::vector<CounterValue> Gateway::counters() {
  // Each thread reads its own counters into its own slot; the sum is made here.
  std::vector<std::vector<CounterValue>> per_worker(impl_->workers.size());
  std::latch done(static_cast<std::ptrdiff_t>(impl_->workers.size()));
  std::size_t index = 0;
  for (Worker& worker : impl_->workers) {
    std::vector<CounterValue>& out = per_worker[index++];
    asio::post(worker.context, [&worker, &out, &done] {
      add_counters(out, "gateway", kGatewayCounterNames, worker.counters);
      for (const auto& state : worker.state) {
        if (state) state->add_counters(out);
      }
      done.count_down();
    });
  }
  done.wait();
  std::vector<CounterValue> totals;
  for (const auto& counters : per_worker) merge_counters(totals, counters);
  totals.push_back({"gateway.sessions_live", impl_->state.sessions.load()});
  totals.push_back({"gateway.coroutine_exceptions", escaped_exceptions()});
  return totals;
}

asio::awaitable<unsigned> Gateway::drain() {
  GatewayState& state = impl_->state;
  auto timeout = state.snapshot.load()->config.limits.drain_timeout;
  // Acceptors belong to their worker threads; close them there and wait, so that
  // drain_started really means no new connection is accepted.
  std::latch closed(static_cast<std::ptrdiff_t>(impl_->workers.size()));
  impl_->on_every_worker([&closed](Worker& worker) {
    for (tcp::acceptor& acceptor : worker.acceptors) {
      boost::system::error_code ignored;
      acceptor.close(ignored);
    }
    closed.count_down();
  });
  closed.wait();
  log_event(LogLevel::info, "drain_started", {{"sessions", state.sessions.load()}, {"timeout_s", timeout.count()}});
  // The caller's thread polls the session count while draining; sessions themselves stay
  // free of any shutdown bookkeeping on their data path.
  asio::steady_timer poll(co_await asio::this_coro::executor);
  auto deadline = Clock::now() + timeout;
  unsigned terminated = 0;
  while (state.sessions.load() > 0) {
    if (!terminated && Clock::now() >= deadline) {
      terminated = state.sessions.load();
      impl_->on_every_worker([](Worker& worker) { worker.registry.terminate_all("drain timeout"); });
    }
    poll.expires_after(std::chrono::milliseconds(50));
    co_await poll.async_wait(kUseTuple);
  }
  co_return terminated;
}

void Gateway::stop() {
  for (Worker& worker : impl_->workers) {
    worker.keep_running.reset();
    worker.context.stop();
    if (worker.thread.joinable()) worker.thread.join();
  }
  // Every session has closed its recording by now.
  if (impl_->state.recorder) impl_->state.recorder->stop();
}

}  // namespace conduit::proxy
