#include "mfa/auth_messages.hpp"

#include <cstdint>

#include <nlohmann/json.hpp>

#include "mfa/base64url.hpp"

namespace conduit::mfa {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxField = 16 * 1024;  // CSRs and attestation certificates fit easily
constexpr std::size_t kMaxList = 64;

// Reads fields of one JSON object; any mismatch makes ok() false and stays false.
class Fields {
 public:
  explicit Fields(std::string_view body) : root_(json::parse(body, nullptr, false)), ok_(root_.is_object()) {}

  bool ok() const { return ok_; }

  std::string text(const char* key, bool required = true) {
    const json* value = find(key, required);
    if (!value) return {};
    if (!value->is_string() || value->get_ref<const std::string&>().size() > kMaxField) return fail();
    return value->get<std::string>();
  }

  std::string bytes(const char* key, bool required = true) {
    std::string encoded = text(key, required);
    auto decoded = base64url_decode(encoded);
    if (!decoded) return fail();
    return *decoded;
  }

  std::vector<std::string> byte_list(const char* key) {
    std::vector<std::string> out;
    const json* value = find(key, true);
    if (!value) return out;
    if (!value->is_array() || value->size() > kMaxList) return fail(), out;
    for (const json& item : *value) {
      auto decoded = item.is_string() ? base64url_decode(item.get_ref<const std::string&>()) : std::nullopt;
      if (!decoded || decoded->size() > kMaxField) return fail(), out;
      out.push_back(std::move(*decoded));
    }
    return out;
  }

  std::vector<std::string> text_list(const char* key) {
    std::vector<std::string> out;
    const json* value = find(key, true);
    if (!value) return out;
    if (!value->is_array() || value->size() > kMaxList) return fail(), out;
    for (const json& item : *value) {
      if (!item.is_string() || item.get_ref<const std::string&>().size() > kMaxField) return fail(), out;
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  // Integers outside [min, max] fail rather than wrap (4294967289 is not -7).
  std::int64_t integer(const char* key, std::int64_t min = INT64_MIN, std::int64_t max = INT64_MAX) {
    const json* value = find(key, true);
    if (!value) return 0;
    if (!value->is_number_integer()) return fail(), 0;
    if (value->is_number_unsigned() && value->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      return fail(), 0;
    }
    std::int64_t number = value->get<std::int64_t>();
    if (number < min || number > max) return fail(), 0;
    return number;
  }

  bool boolean(const char* key) {
    const json* value = find(key, true);
    if (!value) return false;
    if (!value->is_boolean()) return fail(), false;
    return value->get<bool>();
  }

 private:
  const json* find(const char* key, bool required) {
    if (!ok_) return nullptr;
    auto it = root_.find(key);
    if (it == root_.end()) {
      if (required) fail();
      return nullptr;
    }
    return &*it;
  }
  std::string fail() {
    ok_ = false;
    return {};
  }

  json root_;
  bool ok_;
};

json encoded_list(const std::vector<std::string>& items) {
  json list = json::array();
  for (const std::string& item : items) list.push_back(base64url_encode(item));
  return list;
}

std::optional<Purpose> purpose_from(std::string_view text) {
  if (text == "login") return Purpose::login;
  if (text == "session") return Purpose::session;
  if (text == "enroll") return Purpose::enroll;
  return std::nullopt;
}

}  // namespace

std::string encode(const ChallengeRequest& request) {
  return json{{"purpose", to_string(request.purpose)}, {"user", request.user}, {"asset", request.asset},
              {"enrollment_code", request.enrollment_code}}
      .dump();
}

std::optional<ChallengeRequest> decode_challenge_request(std::string_view body) {
  Fields fields(body);
  ChallengeRequest request;
  auto purpose = purpose_from(fields.text("purpose"));
  request.user = fields.text("user", false);
  request.asset = fields.text("asset", false);
  request.enrollment_code = fields.text("enrollment_code", false);
  if (!fields.ok() || !purpose) return std::nullopt;
  request.purpose = *purpose;
  return request;
}

std::string encode(const ChallengeReply& reply) {
  return json{{"challenge", reply.challenge}, {"rp_id", reply.rp_id}, {"user", reply.user},
              {"credential_ids", encoded_list(reply.credential_ids)}, {"user_verification", reply.user_verification}}
      .dump();
}

std::optional<ChallengeReply> decode_challenge_reply(std::string_view body) {
  Fields fields(body);
  ChallengeReply reply;
  reply.challenge = fields.text("challenge");
  reply.rp_id = fields.text("rp_id");
  reply.user = fields.text("user");
  reply.credential_ids = fields.byte_list("credential_ids");
  reply.user_verification = fields.boolean("user_verification");
  if (!fields.ok()) return std::nullopt;
  return reply;
}

std::string encode(const CertificateRequest& request) {
  return json{{"challenge", request.challenge},
              {"credential_id", base64url_encode(request.credential_id)},
              {"client_data_json", base64url_encode(request.assertion.client_data_json)},
              {"authenticator_data", base64url_encode(request.assertion.authenticator_data)},
              {"signature", base64url_encode(request.assertion.signature)},
              {"csr", request.csr_pem}}
      .dump();
}

std::optional<CertificateRequest> decode_certificate_request(std::string_view body) {
  Fields fields(body);
  CertificateRequest request;
  request.challenge = fields.text("challenge");
  request.credential_id = fields.bytes("credential_id");
  request.assertion.client_data_json = fields.bytes("client_data_json");
  request.assertion.authenticator_data = fields.bytes("authenticator_data");
  request.assertion.signature = fields.bytes("signature");
  request.csr_pem = fields.text("csr");
  if (!fields.ok()) return std::nullopt;
  return request;
}

std::string encode(const LoginCertificate& issued, std::string_view ca_pem) {
  return json{{"certificate", issued.certificate_pem}, {"ca", ca_pem},          {"user", issued.user},
              {"roles", issued.roles},                 {"key_id", issued.key_id}, {"assertion_id", issued.assertion_id},
              {"not_after", issued.not_after}}
      .dump();
}

std::optional<CertificateReply> decode_certificate_reply(std::string_view body) {
  Fields fields(body);
  CertificateReply reply;
  reply.issued.certificate_pem = fields.text("certificate");
  reply.ca_pem = fields.text("ca");
  reply.issued.user = fields.text("user");
  reply.issued.roles = fields.text_list("roles");
  reply.issued.key_id = fields.text("key_id");
  reply.issued.assertion_id = fields.text("assertion_id");
  reply.issued.not_after = fields.integer("not_after");
  if (!fields.ok()) return std::nullopt;
  return reply;
}

std::string encode(const EnrollRequest& request) {
  const Attestation& a = request.attestation;
  return json{{"challenge", request.challenge},
              {"client_data_json", base64url_encode(a.client_data_json)},
              {"authenticator_data", base64url_encode(a.authenticator_data)},
              {"format", a.format},
              {"attestation_alg", a.attestation_alg},
              {"signature", base64url_encode(a.signature)},
              {"x5c", encoded_list(a.x5c)},
              {"credential_alg", a.credential_alg}}
      .dump();
}

std::optional<EnrollRequest> decode_enroll_request(std::string_view body) {
  Fields fields(body);
  EnrollRequest request;
  Attestation& a = request.attestation;
  request.challenge = fields.text("challenge");
  a.client_data_json = fields.bytes("client_data_json");
  a.authenticator_data = fields.bytes("authenticator_data");
  a.format = fields.text("format");
  a.attestation_alg = static_cast<int>(fields.integer("attestation_alg", INT32_MIN, INT32_MAX));
  a.signature = fields.bytes("signature");
  a.x5c = fields.byte_list("x5c");
  a.credential_alg = static_cast<int>(fields.integer("credential_alg", INT32_MIN, INT32_MAX));
  if (!fields.ok()) return std::nullopt;
  return request;
}

std::string encode(const EnrolledKey& key) {
  return json{{"user", key.user}, {"key_id", key.key_id}, {"aaguid", key.aaguid}}.dump();
}

std::optional<EnrolledKey> decode_enrolled_key(std::string_view body) {
  Fields fields(body);
  EnrolledKey key;
  key.user = fields.text("user");
  key.key_id = fields.text("key_id");
  key.aaguid = fields.text("aaguid");
  if (!fields.ok()) return std::nullopt;
  return key;
}

std::string encode_error(std::string_view code, std::string_view message) {
  return json{{"error", code}, {"message", message}}.dump();
}

std::string error_message(std::string_view body) {
  Fields fields(body);
  std::string message = fields.text("message");
  return fields.ok() ? message : std::string(body.substr(0, 200));
}

}  // namespace conduit::mfa
