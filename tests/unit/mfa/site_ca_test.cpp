#include "mfa/site_ca.hpp"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/openssl.hpp"
#include "mfa/certificate_identity.hpp"
#include "tests/unit/file_mode.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace conduit::mfa;
using namespace conduit::common;
using std::chrono::days;

constexpr long kSecondsPerDay = 24 * 60 * 60;

DeviceCertificateSpec device_spec(const std::string& id) {
  DeviceCertificateSpec spec;
  spec.device_id = id;
  return spec;
}

DeviceCertificateSpec device_spec(const std::string& id, const std::string& user) {
  DeviceCertificateSpec spec = device_spec(id);
  spec.user = user;
  return spec;
}

ServerCertificateSpec server_spec(const std::string& name, std::vector<std::string> dns_names,
                             std::vector<std::string> ip_addresses = {}) {
  ServerCertificateSpec spec;
  spec.name = name;
  spec.dns_names = std::move(dns_names);
  spec.ip_addresses = std::move(ip_addresses);
  return spec;
}

template <typename Spec>
Spec with_validity(Spec spec, days validity) {
  spec.validity = validity;
  return spec;
}

struct TempDir : conduit::test::TempDir {
  TempDir() : conduit::test::TempDir("conduit-pki-test-") {}
};

using conduit::test::mode_of;
using conduit::test::ScopedUmask;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  REQUIRE(out);
  out << bytes;
}

X509Ptr parse_certificate(const std::string& pem) {
  X509Ptr certificate = certificate_from_pem(pem);
  REQUIRE(certificate);
  return certificate;
}

bool verifies(const std::string& leaf_pem, const std::string& ca_pem, int purpose) {
  const X509Ptr leaf = parse_certificate(leaf_pem);
  const X509Ptr ca = parse_certificate(ca_pem);
  const X509StorePtr store(X509_STORE_new());
  REQUIRE(store);
  REQUIRE(X509_STORE_add_cert(store.get(), ca.get()) == 1);
  const X509StoreCtxPtr context(X509_STORE_CTX_new());
  REQUIRE(context);
  REQUIRE(X509_STORE_CTX_init(context.get(), store.get(), leaf.get(), nullptr) == 1);
  REQUIRE(X509_STORE_CTX_set_purpose(context.get(), purpose) == 1);
  return X509_verify_cert(context.get()) == 1;
}

long seconds_from_now(const ASN1_TIME* time) {
  int day_count = 0;
  int second_count = 0;
  REQUIRE(ASN1_TIME_diff(&day_count, &second_count, nullptr, time) == 1);
  return day_count * kSecondsPerDay + second_count;
}

bool is_critical(const X509* certificate, int nid) {
  const int index = X509_get_ext_by_NID(certificate, nid, -1);
  REQUIRE(index >= 0);
  return X509_EXTENSION_get_critical(X509_get_ext(certificate, index)) == 1;
}

bool has_extension(const X509* certificate, int nid) {
  return X509_get_ext_by_NID(certificate, nid, -1) >= 0;
}

int san_count(const X509* certificate, int type) {
  const GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  int count = 0;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    if (sk_GENERAL_NAME_value(names.get(), i)->type == type) ++count;
  }
  return count;
}

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const PkiError& error) {
    return error.what();
  }
  FAIL("expected a PkiError");
  return {};
}

}  // namespace

// --- init and the files on disk ---------------------------------------------------------

TEST_CASE("init creates the pki directory 0700, ca.key 0600 and ca.crt 0644") {
  const TempDir dir;
  SiteCa::init(dir.path(), "Plant 4 CA");
  CHECK(mode_of(dir.path() / "pki") == 0700);
  CHECK(mode_of(dir.path() / "pki" / "ca.key") == 0600);
  CHECK(mode_of(dir.path() / "pki" / "ca.crt") == 0644);
}

TEST_CASE("init gives the CA files their exact modes whatever the umask") {
  const TempDir dir;
  SECTION("a permissive umask does not widen the key") {
    const ScopedUmask mask(0);
    SiteCa::init(dir.path(), "Plant 4 CA");
  }
  SECTION("a strict umask does not hide the certificate") {
    const ScopedUmask mask(077);
    SiteCa::init(dir.path(), "Plant 4 CA");
  }
  CHECK(mode_of(dir.path() / "pki") == 0700);
  CHECK(mode_of(dir.path() / "pki" / "ca.key") == 0600);
  CHECK(mode_of(dir.path() / "pki" / "ca.crt") == 0644);
}

TEST_CASE("init creates a data directory that does not exist yet") {
  const TempDir dir;
  const fs::path data_dir = dir.path() / "var" / "conduit";
  SiteCa::init(data_dir, "Plant 4 CA");
  CHECK(fs::is_regular_file(data_dir / "pki" / "ca.key"));
  CHECK(fs::is_regular_file(data_dir / "pki" / "ca.crt"));
}

TEST_CASE("init refuses to run twice and leaves the first CA byte for byte intact") {
  const TempDir dir;
  SiteCa::init(dir.path(), "First CA");
  const std::string key_before = read_all(dir.path() / "pki" / "ca.key");
  const std::string cert_before = read_all(dir.path() / "pki" / "ca.crt");

  CHECK_THROWS_AS(SiteCa::init(dir.path(), "Second CA"), PkiError);

  CHECK(read_all(dir.path() / "pki" / "ca.key") == key_before);
  CHECK(read_all(dir.path() / "pki" / "ca.crt") == cert_before);
}

TEST_CASE("init refuses when only a leftover ca.crt is present and does not create ca.key") {
  const TempDir dir;
  SiteCa::init(dir.path(), "First CA");
  fs::remove(dir.path() / "pki" / "ca.key");

  const std::string message = message_of([&] { SiteCa::init(dir.path(), "Second CA"); });
  CHECK_THAT(message, Catch::Contains("ca.crt"));
  CHECK_FALSE(fs::exists(dir.path() / "pki" / "ca.key"));
}

TEST_CASE("init refuses a CA common name that is empty, too long or holds control characters") {
  const TempDir dir;
  CHECK_THROWS_AS(SiteCa::init(dir.path(), ""), PkiError);
  CHECK_THROWS_AS(SiteCa::init(dir.path(), "Plant\nCA"), PkiError);
  CHECK_THROWS_AS(SiteCa::init(dir.path(), std::string(65, 'x')), PkiError);  // X.520 limit
  CHECK_FALSE(fs::exists(dir.path() / "pki" / "ca.key"));
}

TEST_CASE("a validity outside 1 to 36500 days is refused") {
  const TempDir dir;
  CHECK_THROWS_AS(SiteCa::init(dir.path(), "CA", days{0}), PkiError);
  CHECK_THROWS_AS(SiteCa::init(dir.path(), "CA", days{-1}), PkiError);
  CHECK_THROWS_AS(SiteCa::init(dir.path(), "CA", days{36501}), PkiError);
  const SiteCa ca = SiteCa::init(dir.path(), "CA");
  CHECK_THROWS_AS(ca.issue_device(with_validity(device_spec("plc-1"), days{0})), PkiError);
  CHECK_THROWS_AS(ca.issue_server(with_validity(server_spec("gw", {"gw"}), days{-5})),
                  PkiError);
}

// --- the CA certificate -----------------------------------------------------------------

TEST_CASE("the CA certificate is a self-signed P-256 CA that may only sign leaf certificates") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA", days{3650});
  const X509Ptr certificate = parse_certificate(ca.certificate_pem());

  CHECK(identity_from_certificate(certificate.get()).device == "Plant 4 CA");
  CHECK(X509_get_version(certificate.get()) == X509_VERSION_3);
  CHECK(X509_get_signature_nid(certificate.get()) == NID_ecdsa_with_SHA256);
  CHECK(X509_self_signed(certificate.get(), 1) == 1);
  CHECK(X509_check_ca(certificate.get()) == 1);
  CHECK(X509_get_pathlen(certificate.get()) == 0);
  CHECK(is_critical(certificate.get(), NID_basic_constraints));
  CHECK(X509_get_key_usage(certificate.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(is_critical(certificate.get(), NID_key_usage));
  CHECK(X509_get0_subject_key_id(certificate.get()) != nullptr);

  const EVP_PKEY* key = X509_get0_pubkey(certificate.get());
  REQUIRE(key != nullptr);
  CHECK(EVP_PKEY_is_a(key, "EC"));
  char group[64] = {};
  REQUIRE(EVP_PKEY_get_group_name(key, group, sizeof group, nullptr) == 1);
  CHECK(std::string(group) == "prime256v1");

  CHECK(seconds_from_now(X509_get0_notBefore(certificate.get())) == Approx(-60).margin(5));
  CHECK(seconds_from_now(X509_get0_notAfter(certificate.get())) ==
        Approx(3650 * kSecondsPerDay).margin(60));
}

TEST_CASE("the CA key on disk is unencrypted PKCS#8 and matches the CA certificate") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const std::string key_pem = read_all(dir.path() / "pki" / "ca.key");
  CHECK(key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
  const EvpPkeyPtr key = private_key_from_pem(key_pem);
  REQUIRE(key);
  const X509Ptr certificate = parse_certificate(read_all(dir.path() / "pki" / "ca.crt"));
  CHECK(X509_check_private_key(certificate.get(), key.get()) == 1);
}

TEST_CASE("certificate_pem and certificate_path describe the ca.crt on disk") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  CHECK(ca.certificate_path() == dir.path() / "pki" / "ca.crt");
  CHECK(ca.certificate_pem() == read_all(ca.certificate_path()));
}

// --- open -------------------------------------------------------------------------------

TEST_CASE("open on an empty data directory throws naming the missing CA file") {
  const TempDir dir;
  const std::string message = message_of([&] { SiteCa::open(dir.path()); });
  CHECK_THAT(message, Catch::Contains((dir.path() / "pki" / "ca.crt").string()) ||
                          Catch::Contains((dir.path() / "pki" / "ca.key").string()));
}

TEST_CASE("open names ca.key when only the key is missing") {
  const TempDir dir;
  SiteCa::init(dir.path(), "Plant 4 CA");
  fs::remove(dir.path() / "pki" / "ca.key");
  CHECK_THAT(message_of([&] { SiteCa::open(dir.path()); }), Catch::Contains("ca.key"));
}

TEST_CASE("open names ca.crt when only the certificate is missing") {
  const TempDir dir;
  SiteCa::init(dir.path(), "Plant 4 CA");
  fs::remove(dir.path() / "pki" / "ca.crt");
  CHECK_THAT(message_of([&] { SiteCa::open(dir.path()); }), Catch::Contains("ca.crt"));
}

TEST_CASE("open refuses a ca.key that belongs to another CA") {
  const TempDir first;
  const TempDir second;
  SiteCa::init(first.path(), "First CA");
  SiteCa::init(second.path(), "Second CA");
  fs::copy_file(second.path() / "pki" / "ca.key", first.path() / "pki" / "ca.key",
                fs::copy_options::overwrite_existing);
  const std::string message = message_of([&] { SiteCa::open(first.path()); });
  CHECK_THAT(message, Catch::Contains("ca.key"));
  CHECK_THAT(message, !Catch::Contains("PRIVATE KEY"));
}

TEST_CASE("open refuses an unparsable ca.key without echoing its contents") {
  const TempDir dir;
  SiteCa::init(dir.path(), "Plant 4 CA");
  write_all(dir.path() / "pki" / "ca.key",
            "-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET\n-----END PRIVATE KEY-----\n");
  const std::string message = message_of([&] { SiteCa::open(dir.path()); });
  CHECK_THAT(message, Catch::Contains("ca.key"));
  CHECK_THAT(message, !Catch::Contains("TOPSECRET"));
}

TEST_CASE("open refuses an encrypted ca.key instead of prompting for a passphrase") {
  const TempDir dir;
  SiteCa::init(dir.path(), "Plant 4 CA");
  const fs::path key_path = dir.path() / "pki" / "ca.key";
  const EvpPkeyPtr key = private_key_from_pem(read_all(key_path));
  REQUIRE(key);
  const BioPtr bio(BIO_new(BIO_s_mem()));
  const char passphrase[] = "hunter2";
  REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), passphrase,
                                        sizeof passphrase - 1, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  write_all(key_path, std::string(data, static_cast<std::size_t>(size)));
  CHECK_THAT(message_of([&] { SiteCa::open(dir.path()); }), Catch::Contains("ca.key"));
}

TEST_CASE("open refuses a leaf certificate in place of the CA certificate") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const IssuedCertificate leaf = ca.issue_device(device_spec("plc-1"));
  const TempDir other;
  fs::create_directory(other.path() / "pki");
  write_all(other.path() / "pki" / "ca.crt", leaf.certificate_pem);
  write_all(other.path() / "pki" / "ca.key", leaf.private_key_pem);
  CHECK_THAT(message_of([&] { SiteCa::open(other.path()); }), Catch::Contains("ca.crt"));
}

TEST_CASE("a reopened CA issues certificates that verify against the original CA certificate") {
  const TempDir dir;
  const std::string original = SiteCa::init(dir.path(), "Plant 4 CA").certificate_pem();
  const SiteCa reopened = SiteCa::open(dir.path());
  CHECK(reopened.certificate_pem() == original);
  const IssuedCertificate device = reopened.issue_device(device_spec("plc-1"));
  CHECK(verifies(device.certificate_pem, original, X509_PURPOSE_SSL_CLIENT));
}

TEST_CASE("a moved SiteCa keeps issuing") {
  const TempDir dir;
  SiteCa first = SiteCa::init(dir.path(), "Plant 4 CA");
  SiteCa second = std::move(first);
  const IssuedCertificate device = second.issue_device(device_spec("plc-1"));
  CHECK(verifies(device.certificate_pem, second.certificate_pem(), X509_PURPOSE_SSL_CLIENT));
}

// --- device certificates ----------------------------------------------------------------

TEST_CASE("a device certificate verifies as an SSL client against its CA and not another") {
  const TempDir dir;
  const TempDir other_dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const SiteCa other = SiteCa::init(other_dir.path(), "Plant 4 CA");  // same name, other key
  const IssuedCertificate device = ca.issue_device(device_spec("plc-1"));

  CHECK(verifies(device.certificate_pem, ca.certificate_pem(), X509_PURPOSE_SSL_CLIENT));
  CHECK_FALSE(verifies(device.certificate_pem, other.certificate_pem(), X509_PURPOSE_SSL_CLIENT));
}

TEST_CASE("a device certificate is not accepted as a TLS server certificate") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const IssuedCertificate device = ca.issue_device(device_spec("plc-1"));
  CHECK_FALSE(verifies(device.certificate_pem, ca.certificate_pem(), X509_PURPOSE_SSL_SERVER));
}

TEST_CASE("a device certificate has the leaf profile: P-256, SHA-256, CA:FALSE, clientAuth") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const X509Ptr ca_certificate = parse_certificate(ca.certificate_pem());
  const X509Ptr certificate =
      parse_certificate(ca.issue_device(device_spec("plc-1")).certificate_pem);

  CHECK(X509_get_version(certificate.get()) == X509_VERSION_3);
  CHECK(X509_get_signature_nid(certificate.get()) == NID_ecdsa_with_SHA256);
  CHECK(EVP_PKEY_get_bits(X509_get0_pubkey(certificate.get())) == 256);
  CHECK(X509_check_ca(certificate.get()) == 0);
  REQUIRE(has_extension(certificate.get(), NID_basic_constraints));
  CHECK(is_critical(certificate.get(), NID_basic_constraints));
  CHECK(X509_get_key_usage(certificate.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(is_critical(certificate.get(), NID_key_usage));
  CHECK(X509_get_extended_key_usage(certificate.get()) == XKU_SSL_CLIENT);
  CHECK(X509_NAME_cmp(X509_get_issuer_name(certificate.get()),
                      X509_get_subject_name(ca_certificate.get())) == 0);
  const ASN1_OCTET_STRING* authority_key_id = X509_get0_authority_key_id(certificate.get());
  REQUIRE(authority_key_id != nullptr);
  CHECK(ASN1_OCTET_STRING_cmp(authority_key_id,
                              X509_get0_subject_key_id(ca_certificate.get())) == 0);
}

TEST_CASE("a device certificate without a user has no SAN URI and binds no user") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const X509Ptr certificate =
      parse_certificate(ca.issue_device(device_spec("plc-1")).certificate_pem);
  CHECK(san_count(certificate.get(), GEN_URI) == 0);
  const CertificateIdentity identity = identity_from_certificate(certificate.get());
  CHECK(identity.device == "plc-1");
  CHECK(identity.user.empty());
}

TEST_CASE("a device certificate for user alice names the device and the user") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const X509Ptr certificate = parse_certificate(
      ca.issue_device(device_spec("hmi-3.line_2", "alice")).certificate_pem);
  CHECK(san_count(certificate.get(), GEN_URI) == 1);
  const CertificateIdentity identity = identity_from_certificate(certificate.get());
  CHECK(identity.device == "hmi-3.line_2");
  CHECK(identity.user == "alice");
}

TEST_CASE("an issued certificate expires validity days from now and starts a minute ago") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const X509Ptr certificate = parse_certificate(
      ca.issue_device(with_validity(device_spec("plc-1"), days{30})).certificate_pem);
  CHECK(seconds_from_now(X509_get0_notAfter(certificate.get())) ==
        Approx(30 * kSecondsPerDay).margin(60));
  CHECK(seconds_from_now(X509_get0_notBefore(certificate.get())) == Approx(-60).margin(5));
}

TEST_CASE("issued certificates have distinct positive serials that fit 16 DER octets") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  // Sixteen draws: a serial whose top bit was left set would show up with odds 1 - 2^-16.
  constexpr int kDraws = 16;
  std::set<std::string> serials;
  for (int i = 0; i < kDraws; ++i) {
    const X509Ptr certificate =
        parse_certificate(ca.issue_device(device_spec("plc-1")).certificate_pem);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(certificate.get());
    CHECK(ASN1_STRING_type(serial) == V_ASN1_INTEGER);  // not V_ASN1_NEG_INTEGER
    // DER content octets: a set top bit would need a 17th, zero, octet in front.
    const int der_size = i2d_ASN1_INTEGER(serial, nullptr);
    CHECK(der_size <= 2 + 16);
    // Random, so short only by a leading zero byte now and then, never by much.
    CHECK(ASN1_STRING_length(serial) >= 13);
    serials.insert(identity_from_certificate(certificate.get()).serial);
  }
  CHECK(serials.size() == kDraws);
}

TEST_CASE("every issued certificate gets a fresh key that is not the CA's") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const IssuedCertificate first = ca.issue_device(device_spec("plc-1"));
  const IssuedCertificate second = ca.issue_device(device_spec("plc-1"));
  CHECK(first.private_key_pem != second.private_key_pem);

  const EvpPkeyPtr first_key = private_key_from_pem(first.private_key_pem);
  const EvpPkeyPtr ca_key = private_key_from_pem(read_all(dir.path() / "pki" / "ca.key"));
  REQUIRE(first_key);
  REQUIRE(ca_key);
  CHECK(EVP_PKEY_eq(first_key.get(), ca_key.get()) != 1);
  const X509Ptr certificate = parse_certificate(first.certificate_pem);
  CHECK(X509_check_private_key(certificate.get(), first_key.get()) == 1);
  CHECK(first.private_key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
}

TEST_CASE("device ids outside [A-Za-z0-9._-]{1,64} are refused") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const std::string bad_id = GENERATE(as<std::string>{}, "bad id", "", std::string(65, 'a'),
                                      "../x", "a/b", ".", "..", "plc\n1", "plc\xc3\xa9",
                                      "a,CN=admin", std::string("plc\0x", 5));
  CAPTURE(bad_id);
  CHECK_THROWS_AS(ca.issue_device(device_spec(bad_id)), PkiError);
}

TEST_CASE("device ids at the edges of the charset and length are accepted") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const std::string good_id =
      GENERATE(as<std::string>{}, std::string(64, 'a'), "x", "PLC-01.line_2", "...x");
  const X509Ptr certificate =
      parse_certificate(ca.issue_device(device_spec(good_id)).certificate_pem);
  CHECK(identity_from_certificate(certificate.get()).device == good_id);
}

TEST_CASE("user names outside [A-Za-z0-9._-]{1,64} are refused") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const std::string bad_user = GENERATE(as<std::string>{}, "", "bob smith", "alice/admin",
                                        "a,URI:conduit:user/root", std::string(65, 'u'), "..");
  CAPTURE(bad_user);
  CHECK_THROWS_AS(ca.issue_device(device_spec("plc-1", bad_user)), PkiError);
}

TEST_CASE("the error for a bad device id says which field and what is allowed") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const std::string message = message_of([&] { ca.issue_device(device_spec("bad id")); });
  CHECK_THAT(message, Catch::Contains("device id") && Catch::Contains("\"bad id\"") &&
                          Catch::Contains("A-Z a-z 0-9"));
}

// --- server certificates ----------------------------------------------------------------

TEST_CASE("a server certificate verifies as an SSL server and carries the SANs given") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const IssuedCertificate server = ca.issue_server(
      server_spec("gateway", {"gateway.plant.local", "gw"}, {"10.0.0.5", "fd00::5"}));
  CHECK(verifies(server.certificate_pem, ca.certificate_pem(), X509_PURPOSE_SSL_SERVER));
  CHECK_FALSE(verifies(server.certificate_pem, ca.certificate_pem(), X509_PURPOSE_SSL_CLIENT));

  const X509Ptr certificate = parse_certificate(server.certificate_pem);
  CHECK(identity_from_certificate(certificate.get()).device == "gateway");
  CHECK(X509_get_extended_key_usage(certificate.get()) == XKU_SSL_SERVER);
  CHECK(X509_get_key_usage(certificate.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(is_critical(certificate.get(), NID_key_usage));
  CHECK(is_critical(certificate.get(), NID_basic_constraints));
  CHECK(X509_check_ca(certificate.get()) == 0);
  CHECK(X509_get0_authority_key_id(certificate.get()) != nullptr);
  CHECK(san_count(certificate.get(), GEN_DNS) == 2);
  CHECK(san_count(certificate.get(), GEN_IPADD) == 2);
  CHECK(san_count(certificate.get(), GEN_URI) == 0);

  const unsigned int kNoSubjectFallback = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
  CHECK(X509_check_host(certificate.get(), "gateway.plant.local", 0, kNoSubjectFallback,
                        nullptr) == 1);
  CHECK(X509_check_host(certificate.get(), "gw", 0, kNoSubjectFallback, nullptr) == 1);
  CHECK(X509_check_host(certificate.get(), "other.plant.local", 0, kNoSubjectFallback,
                        nullptr) == 0);
  CHECK(X509_check_ip_asc(certificate.get(), "10.0.0.5", 0) == 1);
  CHECK(X509_check_ip_asc(certificate.get(), "fd00::5", 0) == 1);
  CHECK(X509_check_ip_asc(certificate.get(), "10.0.0.6", 0) == 0);
}

TEST_CASE("a server certificate with only an IP address SAN is issued") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const X509Ptr certificate = parse_certificate(
      ca.issue_server(server_spec("gateway", {}, {"192.168.1.1"})).certificate_pem);
  CHECK(X509_check_ip_asc(certificate.get(), "192.168.1.1", 0) == 1);
  CHECK(san_count(certificate.get(), GEN_DNS) == 0);
}

TEST_CASE("a server certificate without any DNS name or IP address is refused") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  CHECK_THROWS_AS(ca.issue_server(server_spec("gateway", {})), PkiError);
}

TEST_CASE("bad server names and DNS names are refused") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  CHECK_THROWS_AS(ca.issue_server(server_spec("gate way", {"gw"})), PkiError);
  CHECK_THROWS_AS(ca.issue_server(server_spec("", {"gw"})), PkiError);

  const std::string bad_dns =
      GENERATE(as<std::string>{}, "", "-bad.plant.local", "bad-.plant.local", "a..b", "a.",
               ".a", "under_score.local", "*.plant.local", "gw,IP:1.2.3.4", "gw local",
               std::string(64, 'l') + ".local", std::string(254, 'a'));
  CAPTURE(bad_dns);
  CHECK_THROWS_AS(ca.issue_server(server_spec("gateway", {"gw", bad_dns})), PkiError);
}

TEST_CASE("IP addresses that inet_pton does not parse as IPv4 or IPv6 are refused") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const std::string bad_ip = GENERATE(as<std::string>{}, "", "300.1.1.1", "1.2.3", "10.0.0.5 ",
                                      "fe80::1%eth0", "gateway.local", "::g");
  CAPTURE(bad_ip);
  CHECK_THROWS_AS(ca.issue_server(server_spec("gateway", {}, {bad_ip})), PkiError);
}

// --- write_certificate_files ------------------------------------------------------------

TEST_CASE("write_certificate_files creates the directory 0700, the key 0600, the cert 0644") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const IssuedCertificate issued = ca.issue_device(device_spec("plc-1", "alice"));
  const fs::path out = dir.path() / "issued" / "devices";

  const WrittenFiles files = write_certificate_files(issued, out, "plc-1");

  CHECK(files.certificate == out / "plc-1.crt");
  CHECK(files.private_key == out / "plc-1.key");
  CHECK(mode_of(out) == 0700);
  CHECK(mode_of(files.private_key) == 0600);
  CHECK(mode_of(files.certificate) == 0644);
  CHECK(read_all(files.certificate) == issued.certificate_pem);
  CHECK(read_all(files.private_key) == issued.private_key_pem);
}

TEST_CASE("the written key parses and matches the written certificate") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const WrittenFiles files =
      write_certificate_files(ca.issue_device(device_spec("plc-1")), dir.path(), "plc-1");
  const EvpPkeyPtr key = private_key_from_pem(read_all(files.private_key));
  REQUIRE(key);
  const X509Ptr certificate = parse_certificate(read_all(files.certificate));
  CHECK(X509_check_private_key(certificate.get(), key.get()) == 1);
  CHECK(verifies(read_all(files.certificate), read_all(ca.certificate_path()),
                 X509_PURPOSE_SSL_CLIENT));
}

TEST_CASE("write_certificate_files refuses to overwrite and leaves the existing file intact") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const IssuedCertificate first = ca.issue_device(device_spec("plc-1"));
  const IssuedCertificate second = ca.issue_device(device_spec("plc-1"));
  const WrittenFiles files = write_certificate_files(first, dir.path(), "plc-1");

  SECTION("both files present") {}
  SECTION("only the certificate present") { fs::remove(files.private_key); }
  SECTION("only the key present") { fs::remove(files.certificate); }

  const bool had_key = fs::exists(files.private_key);
  const bool had_certificate = fs::exists(files.certificate);
  CHECK_THROWS_AS(write_certificate_files(second, dir.path(), "plc-1"), PkiError);
  CHECK(fs::exists(files.private_key) == had_key);
  CHECK(fs::exists(files.certificate) == had_certificate);
  if (had_key) CHECK(read_all(files.private_key) == first.private_key_pem);
  if (had_certificate) CHECK(read_all(files.certificate) == first.certificate_pem);
}

TEST_CASE("write_certificate_files does not write through a symlink planted at the key path") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const fs::path target = dir.path() / "stolen.key";
  fs::create_symlink(target, dir.path() / "plc-1.key");
  CHECK_THROWS_AS(
      write_certificate_files(ca.issue_device(device_spec("plc-1")), dir.path(), "plc-1"),
      PkiError);
  CHECK_FALSE(fs::exists(target));
  CHECK_FALSE(fs::exists(dir.path() / "plc-1.crt"));
}

TEST_CASE("write_certificate_files refuses a base name that would leave the directory") {
  const TempDir dir;
  const SiteCa ca = SiteCa::init(dir.path(), "Plant 4 CA");
  const IssuedCertificate issued = ca.issue_device(device_spec("plc-1"));
  const fs::path out = dir.path() / "out";
  CHECK_THROWS_AS(write_certificate_files(issued, out, "../plc-1"), PkiError);
  CHECK_THROWS_AS(write_certificate_files(issued, out, ""), PkiError);
  CHECK_THROWS_AS(write_certificate_files(issued, out, ".."), PkiError);
  CHECK_FALSE(fs::exists(dir.path() / "plc-1.key"));
  CHECK_FALSE(fs::exists(out));
}
