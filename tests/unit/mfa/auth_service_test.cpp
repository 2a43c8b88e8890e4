// The FIDO2 ceremonies end to end, without a network (mfa/auth_service.hpp): a real
// credential store and site CA in a temporary directory, assertions and registrations
// minted with OpenSSL by a key this test holds (protocols.md §3), and every refusal
// asserted by its exact AuthError. Challenge time is a fake steady time point; store time
// is a fixed unix second.
#include "mfa/auth_service.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/hex.hpp"
#include "common/openssl.hpp"
#include "mfa/base64url.hpp"
#include "mfa/certificate_identity.hpp"
#include "mfa/client_data.hpp"
#include "mfa/key_request.hpp"
#include "tests/unit/mfa/fido_mint.hpp"
#include "tests/unit/sqlite_file.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace conduit::mfa;
using namespace conduit::common;
using namespace std::chrono_literals;
using namespace std::string_literals;
using Clock = ChallengeStore::Clock;
using namespace conduit::test::fido;

constexpr std::string_view kRpId = "gateway.plant.example";
const Clock::time_point kT0 = Clock::time_point{} + 1000h;
constexpr std::int64_t kUnixNow = 1'763'000'000;
constexpr std::uint32_t kStoredCount = 10;

const std::string kAliceId = "\x00\xa1ice-key\xff"s;
const std::string kBobId = "\x00\xb0\x62-key"s;
const std::string kAaguid = "\x6d\x44\xba\x9b\xf6\xec\x2e\x49\xb9\x30\x0c\x8f\xe9\x20\xcb\x73"s;
const std::string kSerial = "5a0c1e7f3b2d4c6e8f9a0b1c2d3e4f50";

struct TempDir : conduit::test::TempDir {
  TempDir() : conduit::test::TempDir("conduit-auth-test-") {}
};

// What the client puts in the client data for a certificate: the challenge, the purpose,
// the relying party, the digest of the CSR's key and, for a per-session touch, the asset.
ClientData login_data(const std::string& challenge, const KeyRequest& csr, std::string_view type = kLoginType,
                      const std::string& asset = "") {
  ClientData data;
  data.type = std::string(type);
  data.challenge = challenge;
  data.rp_id = std::string(kRpId);
  data.key = csr_key_digest(csr.csr_pem);
  data.asset = asset;
  return data;
}

// The authenticator signs authData || SHA-256(clientDataJSON).
CertificateRequest touch(const CredentialKey& key, const std::string& credential_id, const std::string& challenge,
                         const ClientData& data, const KeyRequest& csr, std::uint32_t counter,
                         std::uint8_t flags = kUp) {
  CertificateRequest request;
  request.challenge = challenge;
  request.credential_id = credential_id;
  request.assertion.client_data_json = client_data_json(data);
  request.assertion.authenticator_data = authenticator_data(kRpId, flags, counter);
  request.assertion.signature =
      authenticator_signature(key, request.assertion.authenticator_data, request.assertion.client_data_json);
  request.csr_pem = csr.csr_pem;
  return request;
}

// A packed self-attested registration of `key` under `credential_id`.
EnrollRequest registration(const CredentialKey& key, const std::string& credential_id, const std::string& challenge,
                           std::string_view type = kEnrollType) {
  ClientData data;
  data.type = std::string(type);
  data.challenge = challenge;
  data.rp_id = std::string(kRpId);
  EnrollRequest request;
  request.challenge = challenge;
  Attestation& a = request.attestation;
  a.client_data_json = client_data_json(data);
  a.authenticator_data =
      authenticator_data(kRpId, kUp | kAt, 0, attested_credential_data(kAaguid, credential_id, key));
  a.format = "packed";
  a.attestation_alg = kCoseEs256;
  a.credential_alg = kCoseEs256;
  a.signature = authenticator_signature(key, a.authenticator_data, a.client_data_json);
  return request;
}

template <typename T>
AuthError error_of(const AuthResult<T>& result) {
  REQUIRE_FALSE(result.has_value());
  REQUIRE(result.error().category() == auth_error_category());
  return static_cast<AuthError>(result.error().value());
}

CertificateIdentity identity_of(const std::string& pem) {
  const X509Ptr certificate = certificate_from_pem(pem);
  REQUIRE(certificate);
  return identity_from_certificate(certificate.get());
}

StoredUser user(const std::string& name, std::vector<std::string> roles) {
  StoredUser user;
  user.name = name;
  user.roles = std::move(roles);
  user.created = kUnixNow - 86400;
  return user;
}

StoredDevice device(const std::string& id, std::vector<std::string> users) {
  StoredDevice device;
  device.id = id;
  device.users = std::move(users);
  device.created = kUnixNow - 86400;
  return device;
}

StoredCredential credential(const std::string& id, const std::string& owner, const CredentialKey& key,
                            std::uint32_t sign_count = kStoredCount) {
  StoredCredential credential;
  credential.id = id;
  credential.user = owner;
  credential.cose_alg = kCoseEs256;
  credential.public_key = key.public_key();
  credential.sign_count = sign_count;
  credential.aaguid = kAaguid;
  credential.created = kUnixNow - 3600;
  return credential;
}

Lockdown lockdown(const std::string& role, const std::string& asset_pattern) {
  Lockdown lockdown;
  lockdown.role = role;
  lockdown.asset_pattern = asset_pattern;
  lockdown.reason = "incident 42";
  lockdown.at = kUnixNow;
  return lockdown;
}

AuthPolicy test_policy() {
  AuthPolicy policy;
  policy.rp_id = std::string(kRpId);
  return policy;
}

// A gateway with alice (Operator) bound to laptop-7 and one ES256 key of hers at counter 10.
struct Gateway {
  TempDir dir;
  CredentialStore store;
  SiteCa ca;
  AuthService service;
  CredentialKey alice_key = CredentialKey::es256();
  KeyRequest csr = make_key_request("alice@laptop-7");
  Peer laptop{"laptop-7", kSerial};

  explicit Gateway(AuthPolicy policy = test_policy())
      : store(conduit::test::open_or_fail<CredentialStore>(dir.path() / "credentials.db")),
        ca(SiteCa::init(dir.path(), "Conduit Test Site CA")),
        service(store, ca, std::move(policy)) {
    REQUIRE(store.add_user(user("alice", {"Operator"})).has_value());
    REQUIRE(store.add_device(device("laptop-7", {"alice"})).has_value());
    REQUIRE(store.add_credential(credential(kAliceId, "alice", alice_key)).has_value());
  }

  AuthResult<ChallengeReply> ask(Purpose purpose, const std::string& name = "alice", const std::string& asset = "",
                                 const Peer& peer = Peer{"laptop-7", kSerial}) {
    ChallengeRequest request;
    request.purpose = purpose;
    request.user = name;
    request.asset = asset;
    return service.challenge(peer, request, kT0, kUnixNow);
  }

  std::string login_challenge() {
    auto reply = ask(Purpose::login);
    REQUIRE(reply.has_value());
    return reply->challenge;
  }

  // alice's key touched for `challenge`, counter one past the stored one.
  CertificateRequest alice_touch(const std::string& challenge, std::uint32_t counter = kStoredCount + 1) {
    return touch(alice_key, kAliceId, challenge, login_data(challenge, csr), csr, counter);
  }

  AuthResult<LoginCertificate> login(const CertificateRequest& request, Clock::time_point now = kT0 + 5s) {
    return service.certificate(laptop, request, Purpose::login, now, kUnixNow);
  }

  std::uint32_t stored_count(const std::string& id = kAliceId) {
    auto stored = store.find_credential(id);
    REQUIRE(stored.has_value());
    return stored->sign_count;
  }
};

}  // namespace

// Login.

TEST_CASE("a login touch gets a certificate for alice on laptop-7 and advances the counter", "[auth_service]") {
  Gateway gateway;
  auto reply = gateway.ask(Purpose::login);
  REQUIRE(reply.has_value());
  CHECK(reply->rp_id == kRpId);
  CHECK(reply->user == "alice");
  CHECK(reply->credential_ids == std::vector<std::string>{kAliceId});
  CHECK_FALSE(reply->user_verification);

  auto issued = gateway.login(gateway.alice_touch(reply->challenge, 11));
  REQUIRE(issued.has_value());
  CHECK(issued->user == "alice");
  CHECK(issued->roles == std::vector<std::string>{"Operator"});
  CHECK(issued->key_id == hex_encode(kAliceId));
  CHECK(issued->assertion_id.size() == 32);
  CHECK(issued->not_after == kUnixNow + 8 * 3600);

  const CertificateIdentity identity = identity_of(issued->certificate_pem);
  CHECK(identity.user == "alice");
  CHECK(identity.device == "laptop-7");
  CHECK(identity.key == hex_encode(kAliceId));
  CHECK(identity.role == "Operator");  // a single role also goes in the Modbus/TCP Security role extension
  // Compared as a set: identity_from_certificate lists the role extension's value after the
  // conduit:role/ URI, so a single role currently appears twice.
  CHECK(std::set<std::string>(identity.roles.begin(), identity.roles.end()) == std::set<std::string>{"Operator"});
  CHECK(identity.session_asset.empty());
  CHECK(identity.assertion.empty());
  CHECK(identity.mfa_level("press-1") == 1);

  // Issued by the site CA, for the key of the CSR, living 8 hours (plus the 60 s backdate).
  const X509Ptr certificate = certificate_from_pem(issued->certificate_pem);
  const X509Ptr ca_certificate = certificate_from_pem(gateway.ca.certificate_pem());
  REQUIRE(certificate);
  REQUIRE(ca_certificate);
  CHECK(X509_verify(certificate.get(), X509_get0_pubkey(ca_certificate.get())) == 1);
  const EvpPkeyPtr csr_key = private_key_from_pem(gateway.csr.private_key_pem);
  REQUIRE(csr_key);
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(certificate.get()), csr_key.get()) == 1);
  int days = 0, seconds = 0;
  REQUIRE(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(certificate.get()),
                         X509_get0_notAfter(certificate.get())) == 1);
  CHECK(days * 86400 + seconds == 8 * 3600 + 60);

  auto stored = gateway.store.find_credential(kAliceId);
  REQUIRE(stored.has_value());
  CHECK(stored->sign_count == 11u);
  CHECK(stored->last_used == kUnixNow);
}

TEST_CASE("a user with several roles gets them all and no Modbus role extension", "[auth_service]") {
  Gateway gateway;
  REQUIRE(gateway.store.set_user_roles("alice", {"Operator", "Maintainer"}).has_value());
  auto issued = gateway.login(gateway.alice_touch(gateway.login_challenge()));
  REQUIRE(issued.has_value());
  const CertificateIdentity identity = identity_of(issued->certificate_pem);
  CHECK(identity.role.empty());
  CHECK(std::set<std::string>(identity.roles.begin(), identity.roles.end()) ==
        std::set<std::string>{"Maintainer", "Operator"});
}

TEST_CASE("without the Modbus role extension configured a single role travels only as a URI", "[auth_service]") {
  AuthPolicy policy = test_policy();
  policy.modbus_role_extension = false;
  Gateway gateway(policy);
  auto issued = gateway.login(gateway.alice_touch(gateway.login_challenge()));
  REQUIRE(issued.has_value());
  const CertificateIdentity identity = identity_of(issued->certificate_pem);
  CHECK(identity.role.empty());
  CHECK(identity.roles == std::vector<std::string>{"Operator"});
}

TEST_CASE("a key that keeps no counter logs in again and again at zero", "[auth_service]") {
  Gateway gateway;
  const CredentialKey counterless = CredentialKey::es256();
  const std::string id = "\x00zero"s;
  REQUIRE(gateway.store.add_credential(credential(id, "alice", counterless, 0)).has_value());
  for (int round = 0; round < 2; ++round) {
    const std::string challenge = gateway.login_challenge();
    auto issued = gateway.login(
        touch(counterless, id, challenge, login_data(challenge, gateway.csr), gateway.csr, 0));
    REQUIRE(issued.has_value());
  }
  CHECK(gateway.stored_count(id) == 0u);
}

// Refusals of a login, each by its own error.

TEST_CASE("a replayed login is challenge_unknown", "[auth_service]") {
  Gateway gateway;
  const CertificateRequest request = gateway.alice_touch(gateway.login_challenge());
  REQUIRE(gateway.login(request).has_value());
  CHECK(error_of(gateway.login(request)) == AuthError::challenge_unknown);
}

TEST_CASE("a login with a challenge never issued is challenge_unknown", "[auth_service]") {
  Gateway gateway;
  const std::string made_up = base64url_encode(std::string(32, '\x42'));
  CHECK(error_of(gateway.login(gateway.alice_touch(made_up))) == AuthError::challenge_unknown);
}

TEST_CASE("challenge misuse is refused by the challenge's own error", "[auth_service]") {
  Gateway gateway;
  const std::string challenge = gateway.login_challenge();
  const CertificateRequest request = gateway.alice_touch(challenge);

  SECTION("after 60 s it is challenge_expired") {
    CHECK(error_of(gateway.login(request, kT0 + 60s)) == AuthError::challenge_expired);
  }
  SECTION("from another device it is challenge_other_device") {
    REQUIRE(gateway.store.add_device(device("laptop-8", {"alice"})).has_value());
    CHECK(error_of(gateway.service.certificate(Peer{"laptop-8", kSerial}, request, Purpose::login, kT0, kUnixNow)) ==
          AuthError::challenge_other_device);
  }
  SECTION("a login challenge for a session certificate is challenge_other_purpose") {
    CHECK(error_of(gateway.service.certificate(gateway.laptop, request, Purpose::session, kT0, kUnixNow)) ==
          AuthError::challenge_other_purpose);
  }
  // Whatever the refusal, the challenge is spent.
  CHECK(error_of(gateway.login(request)) == AuthError::challenge_unknown);
  CHECK(gateway.stored_count() == kStoredCount);
}

TEST_CASE("client data that does not match the request is client_data_invalid", "[auth_service]") {
  Gateway gateway;
  const std::string challenge = gateway.login_challenge();
  ClientData data = login_data(challenge, gateway.csr);

  SECTION("another challenge") {
    data.challenge = gateway.login_challenge();
  }
  SECTION("the session type") {
    data.type = std::string(kSessionType);
  }
  SECTION("the enroll type") {
    data.type = std::string(kEnrollType);
  }
  SECTION("a WebAuthn type") {
    data.type = "webauthn.get";
  }
  SECTION("another relying party") {
    data.rp_id = "evil.example";
  }
  SECTION("an asset on a login") {
    data.asset = "press-1";
  }
  SECTION("no key digest") {
    data.key.clear();
  }
  SECTION("the digest of another key") {
    data.key = csr_key_digest(make_key_request("mallory").csr_pem);
  }
  const CertificateRequest request = touch(gateway.alice_key, kAliceId, challenge, data, gateway.csr, 11);
  CHECK(error_of(gateway.login(request)) == AuthError::client_data_invalid);
  CHECK(gateway.stored_count() == kStoredCount);
}

TEST_CASE("a CSR swapped after the key signed is client_data_invalid", "[auth_service]") {
  Gateway gateway;
  CertificateRequest request = gateway.alice_touch(gateway.login_challenge());
  request.csr_pem = make_key_request("mallory").csr_pem;  // someone in the middle brings their own key
  CHECK(error_of(gateway.login(request)) == AuthError::client_data_invalid);
}

TEST_CASE("client data that is not JSON is client_data_invalid; a CSR that is not one is request_invalid",
          "[auth_service]") {
  Gateway gateway;
  SECTION("client data") {
    const std::string challenge = gateway.login_challenge();
    CertificateRequest request = gateway.alice_touch(challenge);
    request.assertion.client_data_json = "not json";
    request.assertion.signature =
        authenticator_signature(gateway.alice_key, request.assertion.authenticator_data,
                                request.assertion.client_data_json);
    CHECK(error_of(gateway.login(request)) == AuthError::client_data_invalid);
  }
  SECTION("CSR") {
    CertificateRequest request = gateway.alice_touch(gateway.login_challenge());
    request.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
    CHECK(error_of(gateway.login(request)) == AuthError::request_invalid);
  }
}

TEST_CASE("an assertion that does not verify is refused by the verifier's error", "[auth_service]") {
  Gateway gateway;
  const std::string challenge = gateway.login_challenge();
  const ClientData data = login_data(challenge, gateway.csr);

  SECTION("UP clear is user_presence_missing") {
    CHECK(error_of(gateway.login(touch(gateway.alice_key, kAliceId, challenge, data, gateway.csr, 11, 0))) ==
          AuthError::user_presence_missing);
  }
  SECTION("signed by another key is signature_invalid") {
    const CredentialKey mallory = CredentialKey::es256();
    CHECK(error_of(gateway.login(touch(mallory, kAliceId, challenge, data, gateway.csr, 11))) ==
          AuthError::signature_invalid);
  }
  CHECK(gateway.stored_count() == kStoredCount);
}

TEST_CASE("UV required by policy and not given is user_verification_missing", "[auth_service]") {
  AuthPolicy policy = test_policy();
  policy.require_user_verification = true;
  Gateway gateway(policy);
  auto reply = gateway.ask(Purpose::login);
  REQUIRE(reply.has_value());
  CHECK(reply->user_verification);
  CHECK(error_of(gateway.login(gateway.alice_touch(reply->challenge))) == AuthError::user_verification_missing);
}

TEST_CASE("a sign counter that does not increase is counter_regression and leaves the stored counter",
          "[auth_service]") {
  Gateway gateway;
  const std::uint32_t presented = GENERATE(as<std::uint32_t>{}, kStoredCount, kStoredCount - 1, 0);
  INFO("presented " << presented << ", stored " << kStoredCount);
  CHECK(error_of(gateway.login(gateway.alice_touch(gateway.login_challenge(), presented))) ==
        AuthError::counter_regression);
  auto stored = gateway.store.find_credential(kAliceId);
  REQUIRE(stored.has_value());
  CHECK(stored->sign_count == kStoredCount);
  CHECK(stored->last_used == 0);
}

TEST_CASE("an unknown credential is credential_unknown", "[auth_service]") {
  Gateway gateway;
  const std::string challenge = gateway.login_challenge();
  CHECK(error_of(gateway.login(touch(gateway.alice_key, "\x00unknown"s, challenge, login_data(challenge, gateway.csr),
                                     gateway.csr, 11))) == AuthError::credential_unknown);
}

TEST_CASE("another user's credential is credential_unknown, even when its signature verifies", "[auth_service]") {
  Gateway gateway;
  const CredentialKey bob_key = CredentialKey::es256();
  REQUIRE(gateway.store.add_user(user("bob", {"Engineer"})).has_value());
  REQUIRE(gateway.store.bind_user("laptop-7", "bob").has_value());
  REQUIRE(gateway.store.add_credential(credential(kBobId, "bob", bob_key)).has_value());
  const std::string challenge = gateway.login_challenge();  // alice's
  CHECK(error_of(gateway.login(touch(bob_key, kBobId, challenge, login_data(challenge, gateway.csr), gateway.csr,
                                     11))) == AuthError::credential_unknown);
  CHECK(gateway.stored_count(kBobId) == kStoredCount);
}

TEST_CASE("a key revoked between challenge and touch is credential_revoked", "[auth_service]") {
  Gateway gateway;
  const std::string challenge = gateway.login_challenge();
  REQUIRE(gateway.store.revoke(RevocationKind::key, hex_encode(kAliceId), "lost", kUnixNow).has_value());
  CHECK(error_of(gateway.login(gateway.alice_touch(challenge))) == AuthError::credential_revoked);
  CHECK(gateway.stored_count() == kStoredCount);
  // And it is no longer offered: alice's only key is revoked, and the challenge says so.
  CHECK(error_of(gateway.ask(Purpose::login)) == AuthError::credential_revoked);
}

TEST_CASE("a revoked key is left out of the allow list when others remain", "[auth_service]") {
  Gateway gateway;
  const CredentialKey spare = CredentialKey::es256();
  REQUIRE(gateway.store.add_credential(credential(kBobId, "alice", spare)).has_value());
  REQUIRE(gateway.store.revoke(RevocationKind::key, hex_encode(kAliceId), "lost", kUnixNow).has_value());
  auto reply = gateway.ask(Purpose::login);
  REQUIRE(reply.has_value());
  CHECK(reply->credential_ids == std::vector<std::string>{kBobId});
}

// Refusals because of who is asking: checked when the challenge is issued and again when
// the certificate is, so a revocation in between still stops the login.

TEST_CASE("a revoked device, user or certificate stops both the challenge and the certificate", "[auth_service]") {
  Gateway gateway;
  const std::string challenge = gateway.login_challenge();
  AuthError expected{};

  SECTION("revoked device") {
    REQUIRE(gateway.store.revoke(RevocationKind::device, "laptop-7", "stolen", kUnixNow).has_value());
    expected = AuthError::device_revoked;
  }
  SECTION("disabled user") {
    REQUIRE(gateway.store.set_user_disabled("alice", true).has_value());
    expected = AuthError::user_disabled;
  }
  SECTION("revoked user") {
    REQUIRE(gateway.store.revoke(RevocationKind::user, "alice", "left the company", kUnixNow).has_value());
    expected = AuthError::user_disabled;
  }
  SECTION("revoked device certificate serial") {
    REQUIRE(gateway.store.revoke(RevocationKind::certificate, kSerial, "key leaked", kUnixNow).has_value());
    expected = AuthError::certificate_revoked;
  }
  SECTION("lockdown of everything") {
    REQUIRE(gateway.store.add_lockdown(lockdown("", "")).has_value());
    expected = AuthError::locked_down;
  }
  SECTION("lockdown of alice's role") {
    REQUIRE(gateway.store.add_lockdown(lockdown("Operator", "")).has_value());
    expected = AuthError::locked_down;
  }
  CHECK(error_of(gateway.login(gateway.alice_touch(challenge))) == expected);
  CHECK(error_of(gateway.ask(Purpose::login)) == expected);
  CHECK(gateway.stored_count() == kStoredCount);
}

TEST_CASE("a lockdown of another role or of assets only does not stop a login", "[auth_service]") {
  Gateway gateway;
  REQUIRE(gateway.store.add_lockdown(lockdown("Engineer", "")).has_value());
  REQUIRE(gateway.store.add_lockdown(lockdown("", "press-*")).has_value());
  REQUIRE(gateway.store.add_lockdown(lockdown("Operator", "pump-1")).has_value());
  CHECK(gateway.login(gateway.alice_touch(gateway.login_challenge())).has_value());
}

TEST_CASE("an unknown device is device_unknown", "[auth_service]") {
  Gateway gateway;
  CHECK(error_of(gateway.ask(Purpose::login, "alice", "", Peer{"laptop-9", kSerial})) == AuthError::device_unknown);
}

TEST_CASE("a user not bound to the device is user_not_bound_to_device", "[auth_service]") {
  Gateway gateway;
  const CredentialKey carol_key = CredentialKey::es256();
  REQUIRE(gateway.store.add_user(user("carol", {"Operator"})).has_value());
  REQUIRE(gateway.store.add_credential(credential("\x00" "carol"s, "carol", carol_key)).has_value());
  CHECK(error_of(gateway.ask(Purpose::login, "carol")) == AuthError::user_not_bound_to_device);
}

TEST_CASE("an unknown user is user_unknown; a user without keys is no_credentials", "[auth_service]") {
  Gateway gateway;
  CHECK(error_of(gateway.ask(Purpose::login, "mallory")) == AuthError::user_unknown);
  REQUIRE(gateway.store.add_user(user("dave", {"Operator"})).has_value());
  REQUIRE(gateway.store.bind_user("laptop-7", "dave").has_value());
  CHECK(error_of(gateway.ask(Purpose::login, "dave")) == AuthError::no_credentials);
}

// Per-session touch.

TEST_CASE("a session touch for press-1 gets a certificate for press-1 only", "[auth_service]") {
  Gateway gateway;
  auto reply = gateway.ask(Purpose::session, "alice", "press-1");
  REQUIRE(reply.has_value());
  const ClientData data = login_data(reply->challenge, gateway.csr, kSessionType, "press-1");
  auto issued = gateway.service.certificate(gateway.laptop,
                                            touch(gateway.alice_key, kAliceId, reply->challenge, data, gateway.csr, 11),
                                            Purpose::session, kT0, kUnixNow);
  REQUIRE(issued.has_value());
  CHECK(issued->not_after == kUnixNow + 60);
  const CertificateIdentity identity = identity_of(issued->certificate_pem);
  CHECK(identity.user == "alice");
  CHECK(identity.device == "laptop-7");
  CHECK(identity.session_asset == "press-1");
  CHECK_FALSE(identity.assertion.empty());
  CHECK(identity.assertion == issued->assertion_id);
  CHECK(identity.mfa_level("press-1") == 2);
  CHECK(identity.mfa_level("press-2") == 1);
  CHECK(gateway.stored_count() == 11u);
}

TEST_CASE("a session touch signed for another asset or as a login is client_data_invalid", "[auth_service]") {
  Gateway gateway;
  auto reply = gateway.ask(Purpose::session, "alice", "press-1");
  REQUIRE(reply.has_value());
  ClientData data = login_data(reply->challenge, gateway.csr, kSessionType, "press-1");
  SECTION("another asset") {
    data.asset = "press-2";
  }
  SECTION("no asset") {
    data.asset.clear();
  }
  SECTION("login type") {
    data.type = std::string(kLoginType);
  }
  CHECK(error_of(gateway.service.certificate(
            gateway.laptop, touch(gateway.alice_key, kAliceId, reply->challenge, data, gateway.csr, 11),
            Purpose::session, kT0, kUnixNow)) == AuthError::client_data_invalid);
}

TEST_CASE("a session challenge without an asset is request_invalid", "[auth_service]") {
  Gateway gateway;
  CHECK(error_of(gateway.ask(Purpose::session, "alice", "")) == AuthError::request_invalid);
}

TEST_CASE("a session certificate needs a session challenge", "[auth_service]") {
  Gateway gateway;
  auto reply = gateway.ask(Purpose::session, "alice", "press-1");
  REQUIRE(reply.has_value());
  const ClientData data = login_data(reply->challenge, gateway.csr, kSessionType, "press-1");
  CHECK(error_of(gateway.login(touch(gateway.alice_key, kAliceId, reply->challenge, data, gateway.csr, 11))) ==
        AuthError::challenge_other_purpose);
}

// Enrollment.

TEST_CASE("an enrollment code is spent by the challenge and enrolls a new key that then logs in",
          "[auth_service]") {
  Gateway gateway;
  const std::string code = "K7Q2-M9XD-3HWP";
  REQUIRE(gateway.store.add_enrollment_code(sha256(code), "alice", kUnixNow + 3600).has_value());

  ChallengeRequest ask_enroll;
  ask_enroll.purpose = Purpose::enroll;
  ask_enroll.enrollment_code = code;
  auto reply = gateway.service.challenge(gateway.laptop, ask_enroll, kT0, kUnixNow);
  REQUIRE(reply.has_value());
  CHECK(reply->user == "alice");  // from the code, not from the request
  CHECK(reply->credential_ids == std::vector<std::string>{kAliceId});  // exclude list
  CHECK(error_of(gateway.service.challenge(gateway.laptop, ask_enroll, kT0, kUnixNow)) ==
        AuthError::enrollment_code_invalid);

  const CredentialKey new_key = CredentialKey::es256();
  const std::string new_id = "\x00\x01new-key\x00"s;
  auto enrolled = gateway.service.enroll(gateway.laptop, registration(new_key, new_id, reply->challenge), kT0 + 10s,
                                         kUnixNow);
  REQUIRE(enrolled.has_value());
  CHECK(enrolled->user == "alice");
  CHECK(enrolled->key_id == hex_encode(new_id));
  CHECK(enrolled->aaguid == hex_encode(kAaguid));

  auto stored = gateway.store.find_credential(new_id);
  REQUIRE(stored.has_value());
  CHECK(stored->user == "alice");
  CHECK(stored->cose_alg == kCoseEs256);
  CHECK(stored->public_key == new_key.public_key());
  CHECK(stored->aaguid == kAaguid);
  CHECK(stored->sign_count == 0u);
  CHECK(stored->created == kUnixNow);

  const std::string challenge = gateway.login_challenge();
  auto issued = gateway.login(
      touch(new_key, new_id, challenge, login_data(challenge, gateway.csr), gateway.csr, 1));
  REQUIRE(issued.has_value());
  CHECK(identity_of(issued->certificate_pem).key == hex_encode(new_id));
  CHECK(gateway.stored_count(new_id) == 1u);
}

TEST_CASE("unknown and expired enrollment codes are enrollment_code_invalid", "[auth_service]") {
  Gateway gateway;
  REQUIRE(gateway.store.add_enrollment_code(sha256("old-code"), "alice", kUnixNow).has_value());
  ChallengeRequest ask_enroll;
  ask_enroll.purpose = Purpose::enroll;
  ask_enroll.enrollment_code = "never-issued";
  CHECK(error_of(gateway.service.challenge(gateway.laptop, ask_enroll, kT0, kUnixNow)) ==
        AuthError::enrollment_code_invalid);
  ask_enroll.enrollment_code = "old-code";  // expires == now: expired
  CHECK(error_of(gateway.service.challenge(gateway.laptop, ask_enroll, kT0, kUnixNow)) ==
        AuthError::enrollment_code_invalid);
  ask_enroll.enrollment_code = "";
  CHECK(error_of(gateway.service.challenge(gateway.laptop, ask_enroll, kT0, kUnixNow)) ==
        AuthError::enrollment_code_invalid);
}

TEST_CASE("enrollment refusals", "[auth_service]") {
  Gateway gateway;
  for (const char* code : {"code-1", "code-2"}) {
    REQUIRE(gateway.store.add_enrollment_code(sha256(code), "alice", kUnixNow + 3600).has_value());
  }
  auto enroll_challenge = [&](const char* code) {
    ChallengeRequest ask_enroll;
    ask_enroll.purpose = Purpose::enroll;
    ask_enroll.enrollment_code = code;
    auto reply = gateway.service.challenge(gateway.laptop, ask_enroll, kT0, kUnixNow);
    REQUIRE(reply.has_value());
    return reply->challenge;
  };
  const CredentialKey new_key = CredentialKey::es256();

  SECTION("client data of a login is client_data_invalid") {
    const std::string challenge = enroll_challenge("code-1");
    CHECK(error_of(gateway.service.enroll(gateway.laptop, registration(new_key, "\x01n"s, challenge, kLoginType), kT0,
                                          kUnixNow)) == AuthError::client_data_invalid);
    CHECK_FALSE(gateway.store.find_credential("\x01n"s).has_value());
  }
  SECTION("a key already enrolled is credential_exists") {
    const std::string challenge = enroll_challenge("code-1");
    CHECK(error_of(gateway.service.enroll(gateway.laptop, registration(new_key, kAliceId, challenge), kT0,
                                          kUnixNow)) == AuthError::credential_exists);
    CHECK(gateway.store.find_credential(kAliceId)->public_key == gateway.alice_key.public_key());
  }
  SECTION("a login challenge is challenge_other_purpose") {
    const std::string challenge = gateway.login_challenge();
    CHECK(error_of(gateway.service.enroll(gateway.laptop, registration(new_key, "\x01n"s, challenge), kT0,
                                          kUnixNow)) == AuthError::challenge_other_purpose);
  }
  SECTION("an enroll challenge cannot be used twice") {
    const std::string challenge = enroll_challenge("code-1");
    REQUIRE(gateway.service.enroll(gateway.laptop, registration(new_key, "\x01n"s, challenge), kT0, kUnixNow)
                .has_value());
    CHECK(error_of(gateway.service.enroll(gateway.laptop, registration(new_key, "\x01m"s, challenge), kT0,
                                          kUnixNow)) == AuthError::challenge_unknown);
  }
  SECTION("a self-attested key under an AAGUID allow-list is attestation_untrusted") {
    // Same store and CA, a service whose policy pins key models.
    AuthPolicy pinned = test_policy();
    pinned.aaguids = {hex_encode(kAaguid)};
    AuthService strict(gateway.store, gateway.ca, pinned);
    ChallengeRequest ask_enroll;
    ask_enroll.purpose = Purpose::enroll;
    ask_enroll.enrollment_code = "code-2";
    auto reply = strict.challenge(gateway.laptop, ask_enroll, kT0, kUnixNow);
    REQUIRE(reply.has_value());
    CHECK(error_of(strict.enroll(gateway.laptop, registration(new_key, "\x01n"s, reply->challenge), kT0,
                                 kUnixNow)) == AuthError::attestation_untrusted);
    CHECK_FALSE(gateway.store.find_credential("\x01n"s).has_value());
  }
}
