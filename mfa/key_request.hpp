// A key pair made where it will be used (a device, or a login on a device) and a
// certificate signing request for it: the private key never leaves the machine; the CSR's
// signature proves to the site CA that the requester holds it. ECDSA P-256.
#pragma once

#include <string>

namespace conduit::mfa {

struct KeyRequest {
  std::string private_key_pem;  // PKCS#8, unencrypted: store it 0600
  std::string csr_pem;
};

// Throws PkiError (site_ca.hpp) if OpenSSL fails. `common_name` is informational: the CA
// sets the subject of what it issues.
KeyRequest make_key_request(const std::string& common_name);

}  // namespace conduit::mfa
