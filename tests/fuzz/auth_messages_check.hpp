// The property the auth API message fuzzer checks, shared with the corpus replay unit test
// so that CI runs exactly what the fuzzer runs
// (tests/unit/mfa/auth_messages_corpus_replay_test.cpp).
//
// For any bytes, given as the body to every decoder of mfa/auth_messages.hpp:
//  - no decoder throws (a throw is a failed check, not a crash of the harness);
//  - whatever decodes keeps the limits the decoders promise: text fields of at most
//    16 KiB, base64url fields whose decoding fits in 16 KiB, byte lists of at most 64
//    items of at most 16 KiB, role lists of at most 64 items;
//  - it re-encodes without throwing, and the encoding decodes to an equal value
//    (field by field, bytes compared exactly), whose own encoding is the same bytes:
//    one value, one body;
//  - error_message() returns without throwing, and says no more than a field or 200 bytes.
// ASan/UBSan watch for over-reads and undefined behaviour on the way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mfa/auth_messages.hpp"

namespace conduit::fuzz {

namespace auth_detail {

using namespace conduit::mfa;

inline constexpr std::size_t kMaxField = 16 * 1024;
inline constexpr std::size_t kMaxList = 64;

inline bool same(const ChallengeRequest& a, const ChallengeRequest& b) {
  return a.purpose == b.purpose && a.user == b.user && a.asset == b.asset && a.enrollment_code == b.enrollment_code;
}

inline bool same(const ChallengeReply& a, const ChallengeReply& b) {
  return a.challenge == b.challenge && a.rp_id == b.rp_id && a.user == b.user && a.credential_ids == b.credential_ids &&
         a.user_verification == b.user_verification;
}

inline bool same(const Assertion& a, const Assertion& b) {
  return a.client_data_json == b.client_data_json && a.authenticator_data == b.authenticator_data &&
         a.signature == b.signature;
}

inline bool same(const CertificateRequest& a, const CertificateRequest& b) {
  return a.challenge == b.challenge && a.credential_id == b.credential_id && same(a.assertion, b.assertion) &&
         a.csr_pem == b.csr_pem;
}

inline bool same(const LoginCertificate& a, const LoginCertificate& b) {
  return a.certificate_pem == b.certificate_pem && a.user == b.user && a.roles == b.roles && a.key_id == b.key_id &&
         a.assertion_id == b.assertion_id && a.not_after == b.not_after;
}

inline bool same(const CertificateReply& a, const CertificateReply& b) {
  return same(a.issued, b.issued) && a.ca_pem == b.ca_pem;
}

inline bool same(const Attestation& a, const Attestation& b) {
  return a.client_data_json == b.client_data_json && a.authenticator_data == b.authenticator_data &&
         a.format == b.format && a.attestation_alg == b.attestation_alg && a.signature == b.signature &&
         a.x5c == b.x5c && a.credential_alg == b.credential_alg;
}

inline bool same(const EnrollRequest& a, const EnrollRequest& b) {
  return a.challenge == b.challenge && same(a.attestation, b.attestation);
}

inline bool same(const EnrolledKey& a, const EnrolledKey& b) {
  return a.user == b.user && a.key_id == b.key_id && a.aaguid == b.aaguid;
}

// The decoded size of a base64url field of at most kMaxField characters.
inline constexpr std::size_t kMaxDecodedField = kMaxField / 4 * 3;

inline bool text_ok(const std::string& text) { return text.size() <= kMaxField; }
inline bool bytes_ok(const std::string& bytes) { return bytes.size() <= kMaxDecodedField; }
inline bool byte_list_ok(const std::vector<std::string>& list) {
  if (list.size() > kMaxList) return false;
  for (const std::string& item : list) {
    if (item.size() > kMaxField) return false;
  }
  return true;
}

inline bool within_limits(const ChallengeRequest& m) {
  return text_ok(m.user) && text_ok(m.asset) && text_ok(m.enrollment_code);
}
inline bool within_limits(const ChallengeReply& m) {
  return text_ok(m.challenge) && text_ok(m.rp_id) && text_ok(m.user) && byte_list_ok(m.credential_ids);
}
inline bool within_limits(const CertificateRequest& m) {
  return text_ok(m.challenge) && bytes_ok(m.credential_id) && bytes_ok(m.assertion.client_data_json) &&
         bytes_ok(m.assertion.authenticator_data) && bytes_ok(m.assertion.signature) && text_ok(m.csr_pem);
}
inline bool within_limits(const CertificateReply& m) {
  // Role names are not capped per item by decode_certificate_reply (only the list is).
  return text_ok(m.issued.certificate_pem) && text_ok(m.ca_pem) && text_ok(m.issued.user) &&
         m.issued.roles.size() <= kMaxList && text_ok(m.issued.key_id) && text_ok(m.issued.assertion_id);
}
inline bool within_limits(const EnrollRequest& m) {
  const Attestation& a = m.attestation;
  return text_ok(m.challenge) && bytes_ok(a.client_data_json) && bytes_ok(a.authenticator_data) &&
         text_ok(a.format) && bytes_ok(a.signature) && byte_list_ok(a.x5c);
}
inline bool within_limits(const EnrolledKey& m) { return text_ok(m.user) && text_ok(m.key_id) && text_ok(m.aaguid); }

inline std::string encoded(const ChallengeRequest& m) { return encode(m); }
inline std::string encoded(const ChallengeReply& m) { return encode(m); }
inline std::string encoded(const CertificateRequest& m) { return encode(m); }
inline std::string encoded(const CertificateReply& m) { return encode(m.issued, m.ca_pem); }
inline std::string encoded(const EnrollRequest& m) { return encode(m); }
inline std::string encoded(const EnrolledKey& m) { return encode(m); }

// decode(body) -> first; encode(first) -> body1; decode(body1) -> second == first;
// encode(second) == body1.
template <typename Message, typename Decode>
bool round_trips(std::string_view body, Decode decode) {
  const std::optional<Message> first = decode(body);
  if (!first) return true;
  if (!within_limits(*first)) return false;
  const std::string body1 = encoded(*first);
  const std::optional<Message> second = decode(body1);
  if (!second || !same(*first, *second)) return false;
  return encoded(*second) == body1;
}

inline bool check_body(std::string_view body) {
  if (!round_trips<ChallengeRequest>(body, decode_challenge_request)) return false;
  if (!round_trips<ChallengeReply>(body, decode_challenge_reply)) return false;
  if (!round_trips<CertificateRequest>(body, decode_certificate_request)) return false;
  if (!round_trips<CertificateReply>(body, decode_certificate_reply)) return false;
  if (!round_trips<EnrollRequest>(body, decode_enroll_request)) return false;
  if (!round_trips<EnrolledKey>(body, decode_enrolled_key)) return false;
  // Either the message field of an error body, or the first 200 bytes of anything else.
  const std::string message = error_message(body);
  const bool from_field = message.size() <= kMaxField && message.size() < body.size();
  return from_field || message == body.substr(0, 200);
}

}  // namespace auth_detail

// True when every property above holds for `input`.
inline bool check_auth_messages(std::span<const std::uint8_t> input) noexcept {
  const std::string_view body(reinterpret_cast<const char*>(input.data()), input.size());
  try {
    return auth_detail::check_body(body);
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace conduit::fuzz
