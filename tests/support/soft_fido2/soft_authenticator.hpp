// soft_fido2: a software FIDO2 authenticator for TESTS, reached over a Unix-domain
// SOCK_SEQPACKET socket that carries one 64-byte CTAPHID report per datagram (the wire
// contract of mfa/fido_unix_transport.hpp). With conduit::mfa::use_unix_transport, the real
// libfido2 client code (CTAPHID framing, CTAP2 CBOR) runs against it without hardware.
//
// It is NOT an authenticator to trust: private keys sit in a plain JSON file (state.hpp),
// user presence is automatic, "user verification" (--uv) is a flag, and the attestation
// certificate is self-signed. Its default AAGUID, kDefaultAaguid, names it "Conduit
// software test authenticator", so a production AAGUID allow-list rejects it.
//
// Speaks: CTAPHID INIT/PING/WINK/CANCEL/CBOR (ctaphid.hpp) and the CTAP2 FIDO_2_0 subset
// getInfo, makeCredential (ES256/EdDSA, packed attestation with x5c, or self attestation),
// getAssertion with an allow list (ctap2.hpp). No PIN, no resident keys, no extensions.
//
// Serves one client connection at a time, in the thread that calls serve().
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>

#include "tests/support/soft_fido2/crypto.hpp"

namespace conduit::soft_fido2 {

// c0de7e57-50f7-4f1d-8002-000000000001 ("code test, soft fido2"): the Conduit software
// test authenticator. Never in a production allow-list.
inline constexpr Aaguid kDefaultAaguid = {0xc0, 0xde, 0x7e, 0x57, 0x50, 0xf7, 0x4f, 0x1d,
                                          0x80, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};

struct SoftAuthenticatorOptions {
  std::filesystem::path socket_path;
  std::filesystem::path state_path;
  std::optional<Aaguid> aaguid;    // unset: the state file's, or kDefaultAaguid for a new one
  bool user_verification = false;  // --uv
  bool self_attestation = false;   // --self-attestation
  // A message whose continuation packets stop arriving is dropped after this long.
  std::chrono::milliseconds transaction_timeout{1000};
};

class SoftAuthenticator {
 public:
  // Prepares the state file (state.hpp, prepare_state), removes a stale socket file, binds
  // the socket with mode 0600 and listens. Throws std::runtime_error naming what failed.
  explicit SoftAuthenticator(SoftAuthenticatorOptions options);
  ~SoftAuthenticator();  // closes the socket and removes its file
  SoftAuthenticator(const SoftAuthenticator&) = delete;
  SoftAuthenticator& operator=(const SoftAuthenticator&) = delete;

  // Accepts and serves clients one after another until request_stop(). Never throws.
  void serve() noexcept;
  // Makes serve() return soon. Async-signal-safe (one write(2)); any thread, any time.
  void request_stop() noexcept;

  const std::filesystem::path& socket_path() const { return options_.socket_path; }

 private:
  void serve_client(int client) noexcept;
  bool stop_requested() const noexcept;

  SoftAuthenticatorOptions options_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
};

}  // namespace conduit::soft_fido2
