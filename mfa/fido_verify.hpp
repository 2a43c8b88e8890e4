// Relying-party verification of FIDO2 ceremonies with libfido2 (fido_cred_verify,
// fido_assert_verify; /work/shared/reference/protocols.md §3.4). libfido2 checks the
// rpIdHash, the flags it is told to require and the signature; the client data
// (challenge, type, key binding) and the sign counter are the caller's (auth_service.cpp).
// Pure functions of their inputs; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mfa/auth_error.hpp"

namespace conduit::mfa {

inline constexpr int kCoseEs256 = -7;
inline constexpr int kCoseEdDsa = -8;

// What a client sends back after makeCredential (all raw bytes).
struct Attestation {
  std::string client_data_json;
  std::string authenticator_data;  // raw authData, not CBOR-wrapped
  std::string format;              // "packed" only
  int attestation_alg = kCoseEs256;
  std::string signature;
  std::vector<std::string> x5c;    // DER; empty for self attestation
  int credential_alg = kCoseEs256;
};

struct RegistrationPolicy {
  std::string_view rp_id;
  bool require_user_verification = false;
  std::span<const std::string> aaguids;   // lower hex allow-list; empty: any
  std::string_view attestation_roots_pem; // empty: x5c not chained to anything
};

struct VerifiedCredential {
  std::string id;
  int cose_alg = 0;
  std::string public_key;  // ES256 x||y (64 bytes), EdDSA 32 bytes
  std::string aaguid;      // 16 bytes
  std::uint32_t sign_count = 0;
  bool self_attested = false;
};

AuthResult<VerifiedCredential> verify_attestation(const Attestation& attestation, const RegistrationPolicy& policy);

struct Assertion {
  std::string client_data_json;
  std::string authenticator_data;  // raw
  std::string signature;
};

struct VerifiedAssertion {
  std::uint32_t sign_count = 0;
  bool user_verified = false;
};

// Checks rpIdHash, user presence, user verification (if required) and the signature with
// the stored public key.
AuthResult<VerifiedAssertion> verify_assertion(const Assertion& assertion, std::string_view rp_id, int cose_alg,
                                               std::string_view public_key, bool require_user_verification);

// A sign counter must increase, unless the key keeps none (both zero). Anything else
// means two copies of the key exist (WebAuthn L2 §6.1.1).
constexpr bool counter_ok(std::uint32_t stored, std::uint32_t presented) noexcept {
  return (stored == 0 && presented == 0) || presented > stored;
}

}  // namespace conduit::mfa
