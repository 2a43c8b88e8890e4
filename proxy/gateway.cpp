#include "proxy/gateway.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <latch>
#include <list>
#include <random>
#include <thread>

#include "config/load.hpp"
#include "proxy/accept.hpp"
#include "proxy/control_plane.hpp"
#include "proxy/event_log.hpp"
#include "proxy/net_text.hpp"
#include "proxy/privileges.hpp"
#include "proxy/modbus_session.hpp"
#include "proxy/tcp_session.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kModbusProtocol = authz::protocol_of<authz::ModbusRules>();  // until protocol handlers
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

struct Worker {
  asio::io_context context{1};
  // Keeps run() going on a worker with nothing to accept (a Modbus listener binds only on
  // its asset's home worker), so work posted to it during a drain still runs.
  asio::executor_work_guard<asio::io_context::executor_type> keep_running{context.get_executor()};
  std::vector<tcp::acceptor> acceptors;  // one per listener, same order as the config; closed if not bound here
  SessionRegistry registry;
  ModbusPools modbus_pools;
  std::thread thread;
};

// A Modbus asset's pool and every session that uses it live on one I/O thread (no locks,
// no cross-thread hop per request; one PLC is far slower than one core). The asset's
// position in the configuration picks the thread.
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

asio::awaitable<void> accept_loop(Worker& worker, std::size_t listener_index, GatewayState& state) {
  tcp::acceptor& acceptor = worker.acceptors[listener_index];
  asio::steady_timer backoff(worker.context);
  for (;;) {
    // Not in the loop condition: GCC 12 miscompiles co_await inside conditions.
    std::optional<tcp::socket> accepted = co_await accept_next(acceptor, backoff);
    if (!accepted) break;
    tcp::socket& socket = *accepted;
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
    if (snapshot->config.listeners[listener_index].protocol == kModbusProtocol) {
      start_modbus_session(std::move(socket), listener_index, std::move(snapshot), state, worker.registry,
                           worker.modbus_pools);
    } else {
      start_tcp_session(std::move(socket), listener_index, std::move(snapshot), state, worker.registry);
    }
  }
}

// Binds a listener on every worker with SO_REUSEPORT (Modbus listeners: on the asset's
// home worker only). With port 0 the first bind picks the port and the others share it.
std::string bind_listener(std::list<Worker>& workers, const config::Config& config, const config::Listener& listener) {
  tcp::endpoint endpoint(asio::ip::make_address(listener.bind.host), listener.bind.port);
  std::size_t home = home_worker(config, listener, workers.size());
  std::size_t index = 0;
  for (Worker& worker : workers) {
    tcp::acceptor acceptor(worker.context);
    if (listener.protocol == kModbusProtocol && index++ != home) {
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

// Listener binds cannot change after start-up: privileges are gone and rebinding would
// drop queued connections. A Modbus listener's asset fixes the thread its sessions and
// pool live on, so it cannot change either. Everything else may change on reload.
bool same_listener_binds(const config::Config& a, const config::Config& b) {
  if (a.listeners.size() != b.listeners.size()) return false;
  for (std::size_t i = 0; i < a.listeners.size(); ++i) {
    const config::Listener& before = a.listeners[i];
    const config::Listener& after = b.listeners[i];
    bool pinned = before.protocol == kModbusProtocol || after.protocol == kModbusProtocol;
    if (before.name != after.name || before.bind.to_string() != after.bind.to_string() ||
        before.protocol != after.protocol || (pinned && before.asset != after.asset)) {
      return false;
    }
  }
  return true;
}

// The auth API's settings live on the control-plane thread, built once at start-up.
bool same_auth(const config::AuthSettings& a, const config::AuthSettings& b) {
  return a.enabled == b.enabled && a.listen.to_string() == b.listen.to_string() && a.rp_id == b.rp_id &&
         a.certificate_ttl == b.certificate_ttl && a.session_certificate_ttl == b.session_certificate_ttl &&
         a.challenge_ttl == b.challenge_ttl && a.require_user_verification == b.require_user_verification &&
         a.aaguids == b.aaguids && a.attestation_roots == b.attestation_roots &&
         a.modbus_role_extension == b.modbus_role_extension;
}

void reload(const ServeOptions& options, GatewayState& state) {
  std::string file = options.config_file.string();
  try {
    auto current = state.snapshot.load();
    config::Config next = config::load_file(options.config_file, options.data_dir_override);
    if (!same_listener_binds(current->config, next)) {
      throw config::ConfigError("/listeners", "listener names, binds, protocols or Modbus assets changed; restart to apply");
    }
    if (!same_auth(current->config.auth, next.auth)) {
      throw config::ConfigError("/auth", "the auth section changed; restart to apply");
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

// Runs on the control-plane thread after a revocation or lockdown: every I/O thread ends
// its refused sessions (each session closes its sockets at once), and the admin gets the
// count when all have done so.
unsigned end_refused_sessions(std::list<Worker>& workers, std::shared_ptr<const authz::RevocationList> list) {
  std::atomic<unsigned> ended{0};
  std::latch done(static_cast<std::ptrdiff_t>(workers.size()));
  on_every_worker(workers, [&ended, &done, list](Worker& worker) {
    ended += worker.registry.terminate_refused(*list);
    done.count_down();
  });
  done.wait();
  return ended.load();
}

// Returns how many sessions were still open at the drain deadline and had to be closed.
asio::awaitable<unsigned> drain(std::list<Worker>& workers, GatewayState& state) {
  auto timeout = state.snapshot.load()->config.limits.drain_timeout;
  // Acceptors belong to their worker threads; close them there and wait, so that
  // drain_started really means no new connection is accepted.
  std::latch closed(static_cast<std::ptrdiff_t>(workers.size()));
  on_every_worker(workers, [&closed](Worker& worker) {
    for (tcp::acceptor& acceptor : worker.acceptors) {
      boost::system::error_code ignored;
      acceptor.close(ignored);
    }
    closed.count_down();
  });
  closed.wait();
  log_event(LogLevel::info, "drain_started",
            {{"sessions", state.sessions.load()}, {"timeout_s", timeout.count()}});
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
asio::awaitable<void> handle_signals(asio::signal_set& signals, const ServeOptions& options,
                                     std::list<Worker>& workers, GatewayState& state, unsigned& terminated,
                                     bool& stopping) {
  for (;;) {
    auto [error, signal] = co_await signals.async_wait(kUseTuple);
    if (error) co_return;
    if (signal == SIGHUP) {
      reload(options, state);
    } else {
      terminated = co_await drain(workers, state);
      stopping = true;
      co_return;
    }
  }
}

// Long sessions flush at close; this bounds how stale the audit file can be meanwhile.
asio::awaitable<void> flush_request_log(GatewayState& state, const bool& stopping) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stopping) {
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(kUseTuple);
    state.request_log->flush();
  }
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

int serve(const ServeOptions& options, std::shared_ptr<const Snapshot> initial) {
  std::signal(SIGPIPE, SIG_IGN);
  const config::Config& config = initial->config;
  unsigned threads = options.threads ? options.threads : config.gateway.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());

  GatewayState state;
  state.session_prefix = random_prefix();
  // Opened before privileges are dropped; the descriptor stays usable afterwards.
  state.request_log = std::make_unique<audit::RequestLog>(config.gateway.data_dir / "audit");
  state.recorder = start_recorder(config);
  state.snapshot.store(initial);

  asio::io_context control(1);
  // Registered before anything is logged: a SIGHUP sent as soon as `listener_ready`
  // appears must reload, not kill the process with the default action.
  asio::signal_set signals(control, SIGHUP, SIGTERM, SIGINT);
  std::list<Worker> workers(threads);
  unsigned terminated = 0;
  bool stopping = false;
  asio::co_spawn(control, handle_signals(signals, options, workers, state, terminated, stopping), asio::detached);

  for (const config::Listener& listener : config.listeners) {
    log_event(LogLevel::info, "listener_ready",
              {{"listener", listener.name}, {"address", bind_listener(workers, config, listener)}});
  }
  // Bound while still privileged, like the listeners: the admin socket is root's.
  ControlPlane control_plane(config, state, [&workers, &state](const authz::RevocationList&) {
    return end_refused_sessions(workers, state.revocations.load());
  });
  if (config.auth.enabled) {
    log_event(LogLevel::info, "listener_ready", {{"listener", "auth"}, {"address", control_plane.auth_address()}});
  }
  log_event(LogLevel::info, "admin_socket_ready", {{"path", control_plane.admin_socket()}});
  if (geteuid() == 0 && !config.gateway.run_as.empty()) {
    if (state.recorder) give_directory_to(config.gateway.data_dir / "recordings", config.gateway.run_as);
    DroppedTo dropped = drop_privileges(config.gateway.run_as);
    log_event(LogLevel::info, "privileges_dropped",
              {{"user", config.gateway.run_as}, {"uid", dropped.uid}, {"gid", dropped.gid}});
  } else if (geteuid() == 0) {
    log_event(LogLevel::warn, "running_as_root", {{"hint", "set gateway.run_as to an unprivileged user"}});
  }

  for (Worker& worker : workers) {
    for (std::size_t i = 0; i < worker.acceptors.size(); ++i) {
      if (worker.acceptors[i].is_open()) asio::co_spawn(worker.context, accept_loop(worker, i, state), asio::detached);
    }
  }
  for (Worker& worker : workers) worker.thread = std::thread([&worker] { worker.context.run(); });
  control_plane.start();
  log_event(LogLevel::info, "gateway_started",
            {{"gateway", config.gateway.id}, {"threads", threads}, {"listeners", config.listeners.size()},
             {"pid", getpid()}});

  asio::co_spawn(control, flush_request_log(state, stopping), asio::detached);
  control.run();  // returns once a drain has finished
  control_plane.stop();
  for (Worker& worker : workers) {
    worker.keep_running.reset();
    worker.context.stop();
    worker.thread.join();
  }
  if (state.recorder) state.recorder->stop();  // every session has closed its recording
  log_event(LogLevel::info, "gateway_stopped", {{"gateway", config.gateway.id}, {"sessions_terminated", terminated}});
  return 0;
}

}  // namespace conduit::proxy
