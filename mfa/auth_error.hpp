// Why a FIDO2 ceremony (login, per-session touch, key enrollment) was refused. The
// message of each code is what the client is told and what the audit event records: it
// says what failed without echoing any secret (no challenge, assertion or key bytes).
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string_view>

namespace conduit::mfa {

enum class AuthError {
  challenge_unknown = 1,     // never issued, or already used (single use)
  challenge_expired,
  challenge_other_device,    // issued to another device certificate
  challenge_other_purpose,   // a login challenge used for enrollment, etc.
  client_data_invalid,       // not the JSON we expect, or its fields do not match
  rp_id_mismatch,            // authenticator data names another relying party
  user_presence_missing,
  user_verification_missing,
  signature_invalid,
  counter_regression,        // sign counter did not increase: possibly a cloned key
  credential_unknown,
  credential_revoked,
  credential_exists,
  user_unknown,
  user_disabled,
  device_unknown,
  device_revoked,
  certificate_revoked,
  user_not_bound_to_device,
  no_credentials,            // the user has no enrolled key
  attestation_invalid,
  attestation_untrusted,     // attestation certificate not from a configured root
  aaguid_not_allowed,
  algorithm_unsupported,
  enrollment_code_invalid,   // unknown, used or expired
  request_invalid,           // malformed request fields
  asset_unknown,
  locked_down,
  internal,
};

const boost::system::error_category& auth_error_category() noexcept;

// The enumerator's name ("counter_regression"): the stable "error" field of API replies.
std::string_view auth_error_name(AuthError error) noexcept;

inline boost::system::error_code make_error_code(AuthError e) noexcept {
  return {static_cast<int>(e), auth_error_category()};
}

template <typename T>
using AuthResult = boost::system::result<T>;

}  // namespace conduit::mfa

namespace boost::system {
template <>
struct is_error_code_enum<conduit::mfa::AuthError> : std::true_type {};
}  // namespace boost::system
