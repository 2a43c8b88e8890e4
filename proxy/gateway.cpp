#include "proxy/gateway.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <list>
#include <random>
#include <thread>

#include "config/load.hpp"
#include "proxy/event_log.hpp"
#include "proxy/privileges.hpp"
#include "proxy/tcp_session.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

struct Worker {
  asio::io_context context{1};
  std::vector<tcp::acceptor> acceptors;  // one per listener, same order as the config
  SessionRegistry registry;
  std::thread thread;
};

std::string endpoint_text(const tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
         std::to_string(endpoint.port());
}

// Counts a new connection against a cap; false (and no count) if the cap is reached.
bool try_admit(std::atomic<unsigned>& counter, unsigned cap) {
  if (counter.fetch_add(1, std::memory_order_relaxed) >= cap) {
    counter.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

asio::awaitable<void> accept_loop(Worker& worker, std::size_t listener_index, GatewayState& state) {
  tcp::acceptor& acceptor = worker.acceptors[listener_index];
  asio::steady_timer backoff(worker.context);
  while (acceptor.is_open()) {
    auto [error, socket] = co_await acceptor.async_accept(kUseTuple);
    if (error == asio::error::operation_aborted) break;
    if (error) {
      // Usually EMFILE: back off instead of spinning on the same error.
      log_event(LogLevel::error, "accept_failed", {{"error", error.message()}});
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(kUseTuple);
      continue;
    }
    auto snapshot = state.snapshot.load();
    const config::Limits& limits = snapshot->config.limits;
    const char* refusal = nullptr;
    if (!try_admit(state.sessions, limits.max_sessions)) {
      refusal = "max_sessions reached";
    } else if (!try_admit(state.handshaking, limits.max_unauthenticated)) {
      state.sessions.fetch_sub(1, std::memory_order_relaxed);
      refusal = "max_unauthenticated reached";
    }
    if (refusal) {
      boost::system::error_code ignored;
      auto peer = socket.remote_endpoint(ignored);
      log_event(LogLevel::warn, "connection_refused",
                {{"listener", snapshot->config.listeners[listener_index].name},
                 {"peer", endpoint_text(peer)}, {"reason", refusal}});
      socket.close(ignored);
      continue;
    }
    start_tcp_session(std::move(socket), listener_index, std::move(snapshot), state, worker.registry);
  }
}

// Binds listener `index` on every worker with SO_REUSEPORT. With port 0 the first bind
// picks the port and the others share it.
std::string bind_listener(std::list<Worker>& workers, const config::Listener& listener) {
  tcp::endpoint endpoint(asio::ip::make_address(listener.bind.host), listener.bind.port);
  for (Worker& worker : workers) {
    tcp::acceptor acceptor(worker.context);
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

// Listener binds cannot change after start-up: privileges are gone and rebinding would
// drop queued connections. Everything else may change on reload.
bool same_listener_binds(const config::Config& a, const config::Config& b) {
  if (a.listeners.size() != b.listeners.size()) return false;
  for (std::size_t i = 0; i < a.listeners.size(); ++i) {
    if (a.listeners[i].name != b.listeners[i].name ||
        a.listeners[i].bind.to_string() != b.listeners[i].bind.to_string()) {
      return false;
    }
  }
  return true;
}

void reload(const ServeOptions& options, GatewayState& state) {
  std::string file = options.config_file.string();
  try {
    auto current = state.snapshot.load();
    config::Config next = config::load_file(options.config_file, options.data_dir_override);
    if (!same_listener_binds(current->config, next)) {
      throw config::ConfigError("/listeners", "listener names or binds changed; restart to apply");
    }
    auto snapshot = make_snapshot(std::move(next));
    log_event(LogLevel::info, "config_reloaded",
              {{"file", file}, {"listeners", snapshot->config.listeners.size()},
               {"assets", snapshot->config.assets.size()}, {"grants", snapshot->config.grants.size()}});
    state.snapshot.store(std::move(snapshot));
  } catch (const config::ConfigError& e) {
    log_event(LogLevel::error, "config_reload_rejected", {{"file", file}, {"error", e.what()}});
  }
}

template <typename Function>
void on_every_worker(std::list<Worker>& workers, Function function) {
  for (Worker& worker : workers) asio::post(worker.context, [&worker, function] { function(worker); });
}

// Returns how many sessions were still open at the drain deadline and had to be closed.
asio::awaitable<unsigned> drain(std::list<Worker>& workers, GatewayState& state) {
  auto timeout = state.snapshot.load()->config.limits.drain_timeout;
  log_event(LogLevel::info, "drain_started",
            {{"sessions", state.sessions.load()}, {"timeout_s", timeout.count()}});
  on_every_worker(workers, [](Worker& worker) {
    for (tcp::acceptor& acceptor : worker.acceptors) {
      boost::system::error_code ignored;
      acceptor.close(ignored);
    }
  });
  // The control thread polls the session count while draining; sessions themselves stay
  // free of any shutdown bookkeeping on their data path.
  asio::steady_timer poll(co_await asio::this_coro::executor);
  auto deadline = Clock::now() + timeout;
  unsigned terminated = 0;
  while (state.sessions.load() > 0) {
    if (!terminated && Clock::now() >= deadline) {
      terminated = state.sessions.load();
      on_every_worker(workers, [](Worker& worker) { worker.registry.terminate_all("drain timeout"); });
    }
    poll.expires_after(std::chrono::milliseconds(50));
    co_await poll.async_wait(kUseTuple);
  }
  co_return terminated;
}

// Returns once a drain has finished, with the number of sessions it had to close.
asio::awaitable<void> handle_signals(const ServeOptions& options, std::list<Worker>& workers, GatewayState& state,
                                     unsigned& terminated) {
  asio::signal_set signals(co_await asio::this_coro::executor, SIGHUP, SIGTERM, SIGINT);
  for (;;) {
    auto [error, signal] = co_await signals.async_wait(kUseTuple);
    if (error) co_return;
    if (signal == SIGHUP) {
      reload(options, state);
    } else {
      terminated = co_await drain(workers, state);
      co_return;
    }
  }
}

std::string random_prefix() {
  std::random_device random;
  char prefix[9];
  std::snprintf(prefix, sizeof prefix, "%08x", random());
  return prefix;
}

}  // namespace

int serve(const ServeOptions& options, std::shared_ptr<const Snapshot> initial) {
  std::signal(SIGPIPE, SIG_IGN);
  const config::Config& config = initial->config;
  unsigned threads = options.threads ? options.threads : config.gateway.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());

  GatewayState state;
  state.session_prefix = random_prefix();
  state.snapshot.store(initial);

  asio::io_context control(1);
  // Signals are registered before any worker thread exists, so none is lost.
  std::list<Worker> workers(threads);
  unsigned terminated = 0;
  asio::co_spawn(control, handle_signals(options, workers, state, terminated), asio::detached);

  for (const config::Listener& listener : config.listeners) {
    log_event(LogLevel::info, "listener_ready",
              {{"listener", listener.name}, {"address", bind_listener(workers, listener)}});
  }
  if (geteuid() == 0 && !config.gateway.run_as.empty()) {
    DroppedTo dropped = drop_privileges(config.gateway.run_as);
    log_event(LogLevel::info, "privileges_dropped",
              {{"user", config.gateway.run_as}, {"uid", dropped.uid}, {"gid", dropped.gid}});
  } else if (geteuid() == 0) {
    log_event(LogLevel::warn, "running_as_root", {{"hint", "set gateway.run_as to an unprivileged user"}});
  }

  for (Worker& worker : workers) {
    for (std::size_t i = 0; i < worker.acceptors.size(); ++i) {
      asio::co_spawn(worker.context, accept_loop(worker, i, state), asio::detached);
    }
  }
  for (Worker& worker : workers) worker.thread = std::thread([&worker] { worker.context.run(); });
  log_event(LogLevel::info, "gateway_started",
            {{"gateway", config.gateway.id}, {"threads", threads}, {"listeners", config.listeners.size()},
             {"pid", getpid()}});

  control.run();  // returns once a drain has finished
  for (Worker& worker : workers) {
    worker.context.stop();
    worker.thread.join();
  }
  log_event(LogLevel::info, "gateway_stopped", {{"gateway", config.gateway.id}, {"sessions_terminated", terminated}});
  return 0;
}

}  // namespace conduit::proxy
