// The software test authenticator (tests/support/soft_fido2), driven through the real
// libfido2 client code over mfa::use_unix_transport: what our FIDO2 login tests rely on.
// Only the CTAPHID robustness test speaks raw reports, because libfido2 cannot send garbage.
#include "tests/support/soft_fido2/soft_authenticator.hpp"
#include "tests/support/soft_fido2/state.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <nlohmann/json.hpp>
#include <openssl/x509v3.h>

#include "common/openssl.hpp"
#include "mfa/fido_unix_transport.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
namespace sf = conduit::soft_fido2;
using conduit::mfa::use_unix_transport;
using Bytes = std::vector<unsigned char>;

constexpr const char* kRpId = "proxy.plant.example";
const Bytes kClientDataHash(32, 0xcd);
const Bytes kUserId{0x75, 0x73, 0x65, 0x72};

void init_libfido2() {
  static const bool done = [] {
    fido_init(0);
    return true;
  }();
  (void)done;
}

struct TempDir : conduit::test::TempDir {
  TempDir() : conduit::test::TempDir("conduit-softfido-test-") {}
};

sf::SoftAuthenticatorOptions options_in(const TempDir& dir) {
  sf::SoftAuthenticatorOptions options;
  options.socket_path = dir.path() / "fido.sock";
  options.state_path = dir.path() / "state.json";
  return options;
}

// The authenticator serving on a temporary socket in a thread of this process.
class RunningAuthenticator {
 public:
  RunningAuthenticator() : RunningAuthenticator([](sf::SoftAuthenticatorOptions&) {}) {}
  template <typename Tweak>
  explicit RunningAuthenticator(Tweak tweak) : authenticator_(tweaked(tweak)) {
    thread_ = std::thread([this] { authenticator_.serve(); });
  }
  ~RunningAuthenticator() {
    authenticator_.request_stop();
    thread_.join();
  }
  std::string device_path() const { return "unix:" + (dir_.path() / "fido.sock").string(); }
  fs::path socket_path() const { return dir_.path() / "fido.sock"; }
  fs::path state_path() const { return dir_.path() / "state.json"; }

 private:
  template <typename Tweak>
  sf::SoftAuthenticatorOptions tweaked(Tweak tweak) {
    sf::SoftAuthenticatorOptions options = options_in(dir_);
    tweak(options);
    return options;
  }

  TempDir dir_;
  sf::SoftAuthenticator authenticator_;
  std::thread thread_;
};

struct DevClose {
  void operator()(fido_dev_t* dev) const {
    fido_dev_close(dev);
    fido_dev_free(&dev);
  }
};
struct CredFree {
  void operator()(fido_cred_t* cred) const { fido_cred_free(&cred); }
};
struct AssertFree {
  void operator()(fido_assert_t* assertion) const { fido_assert_free(&assertion); }
};
struct InfoFree {
  void operator()(fido_cbor_info_t* info) const { fido_cbor_info_free(&info); }
};
using DevPtr = std::unique_ptr<fido_dev_t, DevClose>;
using CredPtr = std::unique_ptr<fido_cred_t, CredFree>;
using AssertPtr = std::unique_ptr<fido_assert_t, AssertFree>;
using InfoPtr = std::unique_ptr<fido_cbor_info_t, InfoFree>;

DevPtr open_device(const RunningAuthenticator& authenticator) {
  init_libfido2();
  DevPtr dev(fido_dev_new());
  REQUIRE(dev);
  REQUIRE(use_unix_transport(dev.get()) == FIDO_OK);
  // libfido2 waits forever by default (-1); a broken authenticator must fail the test, not
  // hang CI. In 1.12 this also bounds fido_dev_open's CTAPHID_INIT and getInfo.
  REQUIRE(fido_dev_set_timeout(dev.get(), 10000) == FIDO_OK);
  REQUIRE(fido_dev_open(dev.get(), authenticator.device_path().c_str()) == FIDO_OK);
  return dev;
}

struct CredRequest {
  int type = COSE_ES256;
  std::string rp_id = kRpId;
  fido_opt_t rk = FIDO_OPT_OMIT;
  fido_opt_t uv = FIDO_OPT_OMIT;
  std::vector<Bytes> exclude;
};

// Returns libfido2's status and the credential object (verifiable when the status is OK).
std::pair<int, CredPtr> make_credential(fido_dev_t* dev, const CredRequest& request = {}) {
  CredPtr cred(fido_cred_new());
  REQUIRE(cred);
  REQUIRE(fido_cred_set_type(cred.get(), request.type) == FIDO_OK);
  REQUIRE(fido_cred_set_clientdata_hash(cred.get(), kClientDataHash.data(),
                                        kClientDataHash.size()) == FIDO_OK);
  REQUIRE(fido_cred_set_rp(cred.get(), request.rp_id.c_str(), "Plant proxy") == FIDO_OK);
  REQUIRE(fido_cred_set_user(cred.get(), kUserId.data(), kUserId.size(), "alice", "Alice",
                             nullptr) == FIDO_OK);
  REQUIRE(fido_cred_set_rk(cred.get(), request.rk) == FIDO_OK);
  REQUIRE(fido_cred_set_uv(cred.get(), request.uv) == FIDO_OK);
  for (const Bytes& id : request.exclude) {
    REQUIRE(fido_cred_exclude(cred.get(), id.data(), id.size()) == FIDO_OK);
  }
  const int status = fido_dev_make_cred(dev, cred.get(), nullptr);
  return {status, std::move(cred)};
}

CredPtr make_credential_ok(fido_dev_t* dev, const CredRequest& request = {}) {
  auto [status, cred] = make_credential(dev, request);
  REQUIRE(status == FIDO_OK);
  return std::move(cred);
}

Bytes credential_id(const fido_cred_t* cred) {
  return Bytes(fido_cred_id_ptr(cred), fido_cred_id_ptr(cred) + fido_cred_id_len(cred));
}

struct AssertRequest {
  std::string rp_id = kRpId;
  fido_opt_t uv = FIDO_OPT_OMIT;
};

std::pair<int, AssertPtr> get_assertion(fido_dev_t* dev, const Bytes& id,
                                        const AssertRequest& request = {}) {
  AssertPtr assertion(fido_assert_new());
  REQUIRE(assertion);
  REQUIRE(fido_assert_set_clientdata_hash(assertion.get(), kClientDataHash.data(),
                                          kClientDataHash.size()) == FIDO_OK);
  REQUIRE(fido_assert_set_rp(assertion.get(), request.rp_id.c_str()) == FIDO_OK);
  REQUIRE(fido_assert_allow_cred(assertion.get(), id.data(), id.size()) == FIDO_OK);
  REQUIRE(fido_assert_set_uv(assertion.get(), request.uv) == FIDO_OK);
  const int status = fido_dev_get_assert(dev, assertion.get(), nullptr);
  return {status, std::move(assertion)};
}

// Verifies assertion 0 with the public key libfido2 parsed out of the credential.
int verify_assertion(const fido_assert_t* assertion, const fido_cred_t* cred) {
  const int type = fido_cred_type(cred);
  if (type == COSE_ES256) {
    es256_pk_t* pk = es256_pk_new();
    REQUIRE(es256_pk_from_ptr(pk, fido_cred_pubkey_ptr(cred), fido_cred_pubkey_len(cred)) ==
            FIDO_OK);
    const int status = fido_assert_verify(assertion, 0, COSE_ES256, pk);
    es256_pk_free(&pk);
    return status;
  }
  eddsa_pk_t* pk = eddsa_pk_new();
  REQUIRE(eddsa_pk_from_ptr(pk, fido_cred_pubkey_ptr(cred), fido_cred_pubkey_len(cred)) ==
          FIDO_OK);
  const int status = fido_assert_verify(assertion, 0, COSE_EDDSA, pk);
  eddsa_pk_free(&pk);
  return status;
}

// The first certificate of a credential's x5c.
conduit::common::X509Ptr attestation_certificate(const fido_cred_t* cred) {
  const unsigned char* der = fido_cred_x5c_ptr(cred);
  REQUIRE(der != nullptr);
  conduit::common::X509Ptr certificate(
      d2i_X509(nullptr, &der, static_cast<long>(fido_cred_x5c_len(cred))));
  REQUIRE(certificate);
  return certificate;
}

X509_EXTENSION* aaguid_extension(const X509* certificate) {
  const std::unique_ptr<ASN1_OBJECT, conduit::common::OpensslFree<ASN1_OBJECT_free>> oid(
      OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1));
  const int index = X509_get_ext_by_OBJ(certificate, oid.get(), -1);
  return index < 0 ? nullptr : X509_get_ext(certificate, index);
}

// The AAGUID inside the extension's value, which must be exactly OCTET STRING (16 bytes).
// Non-const because OpenSSL 3.0's X509_EXTENSION_get_data takes a non-const pointer.
Bytes aaguid_in(X509_EXTENSION* extension) {
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(extension);
  const Bytes der(ASN1_STRING_get0_data(value),
                  ASN1_STRING_get0_data(value) + ASN1_STRING_length(value));
  REQUIRE(der.size() == 18);
  REQUIRE(der[0] == 0x04);
  REQUIRE(der[1] == 0x10);
  return Bytes(der.begin() + 2, der.end());
}

nlohmann::json read_state(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

void write_state(const fs::path& path, const nlohmann::json& state) {
  std::ofstream out(path, std::ios::trunc);
  REQUIRE(out);
  out << state.dump(2);
}

// A raw CTAPHID client: 64-byte datagrams, no libfido2.
class RawClient {
 public:
  explicit RawClient(const fs::path& socket_path) {
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  ~RawClient() { ::close(fd_); }

  void send_datagram(const Bytes& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  // An init packet: cid, cmd|0x80, announced length, then as much data as fits.
  void send_init(std::uint32_t cid, std::uint8_t cmd, std::size_t length, const Bytes& data = {}) {
    Bytes report = cid_bytes(cid);
    report.insert(report.end(), {static_cast<unsigned char>(cmd | 0x80),
                                 static_cast<unsigned char>(length >> 8),
                                 static_cast<unsigned char>(length)});
    report.insert(report.end(), data.begin(), data.end());
    report.resize(64);
    send_datagram(report);
  }
  void send_continuation(std::uint32_t cid, std::uint8_t seq) {
    Bytes report = cid_bytes(cid);
    report.push_back(seq);
    report.resize(64);
    send_datagram(report);
  }
  // Next report, or nullopt when nothing comes within two seconds.
  std::optional<Bytes> receive() {
    pollfd entry{fd_, POLLIN, 0};
    if (::poll(&entry, 1, 2000) != 1) return std::nullopt;
    Bytes report(65);
    const ssize_t n = ::recv(fd_, report.data(), report.size(), 0);
    REQUIRE(n == 64);
    report.resize(64);
    return report;
  }
  // Receives one CTAPHID error report on `cid` and returns its error code.
  int receive_error(std::uint32_t cid) {
    const auto report = receive();
    REQUIRE(report);
    CHECK(cid_of(*report) == cid);
    REQUIRE((*report)[4] == 0xbf);  // CTAPHID_ERROR | 0x80
    REQUIRE((*report)[6] == 1);     // one byte of payload
    return (*report)[7];
  }

  static Bytes cid_bytes(std::uint32_t cid) {
    return {static_cast<unsigned char>(cid >> 24), static_cast<unsigned char>(cid >> 16),
            static_cast<unsigned char>(cid >> 8), static_cast<unsigned char>(cid)};
  }
  static std::uint32_t cid_of(const Bytes& report) {
    return std::uint32_t{report[0]} << 24 | std::uint32_t{report[1]} << 16 |
           std::uint32_t{report[2]} << 8 | report[3];
  }

 private:
  int fd_ = -1;
};

constexpr std::uint32_t kBroadcast = 0xffffffff;

std::uint32_t allocate_channel(RawClient& client) {
  const Bytes nonce{1, 2, 3, 4, 5, 6, 7, 8};
  client.send_init(kBroadcast, 0x06, nonce.size(), nonce);
  const auto reply = client.receive();
  REQUIRE(reply);
  REQUIRE(RawClient::cid_of(*reply) == kBroadcast);
  REQUIRE((*reply)[4] == 0x86);
  REQUIRE((*reply)[6] == 17);
  CHECK(Bytes(reply->begin() + 7, reply->begin() + 15) == nonce);
  CHECK(((*reply)[7 + 16] & 0x04) != 0);  // capabilities: CBOR
  return RawClient::cid_of(Bytes(reply->begin() + 15, reply->begin() + 19));
}

}  // namespace

TEST_CASE("unix device paths are recognised by their prefix", "[soft_fido2]") {
  CHECK(conduit::mfa::is_unix_device_path("unix:/tmp/fido.sock"));
  CHECK_FALSE(conduit::mfa::is_unix_device_path("unix:"));
  CHECK_FALSE(conduit::mfa::is_unix_device_path("/dev/hidraw0"));
  CHECK(use_unix_transport(nullptr) == FIDO_ERR_INVALID_ARGUMENT);
}

TEST_CASE("libfido2 opens the socket authenticator as a FIDO2 device with the test AAGUID",
          "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  CHECK(fido_dev_is_fido2(dev.get()));
  CHECK_FALSE(fido_dev_has_uv(dev.get()));
  CHECK_FALSE(fido_dev_supports_pin(dev.get()));

  const InfoPtr info(fido_cbor_info_new());
  REQUIRE(fido_dev_get_cbor_info(dev.get(), info.get()) == FIDO_OK);
  REQUIRE(fido_cbor_info_aaguid_len(info.get()) == 16);
  CHECK(Bytes(fido_cbor_info_aaguid_ptr(info.get()), fido_cbor_info_aaguid_ptr(info.get()) + 16) ==
        Bytes(sf::kDefaultAaguid.begin(), sf::kDefaultAaguid.end()));
  REQUIRE(fido_cbor_info_versions_len(info.get()) == 1);
  CHECK(std::string(fido_cbor_info_versions_ptr(info.get())[0]) == "FIDO_2_0");
  CHECK(fido_cbor_info_maxmsgsiz(info.get()) == 1200);
  CHECK(fido_cbor_info_algorithm_count(info.get()) == 2);
}

TEST_CASE("opening a unix device nobody listens on fails instead of hanging", "[soft_fido2]") {
  init_libfido2();
  TempDir dir;
  DevPtr dev(fido_dev_new());
  REQUIRE(use_unix_transport(dev.get()) == FIDO_OK);
  const std::string path = "unix:" + (dir.path() / "nobody.sock").string();
  CHECK(fido_dev_open(dev.get(), path.c_str()) != FIDO_OK);
  CHECK(fido_dev_open(dev.get(), "/dev/null") != FIDO_OK);  // not a unix: path
}

TEST_CASE("the transport's reads honour libfido2's timeout when the peer stays silent",
          "[soft_fido2]") {
  init_libfido2();
  TempDir dir;
  const fs::path socket_path = dir.path() / "silent.sock";
  const int listener = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 1) == 0);  // connect() succeeds; nobody ever answers

  DevPtr dev(fido_dev_new());
  REQUIRE(use_unix_transport(dev.get()) == FIDO_OK);
  REQUIRE(fido_dev_set_timeout(dev.get(), 100) == FIDO_OK);
  const std::string path = "unix:" + socket_path.string();
  CHECK(fido_dev_open(dev.get(), path.c_str()) == FIDO_ERR_RX);
  ::close(listener);
}

TEST_CASE("an ES256 credential's packed attestation verifies with its x5c certificate",
          "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  const CredPtr cred = make_credential_ok(dev.get());

  CHECK(std::string(fido_cred_fmt(cred.get())) == "packed");
  CHECK(fido_cred_verify(cred.get()) == FIDO_OK);
  CHECK(fido_cred_type(cred.get()) == COSE_ES256);
  CHECK(fido_cred_pubkey_len(cred.get()) == 64);
  CHECK(fido_cred_id_len(cred.get()) == 32);
  CHECK(fido_cred_flags(cred.get()) == (0x01 | 0x40));  // UP, AT
  CHECK(fido_cred_sigcount(cred.get()) == 0);
  REQUIRE(fido_cred_aaguid_len(cred.get()) == 16);
  const Bytes aaguid(sf::kDefaultAaguid.begin(), sf::kDefaultAaguid.end());
  CHECK(Bytes(fido_cred_aaguid_ptr(cred.get()), fido_cred_aaguid_ptr(cred.get()) + 16) == aaguid);

  // The certificate meets the packed attestation requirements (WebAuthn L2 §8.2.1).
  const conduit::common::X509Ptr certificate = attestation_certificate(cred.get());
  CHECK(X509_get_version(certificate.get()) == X509_VERSION_3);
  CHECK(X509_check_ca(certificate.get()) == 0);
  char unit[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(certificate.get()),
                            NID_organizationalUnitName, unit, sizeof unit);
  CHECK(std::string(unit) == "Authenticator Attestation");
  X509_EXTENSION* extension = aaguid_extension(certificate.get());
  REQUIRE(extension != nullptr);
  CHECK(X509_EXTENSION_get_critical(extension) == 0);
  CHECK(aaguid_in(extension) == aaguid);

  // The credential is in the state file, under its id, for its relying party.
  const nlohmann::json state = read_state(authenticator.state_path());
  REQUIRE(state["credentials"].size() == 1);
  CHECK(state["credentials"][0]["rp_id"] == kRpId);
  CHECK(state["credentials"][0]["alg"] == -7);
  CHECK(fs::status(authenticator.state_path()).permissions() ==
        (fs::perms::owner_read | fs::perms::owner_write));
}

TEST_CASE("an AAGUID given at start-up is reported, attested and certified", "[soft_fido2]") {
  const sf::Aaguid custom = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                             0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  const Bytes expected(custom.begin(), custom.end());
  RunningAuthenticator authenticator([&](auto& options) { options.aaguid = custom; });
  const DevPtr dev = open_device(authenticator);
  const InfoPtr info(fido_cbor_info_new());
  REQUIRE(fido_dev_get_cbor_info(dev.get(), info.get()) == FIDO_OK);
  CHECK(Bytes(fido_cbor_info_aaguid_ptr(info.get()), fido_cbor_info_aaguid_ptr(info.get()) + 16) ==
        expected);
  const CredPtr cred = make_credential_ok(dev.get());
  CHECK(Bytes(fido_cred_aaguid_ptr(cred.get()), fido_cred_aaguid_ptr(cred.get()) + 16) == expected);
  CHECK(fido_cred_verify(cred.get()) == FIDO_OK);
  const conduit::common::X509Ptr certificate = attestation_certificate(cred.get());
  X509_EXTENSION* extension = aaguid_extension(certificate.get());
  REQUIRE(extension != nullptr);
  CHECK(aaguid_in(extension) == expected);
}

TEST_CASE("a new AAGUID for an existing state file re-issues the certificate and keeps credentials",
          "[soft_fido2]") {
  TempDir dir;
  const fs::path path = dir.path() / "state.json";
  sf::State state = sf::prepare_state(path, std::nullopt, sf::kDefaultAaguid);
  CHECK(state.aaguid == sf::kDefaultAaguid);
  state.credentials.push_back({Bytes(32, 7), kRpId, kUserId, -7, "unused", 9});
  sf::save_state(path, state);

  const sf::Aaguid custom{0xaa, 0xbb};
  const sf::State updated = sf::prepare_state(path, custom, sf::kDefaultAaguid);
  CHECK(updated.aaguid == custom);
  CHECK(updated.attestation_cert_pem != state.attestation_cert_pem);
  REQUIRE(updated.credentials.size() == 1);
  CHECK(updated.credentials[0].sign_count == 9);
  const conduit::common::X509Ptr certificate =
      conduit::common::certificate_from_pem(updated.attestation_cert_pem);
  REQUIRE(certificate);
  CHECK(aaguid_in(aaguid_extension(certificate.get())) == Bytes(custom.begin(), custom.end()));
  // Without --aaguid, a restart keeps what the file says.
  CHECK(sf::prepare_state(path, std::nullopt, sf::kDefaultAaguid).aaguid == custom);
}

TEST_CASE("self attestation verifies with the credential key and carries no certificate",
          "[soft_fido2]") {
  RunningAuthenticator authenticator([](auto& options) { options.self_attestation = true; });
  const DevPtr dev = open_device(authenticator);
  for (const int type : {COSE_ES256, COSE_EDDSA}) {
    CredRequest request;
    request.type = type;
    const CredPtr cred = make_credential_ok(dev.get(), request);
    CHECK(fido_cred_x5c_len(cred.get()) == 0);
    CHECK(fido_cred_verify_self(cred.get()) == FIDO_OK);
    CHECK(fido_cred_verify(cred.get()) != FIDO_OK);  // nothing to verify it with
  }
}

TEST_CASE("an EdDSA credential is made when the client asks for EdDSA", "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  CredRequest request;
  request.type = COSE_EDDSA;
  const CredPtr cred = make_credential_ok(dev.get(), request);
  CHECK(fido_cred_type(cred.get()) == COSE_EDDSA);
  CHECK(fido_cred_pubkey_len(cred.get()) == 32);
  CHECK(fido_cred_verify(cred.get()) == FIDO_OK);
}

TEST_CASE("algorithms other than ES256 and EdDSA are refused", "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  CredRequest request;
  request.type = COSE_RS256;
  CHECK(make_credential(dev.get(), request).first == FIDO_ERR_UNSUPPORTED_ALGORITHM);
}

TEST_CASE("assertions verify with the credential's public key and count up by one",
          "[soft_fido2]") {
  const int type = GENERATE(COSE_ES256, COSE_EDDSA);
  CAPTURE(type);
  RunningAuthenticator authenticator;
  CredPtr cred;
  {
    const DevPtr dev = open_device(authenticator);
    CredRequest request;
    request.type = type;
    cred = make_credential_ok(dev.get(), request);
  }
  // Each assertion on a fresh connection too: the authenticator serves client after client.
  for (std::uint32_t expected = 1; expected <= 3; ++expected) {
    const DevPtr dev = open_device(authenticator);
    auto [status, assertion] = get_assertion(dev.get(), credential_id(cred.get()));
    REQUIRE(status == FIDO_OK);
    REQUIRE(fido_assert_count(assertion.get()) == 1);
    CHECK(verify_assertion(assertion.get(), cred.get()) == FIDO_OK);
    CHECK(fido_assert_sigcount(assertion.get(), 0) == expected);
    CHECK(fido_assert_flags(assertion.get(), 0) == 0x01);  // UP only
    CHECK(Bytes(fido_assert_id_ptr(assertion.get(), 0),
                fido_assert_id_ptr(assertion.get(), 0) + fido_assert_id_len(assertion.get(), 0)) ==
          credential_id(cred.get()));
  }
}

TEST_CASE("an assertion for an unknown credential id finds no credentials", "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  make_credential_ok(dev.get());
  CHECK(get_assertion(dev.get(), Bytes(32, 0x42)).first == FIDO_ERR_NO_CREDENTIALS);
}

TEST_CASE("an assertion for another relying party finds no credentials", "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  const CredPtr cred = make_credential_ok(dev.get());
  AssertRequest request;
  request.rp_id = "evil.example";
  CHECK(get_assertion(dev.get(), credential_id(cred.get()), request).first ==
        FIDO_ERR_NO_CREDENTIALS);
}

TEST_CASE("a sign counter lowered in the state file shows in the next assertion",
          "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  const CredPtr cred = make_credential_ok(dev.get());
  const Bytes id = credential_id(cred.get());
  for (int i = 0; i < 5; ++i) REQUIRE(get_assertion(dev.get(), id).first == FIDO_OK);

  nlohmann::json state = read_state(authenticator.state_path());
  REQUIRE(state["credentials"][0]["sign_count"] == 5);
  state["credentials"][0]["sign_count"] = 1;  // as if a clone of the key had been used
  write_state(authenticator.state_path(), state);

  auto [status, assertion] = get_assertion(dev.get(), id);
  REQUIRE(status == FIDO_OK);
  CHECK(fido_assert_sigcount(assertion.get(), 0) == 2);
  CHECK(verify_assertion(assertion.get(), cred.get()) == FIDO_OK);
}

TEST_CASE("user verification is refused unless the authenticator was started with --uv",
          "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  const CredPtr cred = make_credential_ok(dev.get());
  CredRequest with_uv;
  with_uv.uv = FIDO_OPT_TRUE;
  CHECK(make_credential(dev.get(), with_uv).first == FIDO_ERR_UNSUPPORTED_OPTION);
  AssertRequest assert_uv;
  assert_uv.uv = FIDO_OPT_TRUE;
  CHECK(get_assertion(dev.get(), credential_id(cred.get()), assert_uv).first ==
        FIDO_ERR_UNSUPPORTED_OPTION);
}

TEST_CASE("with --uv the authenticator advertises and reports user verification",
          "[soft_fido2]") {
  RunningAuthenticator authenticator([](auto& options) { options.user_verification = true; });
  const DevPtr dev = open_device(authenticator);
  CHECK(fido_dev_has_uv(dev.get()));
  CredRequest request;
  request.uv = FIDO_OPT_TRUE;
  const CredPtr cred = make_credential_ok(dev.get(), request);
  CHECK((fido_cred_flags(cred.get()) & 0x04) != 0);
  CHECK(fido_cred_verify(cred.get()) == FIDO_OK);  // libfido2 checks UV since we asked for it

  AssertRequest assert_uv;
  assert_uv.uv = FIDO_OPT_TRUE;
  auto [status, assertion] = get_assertion(dev.get(), credential_id(cred.get()), assert_uv);
  REQUIRE(status == FIDO_OK);
  CHECK(fido_assert_flags(assertion.get(), 0) == (0x01 | 0x04));
  REQUIRE(fido_assert_set_uv(assertion.get(), FIDO_OPT_TRUE) == FIDO_OK);
  CHECK(verify_assertion(assertion.get(), cred.get()) == FIDO_OK);
}

TEST_CASE("resident keys are refused", "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  CredRequest request;
  request.rk = FIDO_OPT_TRUE;
  CHECK(make_credential(dev.get(), request).first == FIDO_ERR_UNSUPPORTED_OPTION);
  CHECK(read_state(authenticator.state_path())["credentials"].empty());
}

TEST_CASE("a credential already registered for the relying party is excluded",
          "[soft_fido2]") {
  RunningAuthenticator authenticator;
  const DevPtr dev = open_device(authenticator);
  const CredPtr cred = make_credential_ok(dev.get());
  CredRequest request;
  request.exclude = {Bytes(32, 0x01), credential_id(cred.get())};
  CHECK(make_credential(dev.get(), request).first == FIDO_ERR_CREDENTIAL_EXCLUDED);
  request.rp_id = "other.example";  // our credential, but not for this relying party
  CHECK(make_credential(dev.get(), request).first == FIDO_OK);
}

TEST_CASE("garbage and truncated CTAPHID packets get CTAPHID errors and serving goes on",
          "[soft_fido2]") {
  RunningAuthenticator authenticator(
      [](auto& options) { options.transaction_timeout = std::chrono::milliseconds(100); });
  {
    RawClient client(authenticator.socket_path());
    // A short datagram and an oversized one: not a 64-byte report.
    client.send_datagram({0xff, 0xff, 0xff, 0xff, 0x86, 0x00});
    CHECK(client.receive_error(kBroadcast) == 0x03);  // ERR_INVALID_LEN
    client.send_datagram(Bytes(100, 0xff));
    CHECK(client.receive_error(kBroadcast) == 0x03);
    // Only INIT may use the broadcast channel; unknown channels are refused.
    client.send_init(kBroadcast, 0x01, 0);
    CHECK(client.receive_error(kBroadcast) == 0x0b);  // ERR_INVALID_CHANNEL
    client.send_init(0x12345678, 0x01, 0);
    CHECK(client.receive_error(0x12345678) == 0x0b);
    client.send_init(kBroadcast, 0x06, 3, {1, 2, 3});  // INIT nonce must be 8 bytes
    CHECK(client.receive_error(kBroadcast) == 0x03);

    const std::uint32_t cid = allocate_channel(client);
    // A message cut short by a new init packet on the same channel.
    client.send_init(cid, 0x10, 200, {0x01});
    client.send_init(cid, 0x01, 0);
    CHECK(client.receive_error(cid) == 0x04);  // ERR_INVALID_SEQ
    // A continuation packet out of sequence.
    client.send_init(cid, 0x10, 100, {0x01});
    client.send_continuation(cid, 5);
    CHECK(client.receive_error(cid) == 0x04);
    // Unsupported commands: U2F MSG, and an unknown one.
    client.send_init(cid, 0x03, 0);
    CHECK(client.receive_error(cid) == 0x01);  // ERR_INVALID_CMD
    client.send_init(cid, 0x40, 0);
    CHECK(client.receive_error(cid) == 0x01);
    client.send_init(cid, 0x10, 0x7fff);  // longer than 128 continuation packets can carry
    CHECK(client.receive_error(cid) == 0x03);

    // While one channel is half way through a message, another channel is busy-refused,
    // and the stalled message times out.
    const std::uint32_t other = allocate_channel(client);
    client.send_init(cid, 0x10, 100, {0x01});
    client.send_init(other, 0x01, 0);
    CHECK(client.receive_error(other) == 0x06);  // ERR_CHANNEL_BUSY
    CHECK(client.receive_error(cid) == 0x05);    // ERR_MSG_TIMEOUT

    // A stray continuation packet is ignored; a multi-packet PING comes back whole.
    client.send_continuation(cid, 0);
    Bytes ping(150);
    for (std::size_t i = 0; i < ping.size(); ++i) ping[i] = static_cast<unsigned char>(i);
    client.send_init(cid, 0x01, ping.size(), Bytes(ping.begin(), ping.begin() + 57));
    client.send_continuation(cid, 0);  // payload bytes do not matter for the framing check
    client.send_continuation(cid, 1);
    const auto first = client.receive();
    REQUIRE(first);
    CHECK((*first)[4] == 0x81);
    CHECK(((*first)[5] << 8 | (*first)[6]) == 150);
    CHECK(Bytes(first->begin() + 7, first->end()) == Bytes(ping.begin(), ping.begin() + 57));
    for (std::uint8_t seq = 0; seq < 2; ++seq) {
      const auto next = client.receive();
      REQUIRE(next);
      CHECK((*next)[4] == seq);
    }

    // Malformed CTAP2 requests are CTAP errors inside a CBOR reply, not CTAPHID errors.
    const std::vector<std::pair<Bytes, int>> requests = {
        {{0x01, 0xff, 0xff}, 0x12},  // makeCredential, invalid CBOR -> CTAP2_ERR_INVALID_CBOR
        // A map header claiming 2^32 pairs in 9 bytes: refused before anything is allocated.
        {{0x01, 0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}, 0x12},
        {{0x02, 0xbf, 0xff}, 0x12},  // indefinite-length map: not canonical CTAP2 CBOR
        {{0x02, 0xa0}, 0x14},        // getAssertion with {} -> CTAP2_ERR_MISSING_PARAMETER
        {{0x02, 0x01}, 0x11},        // parameters not a map -> CTAP2_ERR_CBOR_UNEXPECTED_TYPE
        {{0x99}, 0x01},              // unknown command -> CTAP1_ERR_INVALID_COMMAND
    };
    for (const auto& [request, status] : requests) {
      client.send_init(cid, 0x10, request.size(), request);
      const auto reply = client.receive();
      REQUIRE(reply);
      CHECK((*reply)[4] == 0x90);
      CHECK((*reply)[6] == 1);
      CHECK((*reply)[7] == status);
    }
  }
  // The next client gets a working authenticator.
  const DevPtr dev = open_device(authenticator);
  const CredPtr cred = make_credential_ok(dev.get());
  CHECK(fido_cred_verify(cred.get()) == FIDO_OK);
}
