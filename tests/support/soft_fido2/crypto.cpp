#include "tests/support/soft_fido2/crypto.hpp"

#include <climits>
#include <cstring>  // strstr, used by the EVP_EC_gen macro
#include <ctime>
#include <string>

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tests/support/soft_fido2/cbor_writer.hpp"

namespace conduit::soft_fido2 {
namespace {

using common::OpensslFree;

[[noreturn]] void fail(const std::string& what) {
  throw CryptoError(what + ": " + common::openssl_error_string());
}

void add_name_entry(X509_NAME* name, const char* field, const char* value) {
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value), -1, -1, 0) != 1) {
    fail(std::string("cannot set subject ") + field);
  }
}

void add_extension(X509* certificate, X509V3_CTX* context, int nid, const char* value) {
  const common::X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, context, nid, value));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
    fail(std::string("cannot add the ") + OBJ_nid2sn(nid) + " extension");
  }
}

// The extension's value is the DER of an OCTET STRING holding the AAGUID, so extnValue is
// an OCTET STRING wrapping another one (WebAuthn L2 §8.2.1).
void add_aaguid_extension(X509* certificate, const Aaguid& aaguid) {
  const std::unique_ptr<ASN1_OBJECT, OpensslFree<ASN1_OBJECT_free>> oid(
      OBJ_txt2obj(kAaguidExtensionOid, 1));
  Bytes inner{0x04, static_cast<std::uint8_t>(aaguid.size())};
  inner.insert(inner.end(), aaguid.begin(), aaguid.end());
  const std::unique_ptr<ASN1_OCTET_STRING, OpensslFree<ASN1_OCTET_STRING_free>> value(
      ASN1_OCTET_STRING_new());
  if (!oid || !value ||
      ASN1_OCTET_STRING_set(value.get(), inner.data(), static_cast<int>(inner.size())) != 1) {
    fail("cannot encode the AAGUID extension");
  }
  const common::X509ExtensionPtr extension(
      X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 0, value.get()));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
    fail("cannot add the AAGUID extension");
  }
}

void set_random_serial(X509* certificate) {
  Bytes serial = random_bytes(16);
  serial[0] = static_cast<std::uint8_t>((serial[0] & 0x7f) | 0x01);  // positive, non-zero
  const common::BignumPtr number(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  const common::Asn1IntegerPtr integer(number ? BN_to_ASN1_INTEGER(number.get(), nullptr) : nullptr);
  if (!integer || X509_set_serialNumber(certificate, integer.get()) != 1) {
    fail("cannot set the serial number");
  }
}

}  // namespace

bool is_supported_alg(int alg) noexcept { return alg == kCoseEs256 || alg == kCoseEdDsa; }

Bytes random_bytes(std::size_t count) {
  Bytes out(count);
  if (count > static_cast<std::size_t>(INT_MAX) ||
      RAND_bytes(out.data(), static_cast<int>(count)) != 1) {
    fail("cannot draw random bytes");
  }
  return out;
}

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 32> digest{};
  SHA256(data.data(), data.size(), digest.data());
  return digest;
}

common::EvpPkeyPtr generate_key(int alg) {
  common::EvpPkeyPtr key(alg == kCoseEs256   ? EVP_EC_gen("P-256")
                      : alg == kCoseEdDsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                          : nullptr);
  if (!key) fail("cannot generate a key for COSE algorithm " + std::to_string(alg));
  return key;
}

Bytes cose_public_key(EVP_PKEY* key, int alg) {
  CborWriter cose;
  if (alg == kCoseEs256) {
    // Uncompressed SEC1 point: 0x04 | x(32) | y(32).
    std::array<std::uint8_t, 65> point{};
    std::size_t length = 0;
    if (!EVP_PKEY_is_a(key, "EC") ||
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(),
                                        &length) != 1 ||
        length != point.size() || point[0] != 0x04) {
      fail("cannot read the P-256 public key");
    }
    const std::span<const std::uint8_t> xy(point);
    cose.map(5).integer(1).integer(2).integer(3).integer(kCoseEs256);
    cose.integer(-1).integer(1).integer(-2).bytes(xy.subspan(1, 32)).integer(-3).bytes(
        xy.subspan(33, 32));
  } else if (alg == kCoseEdDsa) {
    std::array<std::uint8_t, 32> x{};
    std::size_t length = x.size();
    if (!EVP_PKEY_is_a(key, "ED25519") ||
        EVP_PKEY_get_raw_public_key(key, x.data(), &length) != 1 || length != x.size()) {
      fail("cannot read the Ed25519 public key");
    }
    cose.map(4).integer(1).integer(1).integer(3).integer(kCoseEdDsa);
    cose.integer(-1).integer(6).integer(-2).bytes(x);
  } else {
    throw CryptoError("unsupported COSE algorithm " + std::to_string(alg));
  }
  return cose.take();
}

Bytes sign(EVP_PKEY* key, int alg, std::span<const std::uint8_t> message) {
  const std::unique_ptr<EVP_MD_CTX, OpensslFree<EVP_MD_CTX_free>> context(EVP_MD_CTX_new());
  // Ed25519 is "pure": no digest of our own, the message goes in whole.
  const char* digest = alg == kCoseEs256 ? "SHA256" : nullptr;
  std::size_t length = 0;
  if (!context || !is_supported_alg(alg) ||
      EVP_DigestSignInit_ex(context.get(), nullptr, digest, nullptr, nullptr, key, nullptr) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &length, message.data(), message.size()) != 1) {
    fail("cannot start a signature");
  }
  Bytes signature(length);
  if (EVP_DigestSign(context.get(), signature.data(), &length, message.data(), message.size()) !=
      1) {
    fail("cannot sign");
  }
  signature.resize(length);  // DER ECDSA signatures vary in length
  return signature;
}

common::X509Ptr make_attestation_certificate(EVP_PKEY* key, const Aaguid& aaguid) {
  common::X509Ptr certificate(X509_new());
  if (!certificate || X509_set_version(certificate.get(), X509_VERSION_3) != 1) {
    fail("cannot create the attestation certificate");
  }
  set_random_serial(certificate.get());
  time_t now = std::time(nullptr);
  constexpr int kValidityDays = 20 * 365;  // a test fixture; outliving the test suite is fine
  if (X509_time_adj_ex(X509_getm_notBefore(certificate.get()), 0, -60, &now) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(certificate.get()), kValidityDays, 0, &now) == nullptr) {
    fail("cannot set the validity period");
  }
  X509_NAME* subject = X509_get_subject_name(certificate.get());
  add_name_entry(subject, "C", "DE");
  add_name_entry(subject, "O", "Conduit Test");
  add_name_entry(subject, "OU", "Authenticator Attestation");
  add_name_entry(subject, "CN", "Conduit Soft FIDO2 Test Authenticator");
  if (X509_set_issuer_name(certificate.get(), subject) != 1 ||
      X509_set_pubkey(certificate.get(), key) != 1) {
    fail("cannot set the attestation certificate's names or key");
  }
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, certificate.get(), certificate.get(), nullptr, nullptr, 0);
  add_extension(certificate.get(), &context, NID_basic_constraints, "critical,CA:FALSE");
  add_aaguid_extension(certificate.get(), aaguid);
  if (X509_sign(certificate.get(), key, EVP_sha256()) <= 0) {
    fail("cannot sign the attestation certificate");
  }
  return certificate;
}

Bytes certificate_der(X509* certificate) {
  unsigned char* der = nullptr;
  const int length = i2d_X509(certificate, &der);
  const std::unique_ptr<unsigned char, common::OpensslBytesFree> owner(der);
  if (length <= 0) fail("cannot encode the certificate");
  return Bytes(der, der + length);
}

}  // namespace conduit::soft_fido2
