// The auth API's wire format: JSON bodies of the HTTPS requests between `conduit login` /
// `conduit tunnel` and the gateway (proxy/AUTH_API.md). Byte strings travel as base64url.
// Decoders take untrusted bytes: they return nullopt for anything that is not exactly the
// expected shape (wrong types, bad base64url, oversized fields), never throw, and are fuzzed
// (tests/fuzz/auth_messages_fuzz.cpp). Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mfa/auth_service.hpp"

namespace conduit::mfa {

std::string encode(const ChallengeRequest& request);
std::optional<ChallengeRequest> decode_challenge_request(std::string_view body);

std::string encode(const ChallengeReply& reply);
std::optional<ChallengeReply> decode_challenge_reply(std::string_view body);

std::string encode(const CertificateRequest& request);
std::optional<CertificateRequest> decode_certificate_request(std::string_view body);

// The reply carries the site CA too, so a client can verify the gateway next time.
std::string encode(const LoginCertificate& issued, std::string_view ca_pem);
struct CertificateReply {
  LoginCertificate issued;
  std::string ca_pem;
};
std::optional<CertificateReply> decode_certificate_reply(std::string_view body);

std::string encode(const EnrollRequest& request);
std::optional<EnrollRequest> decode_enroll_request(std::string_view body);

std::string encode(const EnrolledKey& key);
std::optional<EnrolledKey> decode_enrolled_key(std::string_view body);

// {"error": "<code name>", "message": "<text>"}; the message is the AuthError's.
std::string encode_error(std::string_view code, std::string_view message);
// The message of an error body, or the body itself if it is not one.
std::string error_message(std::string_view body);

}  // namespace conduit::mfa
