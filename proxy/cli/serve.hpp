// `conduit serve`: the gateway's composition root. Builds the data plane (proxy/gateway/)
// with every protocol handler, the control plane (proxy/control/: auth API, admin socket)
// beside it, drops privileges, and then handles signals on the calling thread: SIGHUP
// reloads the configuration (a bad file is rejected and the old configuration keeps
// running), SIGTERM/SIGINT drain (listeners close, live sessions continue up to
// limits.drain_timeout, then are closed).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "proxy/gateway/runtime.hpp"

namespace conduit::proxy {

struct ServeOptions {
  std::filesystem::path config_file;
  std::optional<std::filesystem::path> data_dir_override;
  unsigned threads = 0;  // overrides gateway.threads when non-zero
};

// The handlers of every protocol this build serves.
class HandlerRegistry;
const HandlerRegistry& all_handlers();

// Runs until drained; returns the process exit status. Throws std::runtime_error if a
// listener cannot be bound or privileges cannot be dropped.
int serve(const ServeOptions& options, std::shared_ptr<const Snapshot> initial);

}  // namespace conduit::proxy
