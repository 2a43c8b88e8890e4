// The running gateway (`conduit serve`): one io_context and thread per core, each with its
// own SO_REUSEPORT acceptor per listener, so a session lives on one thread for its whole
// life. The calling thread handles signals: SIGHUP reloads the configuration (a bad file
// is rejected and the old configuration keeps running), SIGTERM/SIGINT drain (listeners
// close, live sessions continue up to limits.drain_timeout, then are closed).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "proxy/runtime.hpp"

namespace conduit::proxy {

struct ServeOptions {
  std::filesystem::path config_file;
  std::optional<std::filesystem::path> data_dir_override;
  unsigned threads = 0;  // overrides gateway.threads when non-zero
};

// Runs until drained; returns the process exit status. Throws std::runtime_error if a
// listener cannot be bound or privileges cannot be dropped.
int serve(const ServeOptions& options, std::shared_ptr<const Snapshot> initial);

}  // namespace conduit::proxy
