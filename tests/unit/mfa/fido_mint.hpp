// What a FIDO2 authenticator sends, minted here with OpenSSL alone, for the tests of the
// relying party (mfa/fido_verify.hpp, mfa/auth_service.hpp). See protocols.md §3: authData
// is SHA-256(rpId) | flags | signCount | [attested credential data], and the credential key
// signs authData || SHA-256(clientDataJSON). Failures REQUIRE, so use on the test's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/openssl.hpp"
#include "mfa/fido_verify.hpp"

namespace conduit::test::fido {

// authData flag bits: user present, user verified, attested credential data included.
constexpr std::uint8_t kUp = 0x01;
constexpr std::uint8_t kUv = 0x04;
constexpr std::uint8_t kAt = 0x40;

inline std::string sha256(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

inline std::string big_endian32(std::uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8),
          static_cast<char>(value)};
}

// A FIDO2 credential key pair as an authenticator would hold it: ES256 or EdDSA.
class CredentialKey {
 public:
  static CredentialKey es256() { return CredentialKey(EVP_EC_gen("P-256"), mfa::kCoseEs256); }
  static CredentialKey eddsa() {
    return CredentialKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), mfa::kCoseEdDsa);
  }

  int alg() const { return alg_; }

  // What the store keeps: ES256 x||y (64 bytes), EdDSA the raw 32 bytes.
  std::string public_key() const {
    if (alg_ == mfa::kCoseEdDsa) {
      unsigned char raw[32];
      std::size_t length = sizeof raw;
      REQUIRE(EVP_PKEY_get_raw_public_key(key_.get(), raw, &length) == 1);
      return std::string(reinterpret_cast<const char*>(raw), length);
    }
    unsigned char point[65];
    std::size_t length = 0;
    REQUIRE(EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &length) == 1);
    REQUIRE(length == 65);
    REQUIRE(point[0] == 0x04);  // uncompressed
    return std::string(reinterpret_cast<const char*>(point + 1), 64);
  }

  // ES256: DER ECDSA over SHA-256(message); EdDSA: Ed25519 over the message itself.
  std::string sign(std::string_view message) const {
    std::unique_ptr<EVP_MD_CTX, common::OpensslFree<EVP_MD_CTX_free>> context(EVP_MD_CTX_new());
    REQUIRE(context);
    REQUIRE(EVP_DigestSignInit(context.get(), nullptr, alg_ == mfa::kCoseEs256 ? EVP_sha256() : nullptr, nullptr,
                               key_.get()) == 1);
    const auto* data = reinterpret_cast<const unsigned char*>(message.data());
    std::size_t length = 0;
    REQUIRE(EVP_DigestSign(context.get(), nullptr, &length, data, message.size()) == 1);
    std::string signature(length, '\0');
    REQUIRE(EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data,
                           message.size()) == 1);
    signature.resize(length);
    return signature;
  }

  // The credentialPublicKey of attested credential data, canonical CBOR.
  std::string cose_key() const {
    using namespace std::string_literals;
    const std::string pk = public_key();
    if (alg_ == mfa::kCoseEdDsa) {
      return "\xa4"               // map(4)
             "\x01\x01"           // 1 kty: 1 OKP
             "\x03\x27"           // 3 alg: -8 EdDSA
             "\x20\x06"           // -1 crv: 6 Ed25519
             "\x21\x58\x20"s +    // -2 x: bytes(32)
             pk;
    }
    return "\xa5"                 // map(5)
           "\x01\x02"             // 1 kty: 2 EC2
           "\x03\x26"             // 3 alg: -7 ES256
           "\x20\x01"             // -1 crv: 1 P-256
           "\x21\x58\x20"s +      // -2 x: bytes(32)
           pk.substr(0, 32) +
           "\x22\x58\x20"s +      // -3 y: bytes(32)
           pk.substr(32, 32);
  }

 private:
  CredentialKey(EVP_PKEY* key, int alg) : key_(key), alg_(alg) { REQUIRE(key_); }

  common::EvpPkeyPtr key_;
  int alg_;
};

// rpIdHash(32) | flags(1) | signCount(4, BE) | attested credential data (registrations)
inline std::string authenticator_data(std::string_view rp_id, std::uint8_t flags, std::uint32_t counter,
                                      std::string_view attested = {}) {
  return sha256(rp_id) + static_cast<char>(flags) + big_endian32(counter) + std::string(attested);
}

// aaguid(16) | credIdLen(2, BE) | credId | COSE_Key
inline std::string attested_credential_data(std::string_view aaguid, std::string_view credential_id,
                                            const CredentialKey& key) {
  const auto length = static_cast<std::uint16_t>(credential_id.size());
  return std::string(aaguid) + static_cast<char>(length >> 8) + static_cast<char>(length & 0xff) +
         std::string(credential_id) + key.cose_key();
}

// The signature of an assertion or a self attestation: over authData || SHA-256(clientDataJSON).
inline std::string authenticator_signature(const CredentialKey& key, std::string_view auth_data,
                                           std::string_view client_data_json) {
  return key.sign(std::string(auth_data) + sha256(client_data_json));
}

}  // namespace conduit::test::fido
