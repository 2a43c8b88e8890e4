// The auth API's JSON bodies (mfa/auth_messages.hpp) and the base64url/hex helpers under
// them (mfa/base64url.hpp). Decoders take untrusted bytes: every shape that is not exactly
// the expected one must give nullopt, never an exception.
#include "mfa/auth_messages.hpp"

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "mfa/base64url.hpp"

namespace {

using namespace conduit::mfa;
using namespace std::string_literals;
using nlohmann::json;

constexpr std::size_t kMaxField = 16 * 1024;
constexpr std::size_t kMaxList = 64;

// Binary fields hold NULs and high bytes, as credential ids and signatures do.
const std::string kBinary = "\x00\x01\xff\xfe\x00 id \x80\x00"s;

ChallengeRequest challenge_request() {
  ChallengeRequest request;
  request.purpose = Purpose::session;
  request.user = "alice";
  request.asset = "press-1";
  request.enrollment_code = "K7Q2-M9XD";
  return request;
}

ChallengeReply challenge_reply() {
  ChallengeReply reply;
  reply.challenge = "q83vEjRWeJCrze8SNFZ4kA";
  reply.rp_id = "gateway.plant.example";
  reply.user = "alice";
  reply.credential_ids = {kBinary, "\x00"s, ""};
  reply.user_verification = true;
  return reply;
}

CertificateRequest certificate_request() {
  CertificateRequest request;
  request.challenge = "q83vEjRWeJCrze8SNFZ4kA";
  request.credential_id = kBinary;
  request.assertion.client_data_json = R"({"type":"conduit.login"})";
  request.assertion.authenticator_data = std::string(32, '\0') + "\x05\x00\x00\x00\x07"s;
  request.assertion.signature = "\x30\x45\x02\x20\x00\xff"s;
  request.csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
  return request;
}

LoginCertificate login_certificate() {
  LoginCertificate issued;
  issued.certificate_pem = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
  issued.user = "alice";
  issued.roles = {"Operator", "Maintainer"};
  issued.key_id = "0001fffe";
  issued.assertion_id = "5e1f0c";
  issued.not_after = 1'763'028'800;
  return issued;
}

EnrollRequest enroll_request() {
  EnrollRequest request;
  request.challenge = "q83vEjRWeJCrze8SNFZ4kA";
  request.attestation.client_data_json = R"({"type":"conduit.enroll"})";
  request.attestation.authenticator_data = std::string(32, '\0') + "\x41\x00\x00\x00\x00"s + kBinary;
  request.attestation.format = "packed";
  request.attestation.attestation_alg = kCoseEs256;
  request.attestation.signature = "\x30\x44\x00"s;
  request.attestation.x5c = {"\x30\x82\x01\x00"s, kBinary};
  request.attestation.credential_alg = kCoseEdDsa;
  return request;
}

EnrolledKey enrolled_key() { return {"alice", "0001fffe", "6d44ba9bf6ec2e49b9300c8fe920cb73"}; }

// Every decoder, by name, for the table-driven refusals.
struct Decoder {
  const char* name;
  std::string valid_body;
  std::function<bool(std::string_view)> decodes;
};

std::vector<Decoder> decoders() {
  return {
      {"challenge request", encode(challenge_request()),
       [](std::string_view b) { return decode_challenge_request(b).has_value(); }},
      {"challenge reply", encode(challenge_reply()),
       [](std::string_view b) { return decode_challenge_reply(b).has_value(); }},
      {"certificate request", encode(certificate_request()),
       [](std::string_view b) { return decode_certificate_request(b).has_value(); }},
      {"certificate reply", encode(login_certificate(), "-----BEGIN CERTIFICATE-----\nCA\n"),
       [](std::string_view b) { return decode_certificate_reply(b).has_value(); }},
      {"enroll request", encode(enroll_request()),
       [](std::string_view b) { return decode_enroll_request(b).has_value(); }},
      {"enrolled key", encode(enrolled_key()), [](std::string_view b) { return decode_enrolled_key(b).has_value(); }},
  };
}

// Fields a decoder may do without.
bool optional_field(const std::string& decoder, const std::string& key) {
  return decoder == "challenge request" && (key == "user" || key == "asset" || key == "enrollment_code");
}

// A value of another JSON type than `value`'s.
std::vector<json> other_types(const json& value) {
  std::vector<json> out;
  if (!value.is_string()) out.push_back("1");
  if (!value.is_number()) out.push_back(1);
  if (!value.is_boolean()) out.push_back(true);
  if (!value.is_array()) out.push_back(json::array({"AA"}));
  if (!value.is_object()) out.push_back(json::object({{"a", "b"}}));
  out.push_back(nullptr);
  out.push_back(1.5);
  return out;
}

}  // namespace

// Round trips.

TEST_CASE("a challenge request survives encode and decode for every purpose", "[auth_messages]") {
  for (const Purpose purpose : {Purpose::login, Purpose::session, Purpose::enroll}) {
    ChallengeRequest request = challenge_request();
    request.purpose = purpose;
    const auto decoded = decode_challenge_request(encode(request));
    REQUIRE(decoded.has_value());
    CHECK(decoded->purpose == purpose);
    CHECK(decoded->user == request.user);
    CHECK(decoded->asset == request.asset);
    CHECK(decoded->enrollment_code == request.enrollment_code);
  }
}

TEST_CASE("a challenge request needs only its purpose", "[auth_messages]") {
  const auto decoded = decode_challenge_request(R"({"purpose":"enroll","enrollment_code":"K7Q2"})");
  REQUIRE(decoded.has_value());
  CHECK(decoded->purpose == Purpose::enroll);
  CHECK(decoded->user.empty());
  CHECK(decoded->asset.empty());
  CHECK(decoded->enrollment_code == "K7Q2");
}

TEST_CASE("a challenge reply survives encode and decode, binary credential ids included", "[auth_messages]") {
  const ChallengeReply reply = challenge_reply();
  const std::string body = encode(reply);
  CHECK(json::parse(body)["credential_ids"][0] == base64url_encode(kBinary));  // bytes travel as base64url
  const auto decoded = decode_challenge_reply(body);
  REQUIRE(decoded.has_value());
  CHECK(decoded->challenge == reply.challenge);
  CHECK(decoded->rp_id == reply.rp_id);
  CHECK(decoded->user == reply.user);
  CHECK(decoded->credential_ids == reply.credential_ids);
  CHECK(decoded->user_verification);

  ChallengeReply empty = reply;
  empty.credential_ids.clear();
  empty.user_verification = false;
  const auto decoded_empty = decode_challenge_reply(encode(empty));
  REQUIRE(decoded_empty.has_value());
  CHECK(decoded_empty->credential_ids.empty());
  CHECK_FALSE(decoded_empty->user_verification);
}

TEST_CASE("a certificate request survives encode and decode, binary fields byte for byte", "[auth_messages]") {
  const CertificateRequest request = certificate_request();
  const auto decoded = decode_certificate_request(encode(request));
  REQUIRE(decoded.has_value());
  CHECK(decoded->challenge == request.challenge);
  CHECK(decoded->credential_id == request.credential_id);
  CHECK(decoded->credential_id.size() == kBinary.size());
  CHECK(decoded->assertion.client_data_json == request.assertion.client_data_json);
  CHECK(decoded->assertion.authenticator_data == request.assertion.authenticator_data);
  CHECK(decoded->assertion.signature == request.assertion.signature);
  CHECK(decoded->csr_pem == request.csr_pem);
}

TEST_CASE("a certificate reply survives encode and decode with the CA", "[auth_messages]") {
  const LoginCertificate issued = login_certificate();
  const std::string ca = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
  const auto decoded = decode_certificate_reply(encode(issued, ca));
  REQUIRE(decoded.has_value());
  CHECK(decoded->ca_pem == ca);
  CHECK(decoded->issued.certificate_pem == issued.certificate_pem);
  CHECK(decoded->issued.user == issued.user);
  CHECK(decoded->issued.roles == issued.roles);
  CHECK(decoded->issued.key_id == issued.key_id);
  CHECK(decoded->issued.assertion_id == issued.assertion_id);
  CHECK(decoded->issued.not_after == issued.not_after);
}

TEST_CASE("an enroll request survives encode and decode, x5c and algorithms included", "[auth_messages]") {
  const EnrollRequest request = enroll_request();
  const auto decoded = decode_enroll_request(encode(request));
  REQUIRE(decoded.has_value());
  const Attestation& a = decoded->attestation;
  const Attestation& b = request.attestation;
  CHECK(decoded->challenge == request.challenge);
  CHECK(a.client_data_json == b.client_data_json);
  CHECK(a.authenticator_data == b.authenticator_data);
  CHECK(a.format == b.format);
  CHECK(a.attestation_alg == kCoseEs256);
  CHECK(a.signature == b.signature);
  CHECK(a.x5c == b.x5c);
  CHECK(a.credential_alg == kCoseEdDsa);
}

TEST_CASE("an enrolled key survives encode and decode", "[auth_messages]") {
  const auto decoded = decode_enrolled_key(encode(enrolled_key()));
  REQUIRE(decoded.has_value());
  CHECK(decoded->user == "alice");
  CHECK(decoded->key_id == "0001fffe");
  CHECK(decoded->aaguid == "6d44ba9bf6ec2e49b9300c8fe920cb73");
}

TEST_CASE("text fields keep any Unicode and JSON escapes", "[auth_messages]") {
  EnrolledKey key{"J\xc3\xbcrgen \"quoted\" \\ \n", "k", "a"};
  const auto decoded = decode_enrolled_key(encode(key));
  REQUIRE(decoded.has_value());
  CHECK(decoded->user == key.user);
}

// Refusals.

TEST_CASE("decoders refuse anything that is not a JSON object", "[auth_messages]") {
  const std::vector<std::string> bodies = {"",     "null", "[]",     "[{}]", "\"text\"", "42",  "true",
                                           "{",    "{\"", "{}}",    "{,}", "\xff\xfe", "{}x", "{\"a\":}",
                                           "\0{}"s};
  for (const Decoder& decoder : decoders()) {
    for (const std::string& body : bodies) {
      INFO(decoder.name << ": " << body);
      CHECK_FALSE(decoder.decodes(body));
    }
  }
}

TEST_CASE("decoders refuse a body with any required field missing", "[auth_messages]") {
  for (const Decoder& decoder : decoders()) {
    REQUIRE(decoder.decodes(decoder.valid_body));
    const json valid = json::parse(decoder.valid_body);
    for (const auto& [key, value] : valid.items()) {
      json body = valid;
      body.erase(key);
      INFO(decoder.name << " without " << key);
      CHECK(decoder.decodes(body.dump()) == optional_field(decoder.name, key));
    }
    CHECK_FALSE(decoder.decodes("{}"));
  }
}

TEST_CASE("decoders refuse a field of the wrong JSON type, optional ones too", "[auth_messages]") {
  for (const Decoder& decoder : decoders()) {
    const json valid = json::parse(decoder.valid_body);
    for (const auto& [key, value] : valid.items()) {
      for (const json& wrong : other_types(value)) {
        json body = valid;
        body[key] = wrong;
        INFO(decoder.name << " with " << key << " = " << wrong.dump());
        CHECK_FALSE(decoder.decodes(body.dump()));
      }
    }
  }
}

TEST_CASE("decoders refuse list items of the wrong type", "[auth_messages]") {
  json reply = json::parse(encode(challenge_reply()));
  reply["credential_ids"] = json::array({"AA", 1});
  CHECK_FALSE(decode_challenge_reply(reply.dump()).has_value());
  json certificate = json::parse(encode(login_certificate(), "ca"));
  certificate["roles"] = json::array({"Operator", nullptr});
  CHECK_FALSE(decode_certificate_reply(certificate.dump()).has_value());
  json enroll = json::parse(encode(enroll_request()));
  enroll["x5c"] = json::array({json::array()});
  CHECK_FALSE(decode_enroll_request(enroll.dump()).has_value());
}

TEST_CASE("decoders refuse bytes fields that are not strict base64url", "[auth_messages]") {
  const std::vector<std::string> bad = {"AA==", "AA=", "+/8", "a/8", "A", "AAAAA", "AB", "A A", "QUJD\n", "\xc3\xa9"};
  for (const char* key : {"credential_id", "client_data_json", "authenticator_data", "signature"}) {
    for (const std::string& value : bad) {
      json body = json::parse(encode(certificate_request()));
      body[key] = value;
      INFO(key << " = " << value);
      CHECK_FALSE(decode_certificate_request(body.dump()).has_value());
    }
  }
  for (const char* key : {"client_data_json", "authenticator_data", "signature"}) {
    json body = json::parse(encode(enroll_request()));
    body[key] = "AA==";
    INFO(key);
    CHECK_FALSE(decode_enroll_request(body.dump()).has_value());
  }
  json reply = json::parse(encode(challenge_reply()));
  reply["credential_ids"] = json::array({"AA", "+A"});
  CHECK_FALSE(decode_challenge_reply(reply.dump()).has_value());
  json enroll = json::parse(encode(enroll_request()));
  enroll["x5c"] = json::array({"MIIB", "A"});
  CHECK_FALSE(decode_enroll_request(enroll.dump()).has_value());
}

TEST_CASE("decoders take fields up to 16 KiB and refuse one byte more", "[auth_messages]") {
  for (const Decoder& decoder : decoders()) {
    const json valid = json::parse(decoder.valid_body);
    for (const auto& [key, value] : valid.items()) {
      if (!value.is_string() || key == "purpose") continue;  // purpose: one of three words
      // 'A' is valid base64url as well as text, so only the length decides.
      for (const std::size_t size : {kMaxField, kMaxField + 1}) {
        json body = valid;
        body[key] = std::string(size, 'A');
        INFO(decoder.name << " with " << key << " of " << size << " characters");
        CHECK(decoder.decodes(body.dump()) == (size <= kMaxField));
      }
    }
  }
}

TEST_CASE("decoders refuse byte list items over 16 KiB", "[auth_messages]") {
  // A decoded item of 16 KiB + 3 bytes, in 21848 base64url characters.
  const std::string big = base64url_encode(std::string(kMaxField + 3, 'x'));
  json reply = json::parse(encode(challenge_reply()));
  reply["credential_ids"] = json::array({big});
  CHECK_FALSE(decode_challenge_reply(reply.dump()).has_value());
  json enroll = json::parse(encode(enroll_request()));
  enroll["x5c"] = json::array({"MIIB", big});
  CHECK_FALSE(decode_enroll_request(enroll.dump()).has_value());
}

TEST_CASE("decoders take lists of 64 items and refuse 65", "[auth_messages]") {
  for (const std::size_t count : {kMaxList, kMaxList + 1}) {
    INFO(count << " items");
    const bool fits = count <= kMaxList;
    ChallengeReply reply = challenge_reply();
    reply.credential_ids.assign(count, "id");
    CHECK(decode_challenge_reply(encode(reply)).has_value() == fits);
    LoginCertificate issued = login_certificate();
    issued.roles.assign(count, "Operator");
    CHECK(decode_certificate_reply(encode(issued, "ca")).has_value() == fits);
    EnrollRequest request = enroll_request();
    request.attestation.x5c.assign(count, "cert");
    CHECK(decode_enroll_request(encode(request)).has_value() == fits);
  }
}

TEST_CASE("a challenge request with an unknown purpose is refused", "[auth_messages]") {
  for (const std::string& purpose : {""s, "Login"s, "LOGIN"s, "logout"s, "login "s, "enrol"s, "session\0"s}) {
    json body = json::parse(encode(challenge_request()));
    body["purpose"] = purpose;
    INFO(purpose);
    CHECK_FALSE(decode_challenge_request(body.dump()).has_value());
  }
}

TEST_CASE("integers must be JSON integers", "[auth_messages]") {
  json enroll = json::parse(encode(enroll_request()));
  enroll["credential_alg"] = -7.0;
  CHECK_FALSE(decode_enroll_request(enroll.dump()).has_value());
  json reply = json::parse(encode(login_certificate(), "ca"));
  reply["not_after"] = "1763028800";
  CHECK_FALSE(decode_certificate_reply(reply.dump()).has_value());
}

TEST_CASE("unknown fields are ignored", "[auth_messages]") {
  json body = json::parse(encode(enrolled_key()));
  body["comment"] = json::array({1, 2, 3});
  CHECK(decode_enrolled_key(body.dump()).has_value());
}

// Error bodies.

TEST_CASE("error_message reads the message of an error body and passes anything else through", "[auth_messages]") {
  const std::string body = encode_error("counter_regression", "the key's sign counter went backwards");
  CHECK(json::parse(body)["error"] == "counter_regression");
  CHECK(error_message(body) == "the key's sign counter went backwards");

  CHECK(error_message("502 Bad Gateway") == "502 Bad Gateway");
  CHECK(error_message("") == "");
  CHECK(error_message(R"({"error":"x"})") == R"({"error":"x"})");  // no message: shown as is
  CHECK(error_message(R"({"message":42})") == R"({"message":42})");
  CHECK(error_message(std::string(1000, 'x')) == std::string(200, 'x'));  // garbage is cut short
}

// base64url and hex.

TEST_CASE("base64url encodes the RFC 4648 test vectors without padding", "[auth_messages]") {
  struct Vector {
    const char* plain;
    const char* encoded;
  };
  // RFC 4648 §10, padding removed (§3.2, §5).
  const std::vector<Vector> vectors = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},      {"foo", "Zm9v"},
                                       {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const Vector& v : vectors) {
    INFO(v.plain);
    CHECK(base64url_encode(v.plain) == v.encoded);
    CHECK(base64url_decode(v.encoded) == std::optional<std::string>(v.plain));
  }
}

TEST_CASE("base64url uses - and _ where base64 uses + and /", "[auth_messages]") {
  CHECK(base64url_encode("\xfb\xff\xbf") == "-_-_");
  CHECK(base64url_decode("-_-_") == std::optional<std::string>("\xfb\xff\xbf"));
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte += static_cast<char>(i);
  CHECK(base64url_decode(base64url_encode(every_byte)) == std::optional<std::string>(every_byte));
}

TEST_CASE("base64url decoding is strict", "[auth_messages]") {
  const std::vector<std::string> refused = {
      "Zg==",      // padding
      "Zm8=",      // padding
      "Zg=",       // padding
      "+/8A",      // base64, not base64url
      "Zm9v/w",    // '/'
      "Z",         // length % 4 == 1
      "Zm9vY",     // length % 4 == 1
      "Zh",        // non-zero trailing bits ('h' = 33 = 100001)
      "Zm9",       // non-zero trailing bits ('9' = 61 = 111101)
      "Zm 9v",     // space
      "Zm9v\n",    // newline
      "Zm\0v"s,    // NUL
      "\xc3\xa9" "A",  // non-ASCII
  };
  for (const std::string& text : refused) {
    INFO(text);
    CHECK_FALSE(base64url_decode(text).has_value());
  }
}
