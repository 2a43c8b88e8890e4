// What runs beside the I/O threads, on one thread of its own: the FIDO2 auth API (HTTPS +
// JSON with device certificates, proxy/AUTH_API.md) and the root-only admin socket
// (revoke, lockdown; proxy/ADMIN.md). That thread owns the credential store connection and
// the challenges, so neither needs a lock, and a slow SQLite write never stalls a Modbus
// request.
//
// Construction (before privileges are dropped) opens <data_dir>/credentials.db, publishes
// its revocations and lockdowns to GatewayState, binds the admin socket (mode 0600) and,
// when configured, the auth listener. Throws std::runtime_error with a message naming the
// file or address if any of that fails.
#pragma once

#include <memory>
#include <string>

#include "authz/revocation_list.hpp"
#include "config/model.hpp"
#include "proxy/gateway/gateway.hpp"

namespace conduit::proxy {

class ControlPlane {
 public:
  // The control plane reaches the data plane only through `gateway`: its snapshots, its
  // revocation list, ending refused sessions and reading counters.
  ControlPlane(const config::Config& config, Gateway& gateway);
  ~ControlPlane();

  std::string auth_address() const;  // empty when the auth API is off
  std::string admin_socket() const;
  // The auth API's settings are built once at start-up: a reload may not change them.
  bool can_reload(const config::AuthSettings& next) const;

  void start();
  void stop();  // closes both listeners, waits for the thread

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace conduit::proxy
