// The state the control-plane thread (control_plane.hpp) shares between the auth API and
// the admin socket. Confined to that thread.
#pragma once

#include <sys/types.h>

#include <optional>

#include "mfa/auth_service.hpp"
#include "mfa/credential_store.hpp"
#include "mfa/site_ca.hpp"
#include "proxy/control/control_plane.hpp"

namespace conduit::proxy {

struct ControlState {
  Gateway& data_plane;    // ends refused sessions, reads counters (from this thread: it blocks)
  GatewayState& gateway;  // its snapshot and revocation list
  mfa::CredentialStore store;
  std::optional<mfa::SiteCa> ca;          // with the auth API only
  std::optional<mfa::AuthService> auth;   // with the auth API only
  uid_t admin_uid = 0;                    // besides root, who may use the admin socket

  // Rebuilds the revocation list from the store and publishes it; ends the live sessions
  // it refuses. Returns how many ended, or nullopt if the store could not be read.
  // `end_live` is false only at start-up, before any I/O thread runs.
  std::optional<unsigned> publish_revocations(bool end_live = true);
};

}  // namespace conduit::proxy
