// Key material for the soft authenticator, over OpenSSL 3: credential key pairs (ES256 on
// P-256, EdDSA on Ed25519), their COSE_Key encoding, signatures, and the self-signed
// "packed" attestation certificate (WebAuthn L2 §8.2.1).
//
// Errors throw CryptoError (what() names the step and OpenSSL's reason); the CTAP2 layer
// turns them into CTAP1_ERR_OTHER. Thread-safe: no shared state.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

#include "common/openssl.hpp"

namespace conduit::soft_fido2 {

using Bytes = std::vector<std::uint8_t>;
using Aaguid = std::array<std::uint8_t, 16>;

inline constexpr int kCoseEs256 = -7;
inline constexpr int kCoseEdDsa = -8;

// FIDO attestation certificate extension "id-fido-gen-ce-aaguid" (WebAuthn L2 §8.2.1).
inline constexpr const char* kAaguidExtensionOid = "1.3.6.1.4.1.45724.1.1.4";

class CryptoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool is_supported_alg(int alg) noexcept;

Bytes random_bytes(std::size_t count);
std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data);

// A fresh key pair for a COSE algorithm (kCoseEs256 or kCoseEdDsa).
common::EvpPkeyPtr generate_key(int alg);

// Canonical CBOR COSE_Key of the public half: ES256 {1:2, 3:-7, -1:1, -2:x, -3:y},
// EdDSA {1:1, 3:-8, -1:6, -2:x}.
Bytes cose_public_key(EVP_PKEY* key, int alg);

// ES256: DER ECDSA signature over SHA-256(message). EdDSA: pure Ed25519 over message.
Bytes sign(EVP_PKEY* key, int alg, std::span<const std::uint8_t> message);

// Self-signed ES256 attestation certificate for `key`: version 3, subject C/O/OU=
// "Authenticator Attestation"/CN, basicConstraints CA:FALSE, and the AAGUID extension
// (OCTET STRING wrapping the 16 bytes, non-critical), as packed attestation requires.
common::X509Ptr make_attestation_certificate(EVP_PKEY* key, const Aaguid& aaguid);
Bytes certificate_der(X509* certificate);

}  // namespace conduit::soft_fido2
