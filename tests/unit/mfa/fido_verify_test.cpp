// Relying-party verification (mfa/fido_verify.hpp) against assertions and registrations
// minted here with OpenSSL alone (/work/shared/reference/protocols.md §3): authData is
// SHA-256(rpId) | flags | counter | [attested credential data], and the key signs
// authData || SHA-256(clientDataJSON). Every failure must come back as its own AuthError.
#include "mfa/fido_verify.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/mfa/fido_mint.hpp"

namespace {

using namespace conduit::mfa;
using namespace std::string_literals;

using namespace conduit::test::fido;

constexpr std::string_view kRpId = "gateway.plant.example";

const std::string kClientData =
    R"({"challenge":"q83vEjRWeJCrze8SNFZ4kA","key":"AAAA","rp_id":"gateway.plant.example","type":"conduit.login"})";

Assertion mint_assertion(const CredentialKey& key, std::uint8_t flags = kUp, std::uint32_t counter = 7,
                         std::string_view rp_id = kRpId, const std::string& client_data = kClientData) {
  Assertion assertion;
  assertion.client_data_json = client_data;
  assertion.authenticator_data = authenticator_data(rp_id, flags, counter);
  assertion.signature = authenticator_signature(key, assertion.authenticator_data, client_data);
  return assertion;
}

AuthResult<VerifiedAssertion> verify(const Assertion& assertion, const CredentialKey& key, bool require_uv = false) {
  return verify_assertion(assertion, kRpId, key.alg(), key.public_key(), require_uv);
}

AuthError error_of(const AuthResult<VerifiedAssertion>& result) {
  REQUIRE_FALSE(result.has_value());
  return static_cast<AuthError>(result.error().value());
}

const std::string kAaguid = "\x6d\x44\xba\x9b\xf6\xec\x2e\x49\xb9\x30\x0c\x8f\xe9\x20\xcb\x73"s;
const std::string kCredentialId = "\x00\x01\x02\xffsoft-credential\x00"s;

// A packed self-attestation (no x5c): the credential key signs authData || SHA-256(clientDataJSON).
Attestation mint_registration(const CredentialKey& key, std::uint8_t flags = kUp | kAt, std::string_view rp_id = kRpId,
                              std::uint32_t counter = 0) {
  Attestation attestation;
  attestation.client_data_json =
      R"({"challenge":"q83vEjRWeJCrze8SNFZ4kA","rp_id":"gateway.plant.example","type":"conduit.enroll"})";
  attestation.authenticator_data =
      authenticator_data(rp_id, flags, counter, attested_credential_data(kAaguid, kCredentialId, key));
  attestation.format = "packed";
  attestation.attestation_alg = key.alg();
  attestation.credential_alg = key.alg();
  attestation.signature = authenticator_signature(key, attestation.authenticator_data, attestation.client_data_json);
  return attestation;
}

RegistrationPolicy any_key(std::string_view rp_id = kRpId) {
  RegistrationPolicy policy;
  policy.rp_id = rp_id;
  return policy;
}

AuthError error_of(const AuthResult<VerifiedCredential>& result) {
  REQUIRE_FALSE(result.has_value());
  return static_cast<AuthError>(result.error().value());
}

}  // namespace

// Assertions.

TEST_CASE("a minted ES256 assertion verifies and returns its sign count", "[fido_verify]") {
  const CredentialKey key = CredentialKey::es256();
  const auto verified = verify(mint_assertion(key, kUp, 0x01020304), key);
  REQUIRE(verified.has_value());
  CHECK(verified->sign_count == 0x01020304u);  // big-endian in authData
  CHECK_FALSE(verified->user_verified);
}

TEST_CASE("a minted EdDSA assertion verifies and returns its sign count", "[fido_verify]") {
  const CredentialKey key = CredentialKey::eddsa();
  REQUIRE(key.public_key().size() == 32);
  const auto verified = verify(mint_assertion(key, kUp, 41), key);
  REQUIRE(verified.has_value());
  CHECK(verified->sign_count == 41u);
}

TEST_CASE("an assertion with UV set verifies when UV is required and says so", "[fido_verify]") {
  const CredentialKey key = CredentialKey::es256();
  const auto verified = verify(mint_assertion(key, kUp | kUv), key, /*require_uv=*/true);
  REQUIRE(verified.has_value());
  CHECK(verified->user_verified);
}

TEST_CASE("a key that keeps no counter verifies with sign count zero", "[fido_verify]") {
  const CredentialKey key = CredentialKey::eddsa();
  const auto verified = verify(mint_assertion(key, kUp, 0), key);
  REQUIRE(verified.has_value());
  CHECK(verified->sign_count == 0u);
}

TEST_CASE("each broken assertion is refused with its own error", "[fido_verify]") {
  const bool eddsa = GENERATE(false, true);
  const CredentialKey key = eddsa ? CredentialKey::eddsa() : CredentialKey::es256();
  INFO((eddsa ? "EdDSA" : "ES256"));

  SECTION("authenticator data for another relying party is rp_id_mismatch") {
    CHECK(error_of(verify(mint_assertion(key, kUp, 7, "evil.example"), key)) == AuthError::rp_id_mismatch);
  }
  SECTION("UP clear is user_presence_missing, even when UV is set") {
    CHECK(error_of(verify(mint_assertion(key, 0), key)) == AuthError::user_presence_missing);
    CHECK(error_of(verify(mint_assertion(key, kUv), key)) == AuthError::user_presence_missing);
  }
  SECTION("UV required but clear is user_verification_missing") {
    CHECK(error_of(verify(mint_assertion(key, kUp), key, true)) == AuthError::user_verification_missing);
  }
  SECTION("a flipped signature bit is signature_invalid") {
    Assertion assertion = mint_assertion(key);
    // The last byte lies inside s (ES256, DER) or S (Ed25519): flipping a bit of it keeps
    // the encoding well-formed, so only the signature check can catch it.
    assertion.signature.back() = static_cast<char>(assertion.signature.back() ^ 0x01);
    CHECK(error_of(verify(assertion, key)) == AuthError::signature_invalid);
  }
  SECTION("a signature by another key is signature_invalid") {
    const CredentialKey other = eddsa ? CredentialKey::eddsa() : CredentialKey::es256();
    const Assertion assertion = mint_assertion(other);
    CHECK(error_of(verify_assertion(assertion, kRpId, key.alg(), key.public_key(), false)) ==
          AuthError::signature_invalid);
  }
  SECTION("client data changed after signing is signature_invalid") {
    Assertion assertion = mint_assertion(key);
    assertion.client_data_json[assertion.client_data_json.find("AAAA")] = 'B';
    CHECK(error_of(verify(assertion, key)) == AuthError::signature_invalid);
  }
  SECTION("a raised counter after signing is signature_invalid") {
    Assertion assertion = mint_assertion(key, kUp, 7);
    assertion.authenticator_data[36] = 8;  // counter's low byte
    CHECK(error_of(verify(assertion, key)) == AuthError::signature_invalid);
  }
  SECTION("authenticator data shorter than 37 bytes is request_invalid") {
    Assertion assertion = mint_assertion(key);
    assertion.authenticator_data.resize(36);
    CHECK(error_of(verify(assertion, key)) == AuthError::request_invalid);
    assertion.authenticator_data.clear();
    CHECK(error_of(verify(assertion, key)) == AuthError::request_invalid);
  }
  SECTION("an algorithm other than ES256 and EdDSA is algorithm_unsupported") {
    const Assertion assertion = mint_assertion(key);
    CHECK(error_of(verify_assertion(assertion, kRpId, -257, key.public_key(), false)) ==  // RS256
          AuthError::algorithm_unsupported);
    CHECK(error_of(verify_assertion(assertion, kRpId, -35, key.public_key(), false)) ==  // ES384
          AuthError::algorithm_unsupported);
  }
  SECTION("a stored key of the wrong algorithm or length never verifies") {
    const Assertion assertion = mint_assertion(key);
    const int other_alg = eddsa ? kCoseEs256 : kCoseEdDsa;
    CHECK(error_of(verify_assertion(assertion, kRpId, other_alg, key.public_key(), false)) ==
          AuthError::signature_invalid);
    CHECK(error_of(verify_assertion(assertion, kRpId, key.alg(), key.public_key().substr(1), false)) ==
          AuthError::signature_invalid);
    CHECK(error_of(verify_assertion(assertion, kRpId, key.alg(), "", false)) == AuthError::signature_invalid);
  }
  SECTION("an empty signature is refused") {
    Assertion assertion = mint_assertion(key);
    assertion.signature.clear();
    CHECK_FALSE(verify(assertion, key).has_value());
  }
}

TEST_CASE("counter_ok accepts only an increase, or a key that keeps no counter", "[fido_verify]") {
  struct Row {
    std::uint32_t stored, presented;
    bool ok;
  };
  const std::vector<Row> table = {
      {0, 0, true},            // no counter kept
      {5, 6, true},            // increased
      {5, 5, false},           // repeated: a clone, or a replay
      {5, 4, false},           // went backwards
      {0, 1, true},            // first use of a counting key
      {3, 0, false},           // a counting key reporting zero
      {0xfffffffe, 0xffffffff, true},
      {0xffffffff, 0, false},  // no wrap-around
  };
  for (const Row& row : table) {
    INFO("stored " << row.stored << ", presented " << row.presented);
    CHECK(counter_ok(row.stored, row.presented) == row.ok);
  }
  static_assert(counter_ok(0, 0) && !counter_ok(5, 5));  // usable at compile time
}

// Registrations (packed self attestation).

TEST_CASE("a self-attested packed ES256 registration verifies and returns id, public key and AAGUID",
          "[fido_verify]") {
  const CredentialKey key = CredentialKey::es256();
  const auto verified = verify_attestation(mint_registration(key, kUp | kAt, kRpId, 3), any_key());
  REQUIRE(verified.has_value());
  CHECK(verified->id == kCredentialId);
  CHECK(verified->cose_alg == kCoseEs256);
  CHECK(verified->public_key == key.public_key());
  CHECK(verified->aaguid == kAaguid);
  CHECK(verified->sign_count == 3u);
  CHECK(verified->self_attested);
}

TEST_CASE("a self-attested packed EdDSA registration verifies and returns its 32-byte public key", "[fido_verify]") {
  const CredentialKey key = CredentialKey::eddsa();
  const auto verified = verify_attestation(mint_registration(key), any_key());
  REQUIRE(verified.has_value());
  CHECK(verified->id == kCredentialId);
  CHECK(verified->cose_alg == kCoseEdDsa);
  CHECK(verified->public_key == key.public_key());
  CHECK(verified->public_key.size() == 32);
  CHECK(verified->aaguid == kAaguid);
  CHECK(verified->self_attested);
}

TEST_CASE("a self-attested registration is refused when an AAGUID allow-list or roots are set", "[fido_verify]") {
  const CredentialKey key = CredentialKey::es256();
  const Attestation attestation = mint_registration(key);
  // Even the AAGUID the key claims is not enough: self attestation proves nothing about it.
  const std::vector<std::string> allowed = {"6d44ba9bf6ec2e49b9300c8fe920cb73"};
  RegistrationPolicy policy = any_key();
  policy.aaguids = allowed;
  CHECK(error_of(verify_attestation(attestation, policy)) == AuthError::attestation_untrusted);

  RegistrationPolicy rooted = any_key();
  rooted.attestation_roots_pem = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
  CHECK(error_of(verify_attestation(attestation, rooted)) == AuthError::attestation_untrusted);
}

TEST_CASE("each broken registration is refused with its own error", "[fido_verify]") {
  const CredentialKey key = CredentialKey::es256();

  SECTION("another relying party is rp_id_mismatch") {
    CHECK(error_of(verify_attestation(mint_registration(key, kUp | kAt, "evil.example"), any_key())) ==
          AuthError::rp_id_mismatch);
    CHECK(error_of(verify_attestation(mint_registration(key), any_key("other.example"))) ==
          AuthError::rp_id_mismatch);
  }
  SECTION("UP clear is user_presence_missing") {
    CHECK(error_of(verify_attestation(mint_registration(key, kAt), any_key())) == AuthError::user_presence_missing);
  }
  SECTION("UV required but clear is user_verification_missing") {
    RegistrationPolicy policy = any_key();
    policy.require_user_verification = true;
    CHECK(error_of(verify_attestation(mint_registration(key), policy)) == AuthError::user_verification_missing);
    CHECK(verify_attestation(mint_registration(key, kUp | kUv | kAt), policy).has_value());
  }
  SECTION("a signature by another key is attestation_invalid") {
    Attestation attestation = mint_registration(key);
    const CredentialKey other = CredentialKey::es256();
    attestation.signature =
        authenticator_signature(other, attestation.authenticator_data, attestation.client_data_json);
    CHECK(error_of(verify_attestation(attestation, any_key())) == AuthError::attestation_invalid);
  }
  SECTION("client data changed after signing is attestation_invalid") {
    Attestation attestation = mint_registration(key);
    attestation.client_data_json[attestation.client_data_json.find("q83v")] = 'Q';
    CHECK(error_of(verify_attestation(attestation, any_key())) == AuthError::attestation_invalid);
  }
  SECTION("authenticator data without attested credential data is refused") {
    Attestation attestation = mint_registration(key);
    attestation.authenticator_data = authenticator_data(kRpId, kUp, 0);
    attestation.signature =
        authenticator_signature(key, attestation.authenticator_data, attestation.client_data_json);
    CHECK(error_of(verify_attestation(attestation, any_key())) == AuthError::attestation_invalid);
    attestation.authenticator_data.resize(20);
    CHECK(error_of(verify_attestation(attestation, any_key())) == AuthError::request_invalid);
  }
  SECTION("a credential algorithm other than ES256 and EdDSA is algorithm_unsupported") {
    Attestation attestation = mint_registration(key);
    attestation.credential_alg = -257;
    CHECK(error_of(verify_attestation(attestation, any_key())) == AuthError::algorithm_unsupported);
  }
  SECTION("a declared algorithm that is not the key's is refused") {
    Attestation attestation = mint_registration(key);
    attestation.credential_alg = kCoseEdDsa;  // the COSE key in authData says ES256
    CHECK(error_of(verify_attestation(attestation, any_key())) == AuthError::attestation_invalid);
  }
  SECTION("a format other than packed is attestation_invalid") {
    Attestation attestation = mint_registration(key);
    attestation.format = "none";
    CHECK(error_of(verify_attestation(attestation, any_key())) == AuthError::attestation_invalid);
    attestation.format = "fido-u2f";
    CHECK(error_of(verify_attestation(attestation, any_key())) == AuthError::attestation_invalid);
  }
}
