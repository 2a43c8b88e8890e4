#include "proxy/cli/serve.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <thread>

#include "config/load.hpp"
#include "proxy/control/control_plane.hpp"
#include "proxy/gateway/gateway.hpp"
#include "proxy/gateway/modbus/modbus_session.hpp"
#include "proxy/gateway/privileges.hpp"
#include "proxy/gateway/tcp/tcp_session.hpp"
#include "proxy/net/event_log.hpp"
#include "proxy/net/spawn.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

void reload(const ServeOptions& options, Gateway& gateway, const ControlPlane& control_plane) {
  std::string file = options.config_file.string();
  GatewayState& state = gateway.state();
  try {
    auto current = state.snapshot.load();
    config::Config next = config::load_file(options.config_file, options.data_dir_override);
    if (std::string refusal = gateway.reload_refusal(current->config, next); !refusal.empty()) {
      throw config::ConfigError("/listeners", refusal);
    }
    if (!control_plane.can_reload(next.auth)) {
      throw config::ConfigError("/auth", "the auth section changed; restart to apply");
    }
    auto snapshot = make_snapshot(std::move(next));
    const config::Config& loaded = snapshot->config;
    std::size_t listeners = loaded.listeners.size(), assets = loaded.assets.size(), grants = loaded.grants.size();
    // Stored before it is logged: whoever sees config_reloaded gets the new configuration.
    state.snapshot.store(std::move(snapshot));
    log_event(LogLevel::info, "config_reloaded",
              {{"file", file}, {"listeners", listeners}, {"assets", assets}, {"grants", grants}});
  } catch (const config::ConfigError& e) {
    log_event(LogLevel::error, "config_reload_rejected", {{"file", file}, {"error", e.what()}});
  }
}

// Returns once a drain has finished, with the number of sessions it had to close.
asio::awaitable<void> handle_signals(asio::signal_set& signals, const ServeOptions& options, Gateway& gateway,
                                     const ControlPlane& control_plane, unsigned& terminated) {
  for (;;) {
    auto [error, signal] = co_await signals.async_wait(kUseTuple);
    if (error) co_return;
    if (signal == SIGHUP) {
      reload(options, gateway, control_plane);
    } else {
      terminated = co_await gateway.drain();
      co_return;
    }
  }
}

void log_notes(const config::Config& config) {
  for (const std::string& note : config.notes) log_event(LogLevel::warn, "config_note", {{"note", note}});
}

}  // namespace

const HandlerRegistry& all_handlers() {
  static const HandlerRegistry registry = [] {
    HandlerRegistry handlers;
    handlers.add(make_tcp_handler());
    handlers.add(make_modbus_handler());
    return handlers;
  }();
  return registry;
}

int serve(const ServeOptions& options, std::shared_ptr<const Snapshot> initial) {
  std::signal(SIGPIPE, SIG_IGN);
  const config::Config config = initial->config;
  unsigned threads = options.threads ? options.threads : config.gateway.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  log_notes(config);

  Gateway gateway(std::move(initial), all_handlers(), threads);
  asio::io_context control(1);
  // Registered before anything is logged: a SIGHUP sent as soon as `listener_ready`
  // appears must reload, not kill the process with the default action.
  asio::signal_set signals(control, SIGHUP, SIGTERM, SIGINT);
  gateway.bind();
  // Bound while still privileged, like the listeners: the admin socket is root's.
  ControlPlane control_plane(config, gateway);
  if (config.auth.enabled) {
    log_event(LogLevel::info, "listener_ready", {{"listener", "auth"}, {"address", control_plane.auth_address()}});
  }
  log_event(LogLevel::info, "admin_socket_ready", {{"path", control_plane.admin_socket()}});
  if (geteuid() == 0 && !config.gateway.run_as.empty()) {
    if (gateway.state().recorder) give_directory_to(config.gateway.data_dir / "recordings", config.gateway.run_as);
    DroppedTo dropped = drop_privileges(config.gateway.run_as);
    log_event(LogLevel::info, "privileges_dropped",
              {{"user", config.gateway.run_as}, {"uid", dropped.uid}, {"gid", dropped.gid}});
  } else if (geteuid() == 0) {
    log_event(LogLevel::warn, "running_as_root", {{"hint", "set gateway.run_as to an unprivileged user"}});
  }

  unsigned terminated = 0;
  asio::co_spawn(control, handle_signals(signals, options, gateway, control_plane, terminated),
                 report_escaped("signals"));
  gateway.start();
  control_plane.start();
  log_event(LogLevel::info, "gateway_started",
            {{"gateway", config.gateway.id}, {"threads", threads}, {"listeners", config.listeners.size()},
             {"pid", getpid()}});

  control.run();  // returns once a drain has finished
  control_plane.stop();
  gateway.stop();
  log_event(LogLevel::info, "gateway_stopped", {{"gateway", config.gateway.id}, {"sessions_terminated", terminated}});
  return 0;
}

}  // namespace conduit::proxy
