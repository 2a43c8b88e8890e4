// Who is on the other end of a TLS session, read from the verified peer certificate.
// The device id is the subject CN; the user, where one is bound, is the first SAN URI of
// the form "conduit:user/NAME"; the role is the UTF8String of the Modbus/TCP Security role
// extension (OID 1.3.6.1.4.1.50316.802.1). The caller must only pass a certificate that OpenSSL has
// already verified against the site CA. Pure function of the certificate; thread-safe.
#pragma once

#include <string>

typedef struct x509_st X509;

namespace conduit::mfa {

struct CertificateIdentity {
  std::string device;   // empty if the certificate has no CN
  std::string user;     // empty if no user is bound
  std::string role;     // Modbus/TCP Security role; empty if absent or not exactly one
  std::string serial;   // certificate serial, lower-case hex
};

CertificateIdentity identity_from_certificate(const X509* certificate);

}  // namespace conduit::mfa
