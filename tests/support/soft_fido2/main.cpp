// soft_fido2 --socket PATH --state FILE [--aaguid 32HEX] [--uv] [--self-attestation]
//
// Runs the software TEST authenticator (soft_authenticator.hpp) on a Unix SOCK_SEQPACKET
// socket. Prints exactly "ready <socket path>" on stdout once it listens, so a test can
// wait for that line instead of sleeping; serves clients until SIGTERM or SIGINT, then
// removes the socket and exits 0. Bad arguments: one line on stderr, exit 2. Start-up
// failures (state file, socket): one line on stderr, exit 1.
#include <csignal>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "tests/support/soft_fido2/soft_authenticator.hpp"
#include "tests/support/soft_fido2/state.hpp"

namespace {

using conduit::soft_fido2::SoftAuthenticator;

// Set once before the handlers are installed; the handler only calls the
// async-signal-safe request_stop().
SoftAuthenticator* volatile g_authenticator = nullptr;

extern "C" void on_stop_signal(int) {
  if (g_authenticator != nullptr) g_authenticator->request_stop();
}

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

}  // namespace

int main(int argc, char** argv) {
  conduit::soft_fido2::SoftAuthenticatorOptions options;
  std::string aaguid_hex;

  CLI::App app{"Software FIDO2 authenticator for tests (keys in a plain file; never trust it)",
               "soft_fido2"};
  app.add_option("--socket", options.socket_path, "Unix socket to listen on")->required();
  app.add_option("--state", options.state_path, "JSON state file (created if missing)")->required();
  app.add_option("--aaguid", aaguid_hex, "AAGUID as 32 hex digits (default: the test AAGUID)");
  app.add_flag("--uv", options.user_verification, "Advertise and perform user verification");
  app.add_flag("--self-attestation", options.self_attestation,
               "Packed self attestation (credential key, no x5c)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "soft_fido2: " << e.what() << " (see --help)\n";
    return kExitUsage;
  }
  if (!aaguid_hex.empty()) {
    options.aaguid = conduit::soft_fido2::aaguid_from_hex(aaguid_hex);
    if (!options.aaguid) {
      std::cerr << "soft_fido2: --aaguid must be 32 hex digits, got \"" << aaguid_hex << "\"\n";
      return kExitUsage;
    }
  }

  // Handlers must be in place before "ready": a test may send SIGTERM as soon as it reads it.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  std::optional<SoftAuthenticator> authenticator;
  try {
    authenticator.emplace(options);
  } catch (const std::exception& e) {
    std::cerr << "soft_fido2: " << e.what() << "\n";
    return kExitFailure;
  }
  g_authenticator = &*authenticator;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  sigprocmask(SIG_UNBLOCK, &stop_signals, nullptr);  // a signal that came early lands now

  std::cout << "ready " << authenticator->socket_path().string() << std::endl;
  authenticator->serve();
  return 0;
}
