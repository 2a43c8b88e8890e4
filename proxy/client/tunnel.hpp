// `conduit tunnel`: the technician's side of a gateway listener. Opens a local plain-TCP
// port so tools that cannot speak TLS with a client certificate (mbpoll, engineering
// tools, pymodbus' plain client) work unchanged. For every local connection it connects
// to the gateway, does a TLS client handshake (TLS 1.2+, the gateway's certificate checked
// against `ca` and against the host name or IP of `gateway`, the client certificate
// presented), then relays bytes both ways until either side ends; then it closes both,
// sending close_notify to the gateway where possible (bounded by a short grace period).
// Usage and examples: proxy/TUNNEL.md. Log events: proxy/EVENTS.md.
//
// The certificate, key and CA files are read at start-up and again for a new connection
// whenever one of them has changed on disk, so a certificate renewed by a login is used
// without restarting the tunnel; live connections keep the one they started with.
//
// Threading: run_tunnel() runs one io_context on the calling thread; everything it starts
// is confined to that thread. Logging must be initialised (init_event_log) beforehand.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace conduit::proxy {

struct TunnelOptions {
  std::string asset;    // names the asset in log lines only: the gateway listener decides
  std::string gateway;  // "host:port": DNS name, IPv4 or [IPv6]
  std::string listen;   // "ip:port" (numeric; port 0 picks a free port, logged in tunnel_ready)
  // Empty: <config dir>/conduit/client.crt, client.key, ca.crt, where <config dir> is
  // $XDG_CONFIG_HOME, else ~/.config (default_client_file()).
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  std::filesystem::path ca;
  bool allow_remote = false;  // without it, `listen` must be a loopback address
  // Per-session MFA (a grant with "mfa": "per_session"): every local connection first gets
  // a key touch and a one-session certificate from the auth API at `auth`; that
  // certificate (in memory only) is presented instead of the login certificate.
  bool per_session_mfa = false;
  std::string auth;             // auth API host:port
  std::string user;
  std::string key_device;       // empty: first USB key
  std::string key_pin;          // from $CONDUIT_FIDO_PIN
  std::chrono::milliseconds connect_timeout{10000};    // TCP connect, and separately the TLS handshake
  std::chrono::milliseconds shutdown_grace{1000};      // waiting for the gateway's close_notify
};

// Runs until SIGTERM/SIGINT; returns the process exit status: 0 after a signal, 2 for a
// bad option or an unreadable/unusable certificate, key or CA file (one line on stderr),
// 1 if the local port cannot be bound.
int run_tunnel(const TunnelOptions& options);

}  // namespace conduit::proxy
