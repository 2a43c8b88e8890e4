// Single-use FIDO2 challenges: 32 random bytes, bound to the device certificate that asked
// for it, to a purpose and a user (and, for a per-session touch, an asset), expiring after
// a TTL. take() removes the challenge whatever the outcome, so a challenge can be tried
// once: a replay finds nothing. The clock is passed in (tests use a fake one).
// Not thread-safe: the auth thread owns it.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mfa/auth_error.hpp"

namespace conduit::mfa {

enum class Purpose { login, session, enroll };
std::string_view to_string(Purpose purpose);

struct Challenge {
  Purpose purpose = Purpose::login;
  std::string device;  // CN of the certificate that asked
  std::string user;
  std::string asset;   // Purpose::session only
  std::chrono::steady_clock::time_point expires{};
};

class ChallengeStore {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ChallengeStore(std::chrono::seconds ttl, std::size_t capacity = 4096) : ttl_(ttl), capacity_(capacity) {}

  // Returns the challenge as base64url. Full of live challenges (a flood): an error
  // rather than unbounded memory.
  AuthResult<std::string> issue(Challenge challenge, Clock::time_point now);

  // Removes the challenge and checks it was issued to `device` for `purpose` and has not
  // expired.
  AuthResult<Challenge> take(std::string_view value, std::string_view device, Purpose purpose,
                             Clock::time_point now);

  std::size_t size() const { return live_.size(); }

 private:
  void drop_expired(Clock::time_point now);

  std::chrono::seconds ttl_;
  std::size_t capacity_;
  std::unordered_map<std::string, Challenge> live_;
};

}  // namespace conduit::mfa
