#include "mfa/auth_error.hpp"

namespace conduit::mfa {
namespace {

class AuthErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "conduit.auth"; }
  std::string message(int value) const override {
    switch (static_cast<AuthError>(value)) {
      case AuthError::challenge_unknown: return "unknown or already used challenge";
      case AuthError::challenge_expired: return "challenge expired; start again";
      case AuthError::challenge_other_device: return "challenge was issued to another device";
      case AuthError::challenge_other_purpose: return "challenge was issued for another purpose";
      case AuthError::client_data_invalid: return "client data does not match the challenge";
      case AuthError::rp_id_mismatch: return "the key signed for another relying party (rp id)";
      case AuthError::user_presence_missing: return "the key did not confirm user presence (touch)";
      case AuthError::user_verification_missing: return "user verification (PIN) is required";
      case AuthError::signature_invalid: return "the assertion signature does not verify";
      case AuthError::counter_regression: return "the key's sign counter went backwards: possibly a cloned key";
      case AuthError::credential_unknown: return "unknown credential (key not enrolled for this user)";
      case AuthError::credential_revoked: return "the key is revoked";
      case AuthError::credential_exists: return "the key is already enrolled";
      case AuthError::user_unknown: return "unknown user";
      case AuthError::user_disabled: return "the user is revoked or disabled";
      case AuthError::device_unknown: return "this device is not enrolled";
      case AuthError::device_revoked: return "this device is revoked";
      case AuthError::certificate_revoked: return "this certificate is revoked";
      case AuthError::user_not_bound_to_device: return "the user is not bound to this device";
      case AuthError::no_credentials: return "the user has no enrolled key";
      case AuthError::attestation_invalid: return "the key's attestation does not verify";
      case AuthError::attestation_untrusted: return "the key's attestation certificate is not from a trusted maker";
      case AuthError::aaguid_not_allowed: return "this key model (AAGUID) is not on the allow-list";
      case AuthError::algorithm_unsupported: return "unsupported key algorithm (ES256 or EdDSA)";
      case AuthError::enrollment_code_invalid: return "enrollment code unknown, used or expired";
      case AuthError::request_invalid: return "malformed request";
      case AuthError::asset_unknown: return "unknown asset";
      case AuthError::locked_down: return "access is locked down";
      case AuthError::internal: return "internal error on the gateway";
    }
    return "authentication refused";
  }
};

}  // namespace

std::string_view auth_error_name(AuthError error) noexcept {
  switch (error) {
    case AuthError::challenge_unknown: return "challenge_unknown";
    case AuthError::challenge_expired: return "challenge_expired";
    case AuthError::challenge_other_device: return "challenge_other_device";
    case AuthError::challenge_other_purpose: return "challenge_other_purpose";
    case AuthError::client_data_invalid: return "client_data_invalid";
    case AuthError::rp_id_mismatch: return "rp_id_mismatch";
    case AuthError::user_presence_missing: return "user_presence_missing";
    case AuthError::user_verification_missing: return "user_verification_missing";
    case AuthError::signature_invalid: return "signature_invalid";
    case AuthError::counter_regression: return "counter_regression";
    case AuthError::credential_unknown: return "credential_unknown";
    case AuthError::credential_revoked: return "credential_revoked";
    case AuthError::credential_exists: return "credential_exists";
    case AuthError::user_unknown: return "user_unknown";
    case AuthError::user_disabled: return "user_disabled";
    case AuthError::device_unknown: return "device_unknown";
    case AuthError::device_revoked: return "device_revoked";
    case AuthError::certificate_revoked: return "certificate_revoked";
    case AuthError::user_not_bound_to_device: return "user_not_bound_to_device";
    case AuthError::no_credentials: return "no_credentials";
    case AuthError::attestation_invalid: return "attestation_invalid";
    case AuthError::attestation_untrusted: return "attestation_untrusted";
    case AuthError::aaguid_not_allowed: return "aaguid_not_allowed";
    case AuthError::algorithm_unsupported: return "algorithm_unsupported";
    case AuthError::enrollment_code_invalid: return "enrollment_code_invalid";
    case AuthError::request_invalid: return "request_invalid";
    case AuthError::asset_unknown: return "asset_unknown";
    case AuthError::locked_down: return "locked_down";
    case AuthError::internal: return "internal";
  }
  return "refused";
}

const boost::system::error_category& auth_error_category() noexcept {
  static const AuthErrorCategory category;
  return category;
}

}  // namespace conduit::mfa
