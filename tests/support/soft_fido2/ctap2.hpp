// The soft authenticator's CTAP2 command layer (CTAP 2.1 §6, the FIDO_2_0 subset):
// authenticatorGetInfo (0x04), authenticatorMakeCredential (0x01, "packed" attestation),
// authenticatorGetAssertion (0x02, allow list required: no resident keys). Everything else
// is CTAP1_ERR_INVALID_COMMAND. No PIN, no extensions, presence is automatic.
//
// The state file is re-read before every command and rewritten after every change, so a
// test may edit it between commands. Never throws: malformed CBOR, wrong types, missing
// parameters and state-file trouble all become CTAP status codes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "tests/support/soft_fido2/crypto.hpp"

namespace conduit::soft_fido2 {

// CTAP status codes used here (CTAP 2.1 §8.2; libfido2 src/fido/err.h has the same values).
enum CtapStatus : std::uint8_t {
  kCtapOk = 0x00,
  kCtapInvalidCommand = 0x01,
  kCtapInvalidParameter = 0x02,
  kCtapInvalidLength = 0x03,
  kCtapCborUnexpectedType = 0x11,
  kCtapInvalidCbor = 0x12,
  kCtapMissingParameter = 0x14,
  kCtapCredentialExcluded = 0x19,
  kCtapUnsupportedAlgorithm = 0x26,
  kCtapUnsupportedOption = 0x2b,
  kCtapInvalidOption = 0x2c,
  kCtapNoCredentials = 0x2e,
  kCtapPinNotSet = 0x35,
  kCtapOther = 0x7f,
};

// Largest request accepted, announced as maxMsgSize in getInfo.
inline constexpr std::size_t kMaxCtapMessage = 1200;

struct Ctap2Config {
  std::filesystem::path state_path;
  bool user_verification = false;  // --uv: advertise and perform "uv"
  bool self_attestation = false;   // --self-attestation: sign attStmt with the credential key
};

// One request (command byte + CBOR parameters) in; status byte (+ CBOR response) out.
Bytes handle_ctap2(std::span<const std::uint8_t> request, const Ctap2Config& config) noexcept;

}  // namespace conduit::soft_fido2
