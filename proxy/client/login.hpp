// `conduit login` on the technician's machine (README "Logging in"): with the device
// certificate (device.crt/device.key from `conduit device enroll`) it asks the gateway's
// auth API for a challenge, has the FIDO2 key sign it (touch), and stores the short-lived
// certificate it gets back as client.crt/client.key (0600) beside it, where `conduit
// tunnel` and other TLS clients find it. `--enroll CODE` instead enrolls a new key with a
// one-time code from the admin. `request_session_certificate` is the per-session touch
// that `conduit tunnel --per-session-mfa` does for every connection.
#pragma once

#include <filesystem>
#include <string>

#include "mfa/fido_client.hpp"
#include "proxy/client/client_tls.hpp"

namespace conduit::proxy {

struct LoginOptions {
  std::string gateway;         // auth API host:port
  std::string user;
  std::filesystem::path dir;   // empty: <config dir>/conduit (default_client_file)
  mfa::KeyOptions key;
  std::string enrollment_code; // non-empty: enroll a key instead of logging in
};

// Exit status: 0 logged in / enrolled, 1 refused or failed (one line on stderr), 2 usage.
int run_login(const LoginOptions& options);

struct SessionCertificate {
  std::string certificate_pem;
  std::string private_key_pem;
};

// A touch for one session to `asset`; blocks while the key waits for the touch. Throws
// std::runtime_error (or mfa::FidoClientError) with the reason.
SessionCertificate request_session_certificate(const GatewayAddress& auth, boost::asio::ssl::context& tls,
                                               const std::string& user, const std::string& asset,
                                               const mfa::KeyOptions& key);

}  // namespace conduit::proxy
