#include "mfa/challenges.hpp"

#include <openssl/rand.h>

#include "mfa/base64url.hpp"

namespace conduit::mfa {

std::string_view to_string(Purpose purpose) {
  switch (purpose) {
    case Purpose::login: return "login";
    case Purpose::session: return "session";
    case Purpose::enroll: return "enroll";
  }
  return "login";
}

AuthResult<std::string> ChallengeStore::issue(Challenge challenge, Clock::time_point now) {
  if (live_.size() >= capacity_) drop_expired(now);
  if (live_.size() >= capacity_) return AuthError::internal;
  unsigned char random[32];
  if (RAND_bytes(random, sizeof random) != 1) return AuthError::internal;
  std::string value = base64url_encode(std::string_view(reinterpret_cast<const char*>(random), sizeof random));
  challenge.expires = now + ttl_;
  live_.emplace(value, std::move(challenge));
  return value;
}

AuthResult<Challenge> ChallengeStore::take(std::string_view value, std::string_view device, Purpose purpose,
                                           Clock::time_point now) {
  auto found = live_.find(std::string(value));
  if (found == live_.end()) return AuthError::challenge_unknown;
  Challenge challenge = std::move(found->second);
  live_.erase(found);
  if (now >= challenge.expires) return AuthError::challenge_expired;
  if (challenge.device != device) return AuthError::challenge_other_device;
  if (challenge.purpose != purpose) return AuthError::challenge_other_purpose;
  return challenge;
}

void ChallengeStore::drop_expired(Clock::time_point now) {
  std::erase_if(live_, [now](const auto& entry) { return now >= entry.second.expires; });
}

}  // namespace conduit::mfa
