#include "mfa/fido_verify.hpp"

#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "common/hex.hpp"
#include "common/openssl.hpp"

namespace conduit::mfa {

using common::BioPtr;
using common::hex_encode;
using common::OpensslFree;
using common::X509Ptr;
using common::X509StoreCtxPtr;
using common::X509StorePtr;

namespace {

constexpr std::size_t kRpIdHashSize = 32;
constexpr std::size_t kFlagsOffset = 32;
constexpr std::size_t kCounterOffset = 33;
constexpr std::size_t kMinAuthData = 37;
constexpr std::uint8_t kFlagUserPresent = 0x01;
constexpr std::uint8_t kFlagUserVerified = 0x04;

struct CredFree {
  void operator()(fido_cred_t* cred) const noexcept { fido_cred_free(&cred); }
};
struct X509StackFree {
  void operator()(STACK_OF(X509) * stack) const noexcept { sk_X509_free(stack); }
};
struct AssertFree {
  void operator()(fido_assert_t* assertion) const noexcept { fido_assert_free(&assertion); }
};

const unsigned char* bytes(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

// Checked here before libfido2 so that each failure gets its own answer; libfido2 checks
// the same again.
AuthError check_authenticator_data(std::string_view auth_data, std::string_view rp_id, bool require_uv) {
  if (auth_data.size() < kMinAuthData) return AuthError::request_invalid;
  unsigned char expected[SHA256_DIGEST_LENGTH];
  SHA256(bytes(rp_id), rp_id.size(), expected);
  if (CRYPTO_memcmp(expected, auth_data.data(), kRpIdHashSize) != 0) return AuthError::rp_id_mismatch;
  auto flags = static_cast<std::uint8_t>(auth_data[kFlagsOffset]);
  if (!(flags & kFlagUserPresent)) return AuthError::user_presence_missing;
  if (require_uv && !(flags & kFlagUserVerified)) return AuthError::user_verification_missing;
  return {};
}

// The attestation certificate must chain to a configured root; x5c[1..] are intermediates.
bool chains_to_roots(const std::vector<std::string>& x5c, std::string_view roots_pem) {
  X509StorePtr store(X509_STORE_new());
  BioPtr bio(BIO_new_mem_buf(roots_pem.data(), static_cast<int>(roots_pem.size())));
  if (!store || !bio) return false;
  int roots = 0;
  while (X509* root = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store.get(), root);
    X509_free(root);
    ++roots;
  }
  ERR_clear_error();
  if (roots == 0) return false;
  auto parse = [](const std::string& der) {
    const unsigned char* cursor = bytes(der);
    return X509Ptr(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  };
  X509Ptr leaf = parse(x5c.front());
  std::unique_ptr<STACK_OF(X509), X509StackFree> chain(sk_X509_new_null());
  std::vector<X509Ptr> owned;
  for (std::size_t i = 1; i < x5c.size(); ++i) {
    owned.push_back(parse(x5c[i]));
    if (!owned.back()) return false;
    sk_X509_push(chain.get(), owned.back().get());
  }
  X509StoreCtxPtr context(X509_STORE_CTX_new());
  if (!leaf || !context || X509_STORE_CTX_init(context.get(), store.get(), leaf.get(), chain.get()) != 1) return false;
  bool ok = X509_verify_cert(context.get()) == 1;
  ERR_clear_error();
  return ok;
}

// id-fido-gen-ce-aaguid (1.3.6.1.4.1.45724.1.1.4): if the attestation certificate names
// an AAGUID, it must be the one in authData (WebAuthn L2 §8.2.1).
bool certificate_aaguid_matches(const std::string& der, std::string_view aaguid) {
  const unsigned char* cursor = bytes(der);
  X509Ptr certificate(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  if (!certificate) return false;
  std::unique_ptr<ASN1_OBJECT, OpensslFree<ASN1_OBJECT_free>> oid(OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1));
  int index = X509_get_ext_by_OBJ(certificate.get(), oid.get(), -1);
  if (index < 0) return true;
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(certificate.get(), index));
  const unsigned char* inner = ASN1_STRING_get0_data(data);
  std::unique_ptr<ASN1_OCTET_STRING, OpensslFree<ASN1_OCTET_STRING_free>> value(
      d2i_ASN1_OCTET_STRING(nullptr, &inner, ASN1_STRING_length(data)));
  if (!value || ASN1_STRING_length(value.get()) != 16) return false;
  return std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value.get())), 16) == aaguid;
}

}  // namespace

AuthResult<VerifiedCredential> verify_attestation(const Attestation& attestation, const RegistrationPolicy& policy) {
  if (attestation.credential_alg != kCoseEs256 && attestation.credential_alg != kCoseEdDsa) {
    return AuthError::algorithm_unsupported;
  }
  // Packed: with x5c the attestation key signs (ES256 here); without it the credential
  // key itself, so the statement must name the credential's algorithm (WebAuthn L2 §8.2).
  bool alg_ok = attestation.x5c.empty() ? attestation.attestation_alg == attestation.credential_alg
                                        : attestation.attestation_alg == kCoseEs256;
  if (attestation.format != "packed" || !alg_ok) return AuthError::attestation_invalid;
  if (AuthError e = check_authenticator_data(attestation.authenticator_data, policy.rp_id,
                                             policy.require_user_verification);
      e != AuthError{}) {
    return e;
  }
  std::unique_ptr<fido_cred_t, CredFree> cred(fido_cred_new());
  std::string rp_id(policy.rp_id);
  const std::string& ad = attestation.authenticator_data;
  if (!cred || fido_cred_set_type(cred.get(), attestation.credential_alg) != FIDO_OK ||
      fido_cred_set_clientdata(cred.get(), bytes(attestation.client_data_json), attestation.client_data_json.size()) !=
          FIDO_OK ||
      fido_cred_set_rp(cred.get(), rp_id.c_str(), nullptr) != FIDO_OK ||
      fido_cred_set_authdata_raw(cred.get(), bytes(ad), ad.size()) != FIDO_OK ||
      fido_cred_set_fmt(cred.get(), "packed") != FIDO_OK ||
      fido_cred_set_sig(cred.get(), bytes(attestation.signature), attestation.signature.size()) != FIDO_OK) {
    return AuthError::attestation_invalid;
  }
  if (policy.require_user_verification) fido_cred_set_uv(cred.get(), FIDO_OPT_TRUE);
  bool self = attestation.x5c.empty();
  if (!self) {
    const std::string& leaf = attestation.x5c.front();
    if (fido_cred_set_x509(cred.get(), bytes(leaf), leaf.size()) != FIDO_OK) return AuthError::attestation_invalid;
  }
  int verified = self ? fido_cred_verify_self(cred.get()) : fido_cred_verify(cred.get());
  if (verified != FIDO_OK) return AuthError::attestation_invalid;

  VerifiedCredential credential;
  credential.id.assign(reinterpret_cast<const char*>(fido_cred_id_ptr(cred.get())), fido_cred_id_len(cred.get()));
  credential.cose_alg = fido_cred_type(cred.get());
  credential.public_key.assign(reinterpret_cast<const char*>(fido_cred_pubkey_ptr(cred.get())),
                               fido_cred_pubkey_len(cred.get()));
  credential.aaguid.assign(reinterpret_cast<const char*>(fido_cred_aaguid_ptr(cred.get())),
                           fido_cred_aaguid_len(cred.get()));
  credential.sign_count = fido_cred_sigcount(cred.get());
  credential.self_attested = self;
  if (credential.id.empty() || credential.id.size() > 1023 || credential.aaguid.size() != 16) {
    return AuthError::attestation_invalid;
  }

  // Self attestation proves only that the key holds its own private key: the AAGUID it
  // claims is unproven, so an allow-list or trusted roots cannot accept it.
  if (!policy.aaguids.empty() || !policy.attestation_roots_pem.empty()) {
    if (self) return AuthError::attestation_untrusted;
    if (!certificate_aaguid_matches(attestation.x5c.front(), credential.aaguid)) return AuthError::attestation_invalid;
  }
  if (!policy.attestation_roots_pem.empty() && !chains_to_roots(attestation.x5c, policy.attestation_roots_pem)) {
    return AuthError::attestation_untrusted;
  }
  if (!policy.aaguids.empty() &&
      std::find(policy.aaguids.begin(), policy.aaguids.end(), hex_encode(credential.aaguid)) == policy.aaguids.end()) {
    return AuthError::aaguid_not_allowed;
  }
  return credential;
}

AuthResult<VerifiedAssertion> verify_assertion(const Assertion& assertion, std::string_view rp_id, int cose_alg,
                                               std::string_view public_key, bool require_user_verification) {
  if (AuthError e = check_authenticator_data(assertion.authenticator_data, rp_id, require_user_verification);
      e != AuthError{}) {
    return e;
  }
  std::unique_ptr<fido_assert_t, AssertFree> checked(fido_assert_new());
  std::string rp(rp_id);
  const std::string& ad = assertion.authenticator_data;
  if (!checked || fido_assert_set_clientdata(checked.get(), bytes(assertion.client_data_json),
                                             assertion.client_data_json.size()) != FIDO_OK ||
      fido_assert_set_rp(checked.get(), rp.c_str()) != FIDO_OK || fido_assert_set_count(checked.get(), 1) != FIDO_OK ||
      fido_assert_set_authdata_raw(checked.get(), 0, bytes(ad), ad.size()) != FIDO_OK ||
      fido_assert_set_sig(checked.get(), 0, bytes(assertion.signature), assertion.signature.size()) != FIDO_OK ||
      fido_assert_set_up(checked.get(), FIDO_OPT_TRUE) != FIDO_OK) {
    return AuthError::request_invalid;
  }
  if (require_user_verification) fido_assert_set_uv(checked.get(), FIDO_OPT_TRUE);

  int verified = FIDO_ERR_INVALID_ARGUMENT;
  if (cose_alg == kCoseEs256) {
    es256_pk_t* key = es256_pk_new();
    if (key && es256_pk_from_ptr(key, public_key.data(), public_key.size()) == FIDO_OK) {
      verified = fido_assert_verify(checked.get(), 0, COSE_ES256, key);
    }
    es256_pk_free(&key);
  } else if (cose_alg == kCoseEdDsa) {
    eddsa_pk_t* key = eddsa_pk_new();
    if (key && eddsa_pk_from_ptr(key, public_key.data(), public_key.size()) == FIDO_OK) {
      verified = fido_assert_verify(checked.get(), 0, COSE_EDDSA, key);
    }
    eddsa_pk_free(&key);
  } else {
    return AuthError::algorithm_unsupported;
  }
  if (verified != FIDO_OK) return AuthError::signature_invalid;
  auto flags = static_cast<std::uint8_t>(ad[kFlagsOffset]);
  std::uint32_t counter = 0;
  for (std::size_t i = 0; i < 4; ++i) counter = counter << 8 | static_cast<std::uint8_t>(ad[kCounterOffset + i]);
  return VerifiedAssertion{counter, (flags & kFlagUserVerified) != 0};
}

}  // namespace conduit::mfa
