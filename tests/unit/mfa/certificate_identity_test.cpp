#include "mfa/certificate_identity.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "common/openssl.hpp"
#include "mfa/site_ca.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace conduit::mfa;
using namespace conduit::common;

struct TempDir : conduit::test::TempDir {
  TempDir() : conduit::test::TempDir("conduit-identity-test-") {}
};

void add_general_name(GENERAL_NAMES* names, int type, std::string_view value) {
  ASN1_STRING* data =
      ASN1_STRING_type_new(type == GEN_IPADD ? V_ASN1_OCTET_STRING : V_ASN1_IA5STRING);
  REQUIRE(data != nullptr);
  REQUIRE(ASN1_STRING_set(data, value.data(), static_cast<int>(value.size())) == 1);
  GENERAL_NAME* name = GENERAL_NAME_new();
  REQUIRE(name != nullptr);
  GENERAL_NAME_set0_value(name, type, data);
  REQUIRE(sk_GENERAL_NAME_push(names, name) > 0);
}

// A certificate built by hand, to reach shapes the site CA never issues. It is signed
// and round-tripped through PEM so the code under test sees a parsed certificate, as it
// does behind a TLS handshake.
class Draft {
 public:
  Draft() : key_(EVP_EC_gen("P-256")), certificate_(X509_new()) {
    REQUIRE(key_);
    REQUIRE(certificate_);
    REQUIRE(X509_set_version(certificate_.get(), X509_VERSION_3) == 1);
    REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(certificate_.get()), 0x01ab) == 1);
    REQUIRE(X509_gmtime_adj(X509_getm_notBefore(certificate_.get()), 0) != nullptr);
    REQUIRE(X509_gmtime_adj(X509_getm_notAfter(certificate_.get()), 3600) != nullptr);
    REQUIRE(X509_set_pubkey(certificate_.get(), key_.get()) == 1);
  }

  X509* get() { return certificate_.get(); }

  void add_subject_utf8(int nid, std::string_view value) {
    REQUIRE(X509_NAME_add_entry_by_NID(X509_get_subject_name(certificate_.get()), nid,
                                       MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(value.data()),
                                       static_cast<int>(value.size()), -1, 0) == 1);
  }

  void add_san(GENERAL_NAMES* names) {
    REQUIRE(X509_add1_ext_i2d(certificate_.get(), NID_subject_alt_name, names, 0,
                              X509V3_ADD_APPEND) == 1);
  }

  // A SAN extension whose value is not valid DER.
  void add_raw_san(std::string_view der) {
    const Asn1StringPtr value(ASN1_OCTET_STRING_new());
    REQUIRE(ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>(der.data()),
                                  static_cast<int>(der.size())) == 1);
    const X509ExtensionPtr extension(
        X509_EXTENSION_create_by_NID(nullptr, NID_subject_alt_name, 0, value.get()));
    REQUIRE(extension);
    REQUIRE(X509_add_ext(certificate_.get(), extension.get(), -1) == 1);
  }

  X509Ptr finish() {
    REQUIRE(X509_sign(certificate_.get(), key_.get(), EVP_sha256()) > 0);
    X509Ptr parsed = certificate_from_pem(certificate_to_pem(certificate_.get()));
    REQUIRE(parsed);
    return parsed;
  }

 private:
  EvpPkeyPtr key_;
  X509Ptr certificate_;
};

}  // namespace

TEST_CASE("a null certificate has an empty identity") {
  const CertificateIdentity identity = identity_from_certificate(nullptr);
  CHECK(identity.device.empty());
  CHECK(identity.user.empty());
  CHECK(identity.serial.empty());
}

TEST_CASE("a certificate with an empty subject and no extensions has no device and no user") {
  Draft draft;
  const X509Ptr certificate = draft.finish();
  const CertificateIdentity identity = identity_from_certificate(certificate.get());
  CHECK(identity.device.empty());
  CHECK(identity.user.empty());
  CHECK(identity.serial == "01ab");
}

TEST_CASE("the device is the subject CN whatever other attributes surround it") {
  Draft draft;
  draft.add_subject_utf8(NID_organizationName, "Plant 4");
  draft.add_subject_utf8(NID_commonName, "plc-7");
  draft.add_subject_utf8(NID_organizationalUnitName, "line-2");
  const X509Ptr certificate = draft.finish();
  CHECK(identity_from_certificate(certificate.get()).device == "plc-7");
}

TEST_CASE("a CN encoded as BMPString is returned as UTF-8") {
  Draft draft;
  const unsigned char utf16[] = {0x00, 'S', 0x00, 0xfc, 0x00, 'd'};  // "Süd", UTF-16BE
  REQUIRE(X509_NAME_add_entry_by_NID(X509_get_subject_name(draft.get()), NID_commonName,
                                     V_ASN1_BMPSTRING, utf16, sizeof utf16, -1, 0) == 1);
  const X509Ptr certificate = draft.finish();
  CHECK(identity_from_certificate(certificate.get()).device == "S\xc3\xbc" "d");
}

TEST_CASE("a subject with two CNs names no device, since either could be meant") {
  Draft draft;
  draft.add_subject_utf8(NID_commonName, "plc-7");
  draft.add_subject_utf8(NID_commonName, "admin-console");
  const X509Ptr certificate = draft.finish();
  CHECK(identity_from_certificate(certificate.get()).device.empty());
}

TEST_CASE("a CN with an embedded NUL names no device") {
  Draft draft;
  draft.add_subject_utf8(NID_commonName, std::string_view("plc-7\0evil", 10));
  const X509Ptr certificate = draft.finish();
  CHECK(identity_from_certificate(certificate.get()).device.empty());
}

TEST_CASE("the user comes from the first conduit:user URI, past SAN entries of other types") {
  Draft draft;
  draft.add_subject_utf8(NID_commonName, "hmi-3");
  const GeneralNamesPtr names(GENERAL_NAMES_new());
  REQUIRE(names);
  add_general_name(names.get(), GEN_DNS, "hmi-3.plant.local");
  add_general_name(names.get(), GEN_EMAIL, "ops@plant.local");
  add_general_name(names.get(), GEN_IPADD, std::string_view("\x0a\x00\x00\x07", 4));
  {
    GENERAL_NAME* directory = GENERAL_NAME_new();
    X509_NAME* name = X509_NAME_new();
    REQUIRE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("dir"), -1, -1,
                                       0) == 1);
    GENERAL_NAME_set0_value(directory, GEN_DIRNAME, name);
    REQUIRE(sk_GENERAL_NAME_push(names.get(), directory) > 0);
    GENERAL_NAME* registered = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(registered, GEN_RID, OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1));
    REQUIRE(sk_GENERAL_NAME_push(names.get(), registered) > 0);
  }
  add_general_name(names.get(), GEN_URI, "https://plant.local/");
  add_general_name(names.get(), GEN_URI, "conduit:users/eve");
  add_general_name(names.get(), GEN_URI, "CONDUIT:user/mallory");
  add_general_name(names.get(), GEN_URI, "conduit:user/bob");
  add_general_name(names.get(), GEN_URI, "conduit:user/carol");
  draft.add_san(names.get());
  const X509Ptr certificate = draft.finish();

  const CertificateIdentity identity = identity_from_certificate(certificate.get());
  CHECK(identity.device == "hmi-3");
  CHECK(identity.user == "bob");
}

TEST_CASE("a SAN without a conduit:user URI binds no user") {
  Draft draft;
  const GeneralNamesPtr names(GENERAL_NAMES_new());
  REQUIRE(names);
  add_general_name(names.get(), GEN_DNS, "conduit:user/alice");  // right text, wrong type
  add_general_name(names.get(), GEN_URI, "urn:example:alice");
  draft.add_san(names.get());
  const X509Ptr certificate = draft.finish();
  CHECK(identity_from_certificate(certificate.get()).user.empty());
}

TEST_CASE("a conduit:user URI with an embedded NUL binds no user") {
  Draft draft;
  const GeneralNamesPtr names(GENERAL_NAMES_new());
  REQUIRE(names);
  add_general_name(names.get(), GEN_URI, std::string_view("conduit:user/alice\0root", 23));
  draft.add_san(names.get());
  const X509Ptr certificate = draft.finish();
  CHECK(identity_from_certificate(certificate.get()).user.empty());
}

TEST_CASE("an undecodable SAN binds no user and leaves no OpenSSL error queued") {
  Draft draft;
  draft.add_subject_utf8(NID_commonName, "plc-7");
  // SEQUENCE claiming 3 bytes holding a URI claiming 5: truncated DER.
  draft.add_raw_san(std::string_view("\x30\x03\x86\x05x", 5));
  const X509Ptr certificate = draft.finish();
  ERR_clear_error();
  const CertificateIdentity identity = identity_from_certificate(certificate.get());
  CHECK(identity.device == "plc-7");
  CHECK(identity.user.empty());
  CHECK(identity.serial == "01ab");
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("two SAN extensions bind no user, since either could be meant") {
  Draft draft;
  const GeneralNamesPtr first(GENERAL_NAMES_new());
  const GeneralNamesPtr second(GENERAL_NAMES_new());
  REQUIRE(first);
  REQUIRE(second);
  add_general_name(first.get(), GEN_URI, "conduit:user/alice");
  add_general_name(second.get(), GEN_URI, "conduit:user/bob");
  draft.add_san(first.get());
  draft.add_san(second.get());
  const X509Ptr certificate = draft.finish();
  CHECK(identity_from_certificate(certificate.get()).user.empty());
}

TEST_CASE("a zero serial reads as 0") {
  Draft draft;
  REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(draft.get()), 0) == 1);
  const X509Ptr certificate = draft.finish();
  CHECK(identity_from_certificate(certificate.get()).serial == "0");
}

TEST_CASE("an issued device certificate reads back as its device, user and lower-case serial") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Identity Test CA");
  DeviceCertificateSpec spec;
  spec.device_id = "plc-7";
  spec.user = "alice";
  const IssuedCertificate issued = ca.issue_device(spec);
  const X509Ptr certificate = certificate_from_pem(issued.certificate_pem);
  REQUIRE(certificate);

  const CertificateIdentity identity = identity_from_certificate(certificate.get());
  CHECK(identity.device == "plc-7");
  CHECK(identity.user == "alice");

  const BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate.get()), nullptr));
  REQUIRE(serial);
  char* upper = BN_bn2hex(serial.get());
  REQUIRE(upper != nullptr);
  std::string expected(upper);
  OPENSSL_free(upper);
  std::transform(expected.begin(), expected.end(), expected.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  CHECK(identity.serial == expected);
  CHECK(identity.serial.find_first_not_of("0123456789abcdef") == std::string::npos);
}
