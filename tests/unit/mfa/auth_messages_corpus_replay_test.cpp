// Replays the auth API message fuzz corpus through the fuzzer's own check, so that every
// CI run re-verifies what the fuzzer once found (see tests/fuzz/README.md). A hidden test
// case regenerates the seed part of the corpus from the encoders.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../fuzz/auth_messages_check.hpp"
#include "tests/unit/corpus.hpp"

namespace {

using namespace conduit::mfa;
using namespace std::string_literals;
namespace corpus = conduit::test::corpus;
using nlohmann::json;

bool check(const std::string& body) {
  return conduit::fuzz::check_auth_messages(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()));
}

// One value of each message type, binary fields with NULs and high bytes.
ChallengeRequest seed_challenge_request(Purpose purpose) {
  ChallengeRequest request;
  request.purpose = purpose;
  request.user = purpose == Purpose::enroll ? "" : "alice";
  request.asset = purpose == Purpose::session ? "press-1" : "";
  request.enrollment_code = purpose == Purpose::enroll ? "K7Q2-M9XD-3HWP" : "";
  return request;
}

ChallengeReply seed_challenge_reply() {
  ChallengeReply reply;
  reply.challenge = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA";
  reply.rp_id = "gateway.plant.example";
  reply.user = "alice";
  reply.credential_ids = {"\x00\xa1ice-key\xff"s, "\x01\x02"s};
  reply.user_verification = false;
  return reply;
}

CertificateRequest seed_certificate_request() {
  CertificateRequest request;
  request.challenge = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA";
  request.credential_id = "\x00\xa1ice-key\xff"s;
  request.assertion.client_data_json =
      R"({"challenge":"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA","key":"3q2-7w","rp_id":"gateway.plant.example","type":"conduit.login"})";
  request.assertion.authenticator_data = std::string(32, '\x5a') + "\x01\x00\x00\x00\x0b"s;
  request.assertion.signature = "\x30\x06\x02\x01\x01\x02\x01\x01"s;
  request.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIHNMHUCAQAwEzERMA8GA1UEAwwIYWxpY2VAbDc=\n"
                    "-----END CERTIFICATE REQUEST-----\n";
  return request;
}

LoginCertificate seed_login_certificate() {
  LoginCertificate issued;
  issued.certificate_pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIQ\n-----END CERTIFICATE-----\n";
  issued.user = "alice";
  issued.roles = {"Operator"};
  issued.key_id = "00a1696365";
  issued.assertion_id = "5e1f0c9a7b3d4e2f8a6b1c0d9e8f7a6b";
  issued.not_after = 1'763'028'800;
  return issued;
}

EnrollRequest seed_enroll_request() {
  EnrollRequest request;
  request.challenge = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA";
  Attestation& a = request.attestation;
  a.client_data_json =
      R"({"challenge":"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA","rp_id":"gateway.plant.example","type":"conduit.enroll"})";
  a.authenticator_data = std::string(32, '\x5a') + "\x41\x00\x00\x00\x00"s + std::string(16, '\x6d') + "\x00\x02\x01\x02"s +
                         "\xa5\x01\x02\x03\x26\x20\x01"s;
  a.format = "packed";
  a.attestation_alg = kCoseEs256;
  a.signature = "\x30\x06\x02\x01\x01\x02\x01\x01"s;
  a.x5c = {"\x30\x82\x01\x0a\x30\x81"s};
  a.credential_alg = kCoseEs256;
  return request;
}

std::string with(const std::string& body, const char* key, const json& value) {
  json parsed = json::parse(body);
  parsed[key] = value;
  return parsed.dump();
}

std::string without(const std::string& body, const char* key) {
  json parsed = json::parse(body);
  parsed.erase(key);
  return parsed.dump();
}

}  // namespace

TEST_CASE("every file of the auth messages corpus passes the fuzzer's check", "[auth_messages][fuzz]") {
  CHECK(corpus::replay(corpus::dir("auth_messages"), conduit::fuzz::check_auth_messages) >= 15);
}

TEST_CASE("the corpus seeds of each message type decode as that type", "[auth_messages][fuzz]") {
  const std::filesystem::path dir = corpus::dir("auth_messages");
  auto body = [&](const char* name) {
    const corpus::Bytes bytes = corpus::read_file(dir / name);
    return std::string(bytes.begin(), bytes.end());
  };
  CHECK(decode_challenge_request(body("challenge_request_login.json")).has_value());
  CHECK(decode_challenge_request(body("challenge_request_session.json")).has_value());
  CHECK(decode_challenge_request(body("challenge_request_enroll.json")).has_value());
  CHECK(decode_challenge_reply(body("challenge_reply.json")).has_value());
  CHECK(decode_certificate_request(body("certificate_request.json")).has_value());
  CHECK(decode_certificate_reply(body("certificate_reply.json")).has_value());
  CHECK(decode_enroll_request(body("enroll_request.json")).has_value());
  CHECK(decode_enrolled_key(body("enrolled_key.json")).has_value());
  CHECK(error_message(body("error.json")) == "the key's sign counter went backwards: possibly a cloned key");
}

TEST_CASE("the check fails a decoder that loses a field", "[auth_messages][fuzz]") {
  // The equality helpers are what make the round trip mean something: they must notice.
  using conduit::fuzz::auth_detail::same;
  CertificateRequest a = seed_certificate_request();
  CertificateRequest b = a;
  CHECK(same(a, b));
  b.assertion.signature.back() = '\x02';
  CHECK_FALSE(same(a, b));
  EnrollRequest e = seed_enroll_request();
  EnrollRequest f = e;
  f.attestation.x5c.clear();
  CHECK_FALSE(same(e, f));
  CHECK(check(encode(seed_enroll_request())));
}

// Run explicitly: ./conduit_unit_tests "[.generate_auth_messages_corpus]"
TEST_CASE("regenerate the auth messages seed corpus", "[.generate_auth_messages_corpus]") {
  const std::filesystem::path dir = corpus::dir("auth_messages");
  std::filesystem::create_directories(dir);
  const std::string ca = "-----BEGIN CERTIFICATE-----\nMIIBjTCCATOgAwIBAgIU\n-----END CERTIFICATE-----\n";

  // One valid body per message type, from the encoders.
  const std::vector<std::pair<std::string, std::string>> valid = {
      {"challenge_request_login.json", encode(seed_challenge_request(Purpose::login))},
      {"challenge_request_session.json", encode(seed_challenge_request(Purpose::session))},
      {"challenge_request_enroll.json", encode(seed_challenge_request(Purpose::enroll))},
      {"challenge_reply.json", encode(seed_challenge_reply())},
      {"certificate_request.json", encode(seed_certificate_request())},
      {"certificate_reply.json", encode(seed_login_certificate(), ca)},
      {"enroll_request.json", encode(seed_enroll_request())},
      {"enrolled_key.json", encode(EnrolledKey{"alice", "00a1696365", "6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d"})},
      {"error.json", encode_error("counter_regression", "the key's sign counter went backwards: possibly a cloned key")},
  };

  // Near misses: one step from a valid body, each refused for one reason.
  ChallengeReply long_list = seed_challenge_reply();
  long_list.credential_ids.assign(65, "\x01"s);
  const std::string certificate_request = encode(seed_certificate_request());
  const std::vector<std::pair<std::string, std::string>> near = {
      {"challenge_request_bad_purpose.json", with(encode(seed_challenge_request(Purpose::login)), "purpose", "logout")},
      {"challenge_reply_65_ids.json", encode(long_list)},
      {"certificate_request_padded_base64.json", with(certificate_request, "signature", "MAYCAQECAQE=")},
      {"certificate_request_plus_slash.json", with(certificate_request, "credential_id", "+/8")},
      {"certificate_request_truncated.json", certificate_request.substr(0, certificate_request.size() / 2)},
      {"certificate_reply_float_not_after.json", with(encode(seed_login_certificate(), ca), "not_after", 1.5e9)},
      {"enroll_request_without_x5c.json", without(encode(seed_enroll_request()), "x5c")},
      {"enrolled_key_number_user.json", with(encode(EnrolledKey{"alice", "00", "6d"}), "user", 7)},
      {"not_an_object.json", R"([{"purpose":"login"}])"},
      {"nested_deep.json", std::string(200, '[') + std::string(200, ']')},
  };
  for (const auto& [name, body] : valid) {
    INFO(name);
    CHECK(check(body));
    REQUIRE(corpus::write_file(dir / name, body));
  }
  for (const auto& [name, body] : near) {
    INFO(name);
    CHECK(check(body));
    REQUIRE(corpus::write_file(dir / name, body));
  }
}
