// Who is on the other end of a session, and how they proved it. A session gets its
// Identity from one source; the policy (authz::Subject), the revocation check
// (authz::Holder), the recording and the logs see only the Identity, never how it was
// obtained, so a new way of proving who one is (next: a browser session bound to the
// device certificate) is a new source, not a change to them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "authz/policy.hpp"
#include "authz/revocation_list.hpp"

typedef struct x509_st X509;

namespace conduit::proxy {

enum class IdentitySource : std::uint8_t {
  client_certificate,  // a device certificate, or a login / per-session certificate (mfa/README.md)
};

std::string_view to_string(IdentitySource source);

struct Identity {
  IdentitySource source = IdentitySource::client_certificate;
  std::string device;               // the enrolled device; a session without one is refused
  std::string user;                 // empty when only a device is identified
  std::string role;                 // the Modbus/TCP Security role, if exactly one
  std::vector<std::string> roles;   // every role the credential carries
  std::string key;                  // the FIDO2 key whose touch proved the user; empty: none
  std::string credential;           // the revocable credential (a certificate serial, hex)
  std::string assertion;            // the fresh touch that opened this one session, if any
  authz::Mfa mfa = authz::Mfa::none;  // what the credential proves for this session's asset

  authz::Subject subject() const { return {user, device, role, roles, mfa}; }
  authz::Holder holder() const { return {user, device, key, credential, roles}; }
};

// The identity carried by a client certificate that OpenSSL has verified against the
// site CA, for a session to `asset` (a per-session certificate proves a touch only for
// the asset it names).
Identity identity_from_client_certificate(const X509* certificate, std::string_view asset);

}  // namespace conduit::proxy
