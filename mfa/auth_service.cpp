#include "mfa/auth_service.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>

#include "common/hex.hpp"
#include "mfa/client_data.hpp"

namespace conduit::mfa {

using common::hex_encode;

namespace {

std::string_view client_data_type(Purpose purpose) {
  switch (purpose) {
    case Purpose::login: return kLoginType;
    case Purpose::session: return kSessionType;
    case Purpose::enroll: return kEnrollType;
  }
  return kLoginType;
}

std::string sha256(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

std::string random_id() {
  unsigned char random[16];
  if (RAND_bytes(random, sizeof random) != 1) return {};
  return hex_encode(std::string_view(reinterpret_cast<const char*>(random), sizeof random));
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Same semantics as authz::RevocationList (which refuses the sessions themselves): a
// name, "prefix*", "*", or empty for every asset.
bool pattern_matches(std::string_view pattern, std::string_view asset) {
  if (pattern.empty() || pattern == "*") return true;
  if (pattern.size() > 1 && pattern.back() == '*') return asset.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == asset;
}

// A lockdown with no asset pattern stops logins of everyone (no role) or of its role; a
// per-session touch is refused up front for an asset a lockdown covers (no point touching).
bool locked_down(const std::vector<Lockdown>& lockdowns, const StoredUser& user, std::string_view asset) {
  return std::any_of(lockdowns.begin(), lockdowns.end(), [&](const Lockdown& lockdown) {
    bool role = lockdown.role.empty() || contains(user.roles, lockdown.role);
    bool applies = lockdown.asset_pattern.empty() || (!asset.empty() && pattern_matches(lockdown.asset_pattern, asset));
    return role && applies;
  });
}

}  // namespace

AuthService::AuthService(CredentialStore& store, const SiteCa& ca, AuthPolicy policy)
    : store_(store), ca_(ca), policy_(std::move(policy)), challenges_(policy_.challenge_ttl) {}

AuthResult<StoredUser> AuthService::check_user_on_device(const Peer& peer, std::string_view user_name,
                                                         std::string_view asset) {
  auto device = store_.find_device(peer.device);
  if (!device) return device.error() == StoreErrc::not_found ? AuthError::device_unknown : AuthError::internal;
  if (device->revoked) return AuthError::device_revoked;
  auto revocations = store_.revocations();
  if (!revocations) return AuthError::internal;
  for (const Revocation& revocation : *revocations) {
    if (revocation.kind == RevocationKind::certificate && revocation.id == peer.serial) {
      return AuthError::certificate_revoked;
    }
  }
  auto user = store_.find_user(user_name);
  if (!user) return user.error() == StoreErrc::not_found ? AuthError::user_unknown : AuthError::internal;
  if (user->disabled) return AuthError::user_disabled;
  if (!contains(device->users, user->name)) return AuthError::user_not_bound_to_device;
  auto lockdowns = store_.lockdowns();
  if (!lockdowns) return AuthError::internal;
  if (locked_down(*lockdowns, *user, asset)) return AuthError::locked_down;
  return *user;
}

AuthResult<ChallengeReply> AuthService::challenge(const Peer& peer, const ChallengeRequest& request,
                                                  ChallengeStore::Clock::time_point now, std::int64_t unix_now) {
  std::string user_name = request.user;
  if (request.purpose == Purpose::enroll) {
    // The code is spent here: a failed touch needs a new code from the admin.
    auto redeemed = store_.redeem_enrollment_code(sha256(request.enrollment_code), unix_now);
    if (!redeemed) return AuthError::enrollment_code_invalid;
    user_name = *redeemed;
  }
  if (request.purpose == Purpose::session && request.asset.empty()) return AuthError::request_invalid;
  auto user = check_user_on_device(peer, user_name, request.asset);
  if (!user) return user.error();
  auto credentials = store_.credentials_of(user->name);
  if (!credentials) return AuthError::internal;

  ChallengeReply reply;
  reply.rp_id = policy_.rp_id;
  reply.user = user->name;
  reply.user_verification = policy_.require_user_verification;
  for (const StoredCredential& credential : *credentials) {
    // Enrollment excludes every key the user has; a login offers only the usable ones.
    if (request.purpose == Purpose::enroll || !credential.revoked) reply.credential_ids.push_back(credential.id);
  }
  if (request.purpose != Purpose::enroll && reply.credential_ids.empty()) {
    return credentials->empty() ? AuthError::no_credentials : AuthError::credential_revoked;
  }
  auto challenge = challenges_.issue({request.purpose, peer.device, user->name, request.asset, {}}, now);
  if (!challenge) return challenge.error();
  reply.challenge = std::move(*challenge);
  return reply;
}

AuthResult<LoginCertificate> AuthService::certificate(const Peer& peer, const CertificateRequest& request,
                                                      Purpose purpose, ChallengeStore::Clock::time_point now,
                                                      std::int64_t unix_now) {
  if (purpose == Purpose::enroll) return AuthError::request_invalid;  // enroll() answers those
  auto challenge = challenges_.take(request.challenge, peer.device, purpose, now);
  if (!challenge) return challenge.error();
  auto user = check_user_on_device(peer, challenge->user, challenge->asset);
  if (!user) return user.error();
  auto credential = store_.find_credential(request.credential_id);
  if (!credential || credential->user != user->name) return AuthError::credential_unknown;
  if (credential->revoked) return AuthError::credential_revoked;

  auto client_data = parse_client_data(request.assertion.client_data_json);
  std::string key_digest = csr_key_digest(request.csr_pem);
  if (key_digest.empty()) return AuthError::request_invalid;
  if (!client_data || client_data->type != client_data_type(purpose) || client_data->challenge != request.challenge ||
      client_data->rp_id != policy_.rp_id || client_data->key != key_digest || client_data->asset != challenge->asset) {
    return AuthError::client_data_invalid;
  }
  auto verified = verify_assertion(request.assertion, policy_.rp_id, credential->cose_alg, credential->public_key,
                                   policy_.require_user_verification);
  if (!verified) return verified.error();
  if (!counter_ok(credential->sign_count, verified->sign_count)) return AuthError::counter_regression;
  // Compare-and-set: two logins racing with copies of one key cannot both advance it.
  auto advanced = store_.update_sign_count(credential->id, credential->sign_count, verified->sign_count, unix_now);
  if (!advanced) return AuthError::internal;
  if (!*advanced) return AuthError::counter_regression;

  LoginCertificateSpec spec;
  spec.device_id = peer.device;
  spec.user = user->name;
  spec.roles = user->roles;
  spec.key_id = hex_encode(credential->id);
  std::string assertion_id = random_id();
  if (assertion_id.empty()) return AuthError::internal;
  if (purpose == Purpose::session) {
    spec.asset = challenge->asset;
    spec.assertion = assertion_id;
  }
  if (policy_.modbus_role_extension && user->roles.size() == 1) spec.modbus_role = user->roles.front();
  spec.validity = purpose == Purpose::session ? policy_.session_certificate_ttl : policy_.certificate_ttl;
  LoginCertificate issued;
  try {
    issued.certificate_pem = ca_.issue_login(spec, request.csr_pem);
  } catch (const PkiError&) {
    return AuthError::request_invalid;
  }
  issued.user = user->name;
  issued.roles = user->roles;
  issued.key_id = spec.key_id;
  issued.assertion_id = std::move(assertion_id);
  issued.not_after = unix_now + spec.validity.count();
  return issued;
}

AuthResult<EnrolledKey> AuthService::enroll(const Peer& peer, const EnrollRequest& request,
                                            ChallengeStore::Clock::time_point now, std::int64_t unix_now) {
  auto challenge = challenges_.take(request.challenge, peer.device, Purpose::enroll, now);
  if (!challenge) return challenge.error();
  auto user = check_user_on_device(peer, challenge->user, "");
  if (!user) return user.error();
  auto client_data = parse_client_data(request.attestation.client_data_json);
  if (!client_data || client_data->type != kEnrollType || client_data->challenge != request.challenge ||
      client_data->rp_id != policy_.rp_id) {
    return AuthError::client_data_invalid;
  }
  RegistrationPolicy registration{policy_.rp_id, policy_.require_user_verification, policy_.aaguids,
                                  policy_.attestation_roots_pem};
  auto verified = verify_attestation(request.attestation, registration);
  if (!verified) return verified.error();
  StoredCredential credential;
  credential.id = verified->id;
  credential.user = user->name;
  credential.cose_alg = verified->cose_alg;
  credential.public_key = verified->public_key;
  credential.sign_count = verified->sign_count;
  credential.aaguid = verified->aaguid;
  credential.created = unix_now;
  auto added = store_.add_credential(credential);
  if (!added) return added.error() == StoreErrc::already_exists ? AuthError::credential_exists : AuthError::internal;
  return EnrolledKey{user->name, hex_encode(credential.id), hex_encode(credential.aaguid)};
}

}  // namespace conduit::mfa
