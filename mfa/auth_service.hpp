// The gateway's side of the FIDO2 ceremonies, without any networking: the auth API
// (proxy/control/auth_server.cpp) hands it the peer's device certificate identity and the decoded
// request, and gets back a challenge, a certificate or a refusal (mfa/auth_error.hpp).
//
//   challenge(login|session|enroll)  -> single-use challenge bound to the device, 60 s
//   certificate(login|session)       -> assertion verified (libfido2), counter checked and
//                                       advanced, short-lived certificate issued for the CSR
//   enroll                           -> attestation verified, AAGUID allowed, key stored
//
// Every refusal is an AuthError whose message is safe to show the client. Times are passed
// in (steady for challenges, unix seconds for the store). Not thread-safe: the auth thread
// owns it, its store connection and its challenges.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "mfa/auth_error.hpp"
#include "mfa/challenges.hpp"
#include "mfa/credential_store.hpp"
#include "mfa/fido_verify.hpp"
#include "mfa/site_ca.hpp"

namespace conduit::mfa {

struct AuthPolicy {
  std::string rp_id;
  std::chrono::seconds certificate_ttl{8 * 3600};
  std::chrono::seconds session_certificate_ttl{60};
  std::chrono::seconds challenge_ttl{60};
  bool require_user_verification = false;
  std::vector<std::string> aaguids;      // lower hex
  std::string attestation_roots_pem;
  bool modbus_role_extension = true;
};

// Who is asking: from the verified client certificate of the HTTPS connection.
struct Peer {
  std::string device;
  std::string serial;
};

struct ChallengeRequest {
  Purpose purpose = Purpose::login;
  std::string user;             // login, session
  std::string asset;            // session
  std::string enrollment_code;  // enroll: the one-time code (spent here)
};

struct ChallengeReply {
  std::string challenge;                    // base64url
  std::string rp_id;
  std::string user;
  std::vector<std::string> credential_ids;  // raw: allow list (login, session) or exclude list (enroll)
  bool user_verification = false;
};

struct CertificateRequest {
  std::string challenge;
  std::string credential_id;  // raw
  Assertion assertion;
  std::string csr_pem;        // key pair made on the device
};

struct LoginCertificate {
  std::string certificate_pem;
  std::string user;
  std::vector<std::string> roles;
  std::string key_id;        // hex credential id
  std::string assertion_id;  // random, names this touch in logs and the certificate
  std::int64_t not_after = 0;
};

struct EnrollRequest {
  std::string challenge;
  Attestation attestation;
};

struct EnrolledKey {
  std::string user;
  std::string key_id;
  std::string aaguid;  // hex
};

class AuthService {
 public:
  AuthService(CredentialStore& store, const SiteCa& ca, AuthPolicy policy);

  AuthResult<ChallengeReply> challenge(const Peer& peer, const ChallengeRequest& request,
                                       ChallengeStore::Clock::time_point now, std::int64_t unix_now);
  // purpose: login or session (the challenge must have been issued for it).
  AuthResult<LoginCertificate> certificate(const Peer& peer, const CertificateRequest& request, Purpose purpose,
                                             ChallengeStore::Clock::time_point now, std::int64_t unix_now);
  AuthResult<EnrolledKey> enroll(const Peer& peer, const EnrollRequest& request,
                                 ChallengeStore::Clock::time_point now, std::int64_t unix_now);

  const AuthPolicy& policy() const { return policy_; }

 private:
  // Device enrolled and not revoked, calling certificate not revoked, user enabled and
  // bound to the device, no lockdown for the user (and `asset`, for a per-session touch).
  AuthResult<StoredUser> check_user_on_device(const Peer& peer, std::string_view user, std::string_view asset);

  CredentialStore& store_;
  const SiteCa& ca_;
  AuthPolicy policy_;
  ChallengeStore challenges_;
};

}  // namespace conduit::mfa
