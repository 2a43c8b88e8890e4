// The soft authenticator's persistent state: one JSON file that tests may read and edit
// between CTAP operations (e.g. lower a sign counter to simulate a cloned key).
//
//   {"aaguid": "<32 hex>",
//    "attestation_key_pem": "<PKCS#8 PEM>", "attestation_cert_pem": "<X.509 PEM>",
//    "credentials": [{"id": "<base64url, no padding>", "rp_id": "...",
//                     "user_id": "<base64url>", "alg": -7, "private_key_pem": "<PKCS#8 PEM>",
//                     "sign_count": 0}]}
//
// Private keys are in plain text: this is a TEST authenticator. Writes are atomic (temp file
// in the same directory, fsync, rename) and the file has mode 0600. Errors throw StateError
// naming the file. Not synchronised: one authenticator per state file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/soft_fido2/crypto.hpp"

namespace conduit::soft_fido2 {

struct Credential {
  Bytes id;
  std::string rp_id;
  Bytes user_id;
  int alg = kCoseEs256;
  std::string private_key_pem;
  std::uint32_t sign_count = 0;
};

struct State {
  Aaguid aaguid{};
  std::string attestation_key_pem;
  std::string attestation_cert_pem;
  std::vector<Credential> credentials;
};

class StateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

State load_state(const std::filesystem::path& path);
void save_state(const std::filesystem::path& path, const State& state);

// Start-up: creates the file if it is missing (AAGUID `aaguid`, else `fallback`), creates
// the attestation key and certificate if absent, and, when `aaguid` is given and differs
// from the file's, switches to it and re-issues the certificate (its AAGUID extension must
// match). Credentials are kept.
State prepare_state(const std::filesystem::path& path, const std::optional<Aaguid>& aaguid,
                    const Aaguid& fallback);

std::string base64url_encode(std::span<const std::uint8_t> bytes);
std::optional<Bytes> base64url_decode(std::string_view text);
std::string hex_encode(std::span<const std::uint8_t> bytes);
std::optional<Aaguid> aaguid_from_hex(std::string_view text);

}  // namespace conduit::soft_fido2
