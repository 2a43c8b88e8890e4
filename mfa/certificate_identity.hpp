// Who is on the other end of a TLS session, read from the verified peer certificate.
// The device id is the subject CN; the user, where one is bound, is the first SAN URI of
// the form "conduit:user/NAME"; the role is the UTF8String of the Modbus/TCP Security role
// extension (OID 1.3.6.1.4.1.50316.802.1); login certificates add the conduit: URIs of
// mfa/certificate_uris.hpp. The caller must only pass a certificate that OpenSSL has
// already verified against the site CA. Pure function of the certificate; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

typedef struct x509_st X509;

namespace conduit::mfa {

struct CertificateIdentity {
  std::string device;   // empty if the certificate has no CN
  std::string user;     // empty if no user is bound
  std::string role;     // Modbus/TCP Security role; empty if absent or not exactly one
  std::string serial;   // certificate serial, lower-case hex
  std::vector<std::string> roles;  // conduit:role/ URIs, plus `role` if present
  std::string key;            // conduit:key/: the FIDO2 credential whose touch issued it (login certificates)
  std::string session_asset;  // conduit:asset/: per-session certificates only
  std::string assertion;      // conduit:assertion/: per-session certificates only

  // What the certificate proves about MFA for a session to `asset` (authz::Mfa values):
  // 0 none (long-lived), 1 login, 2 a per-session touch for exactly this asset.
  int mfa_level(std::string_view asset) const {
    if (key.empty()) return 0;
    return !assertion.empty() && session_asset == asset ? 2 : 1;
  }
};

CertificateIdentity identity_from_certificate(const X509* certificate);

}  // namespace conduit::mfa
