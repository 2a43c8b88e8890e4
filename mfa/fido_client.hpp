// The technician's side of FIDO2, through libfido2: find the security key, have it make a
// credential (enrollment) or sign an assertion (login, per-session touch). The client
// data is built by the caller (mfa/client_data.hpp); libfido2 hashes it into the
// clientDataHash the key signs.
//
// Device: `path` may be a hidraw path (/dev/hidraw3), "unix:/path" for a socket
// authenticator (mfa/fido_unix_transport.hpp: the test suite's software key), or empty:
// the first FIDO2 key found on USB. Errors are thrown as FidoClientError with a message
// for the person at the keyboard ("touch your key" happens on the key itself).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "mfa/fido_verify.hpp"

namespace conduit::mfa {

class FidoClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct KeyOptions {
  std::string device_path;  // empty: first USB key
  std::string pin;          // empty: none (user verification only if the key does it itself)
  bool user_verification = false;
};

struct SignedAssertion {
  std::string credential_id;  // raw: which of the allowed keys answered
  Assertion assertion;
};

// Has the key make an ES256 credential for rp_id/user. `exclude` (raw ids) are keys the
// user already has: a key holding one of them refuses.
Attestation make_credential(const KeyOptions& options, const std::string& rp_id, const std::string& user,
                            const std::string& client_data_json, const std::vector<std::string>& exclude);

// Has the key sign an assertion with one of `allow` (raw credential ids).
SignedAssertion get_assertion(const KeyOptions& options, const std::string& rp_id,
                              const std::string& client_data_json, const std::vector<std::string>& allow);

}  // namespace conduit::mfa
