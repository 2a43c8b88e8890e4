// Single-use challenges (mfa/challenges.hpp) on a fake clock: time points are built from
// an arbitrary epoch, never read from steady_clock, so expiry is tested to the tick.
#include "mfa/challenges.hpp"

#include <chrono>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "mfa/base64url.hpp"

namespace {

using namespace conduit::mfa;
using namespace std::chrono_literals;
using Clock = ChallengeStore::Clock;

const Clock::time_point kT0 = Clock::time_point{} + 1000h;

Challenge for_device(const std::string& device, Purpose purpose = Purpose::login, const std::string& user = "alice",
                     const std::string& asset = "") {
  Challenge challenge;
  challenge.purpose = purpose;
  challenge.device = device;
  challenge.user = user;
  challenge.asset = asset;
  return challenge;
}

std::string issue(ChallengeStore& store, Challenge challenge, Clock::time_point now = kT0) {
  auto issued = store.issue(std::move(challenge), now);
  REQUIRE(issued.has_value());
  return *issued;
}

AuthError error_of(const AuthResult<Challenge>& result) {
  REQUIRE_FALSE(result.has_value());
  return static_cast<AuthError>(result.error().value());
}

}  // namespace

TEST_CASE("an issued challenge is 32 random bytes in base64url and is taken back with what it was bound to",
          "[challenges]") {
  ChallengeStore store(60s);
  const std::string value = issue(store, for_device("laptop-7", Purpose::session, "alice", "press-1"));
  const auto raw = base64url_decode(value);
  REQUIRE(raw.has_value());
  CHECK(raw->size() == 32);
  CHECK(store.size() == 1);

  const auto taken = store.take(value, "laptop-7", Purpose::session, kT0 + 59s);
  REQUIRE(taken.has_value());
  CHECK(taken->device == "laptop-7");
  CHECK(taken->user == "alice");
  CHECK(taken->asset == "press-1");
  CHECK(taken->purpose == Purpose::session);
  CHECK(taken->expires == kT0 + 60s);
  CHECK(store.size() == 0);
}

TEST_CASE("challenges are not repeated", "[challenges]") {
  ChallengeStore store(60s);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(issue(store, for_device("laptop-7")));
  CHECK(seen.size() == 100);
  CHECK(store.size() == 100);
}

TEST_CASE("a challenge can be taken once: a second take is challenge_unknown", "[challenges]") {
  ChallengeStore store(60s);
  const std::string value = issue(store, for_device("laptop-7"));
  REQUIRE(store.take(value, "laptop-7", Purpose::login, kT0).has_value());
  CHECK(error_of(store.take(value, "laptop-7", Purpose::login, kT0)) == AuthError::challenge_unknown);
}

TEST_CASE("a failed take consumes the challenge too", "[challenges]") {
  ChallengeStore store(60s);

  SECTION("taken by another device first") {
    const std::string value = issue(store, for_device("laptop-7"));
    CHECK(error_of(store.take(value, "laptop-8", Purpose::login, kT0)) == AuthError::challenge_other_device);
    CHECK(error_of(store.take(value, "laptop-7", Purpose::login, kT0)) == AuthError::challenge_unknown);
  }
  SECTION("taken for another purpose first") {
    const std::string value = issue(store, for_device("laptop-7"));
    CHECK(error_of(store.take(value, "laptop-7", Purpose::enroll, kT0)) == AuthError::challenge_other_purpose);
    CHECK(error_of(store.take(value, "laptop-7", Purpose::login, kT0)) == AuthError::challenge_unknown);
  }
  SECTION("taken after expiry first") {
    const std::string value = issue(store, for_device("laptop-7"));
    CHECK(error_of(store.take(value, "laptop-7", Purpose::login, kT0 + 61s)) == AuthError::challenge_expired);
    CHECK(error_of(store.take(value, "laptop-7", Purpose::login, kT0)) == AuthError::challenge_unknown);
  }
  CHECK(store.size() == 0);
}

TEST_CASE("a challenge expires at exactly issue time plus TTL", "[challenges]") {
  ChallengeStore store(60s);
  const std::string last_tick = issue(store, for_device("laptop-7"));
  const std::string at_ttl = issue(store, for_device("laptop-7"));
  CHECK(store.take(last_tick, "laptop-7", Purpose::login, kT0 + 60s - 1ns).has_value());
  CHECK(error_of(store.take(at_ttl, "laptop-7", Purpose::login, kT0 + 60s)) == AuthError::challenge_expired);
}

TEST_CASE("expiry is checked before the device and the purpose", "[challenges]") {
  // An expired challenge says so whoever presents it: nothing else about it is disclosed.
  ChallengeStore store(60s);
  const std::string value = issue(store, for_device("laptop-7"));
  CHECK(error_of(store.take(value, "laptop-8", Purpose::enroll, kT0 + 60s)) == AuthError::challenge_expired);
}

TEST_CASE("a challenge is bound to its device and its purpose", "[challenges]") {
  ChallengeStore store(60s);
  SECTION("another device is challenge_other_device") {
    const std::string value = issue(store, for_device("laptop-7"));
    CHECK(error_of(store.take(value, "laptop-77", Purpose::login, kT0)) == AuthError::challenge_other_device);
  }
  SECTION("an empty device is challenge_other_device") {
    const std::string value = issue(store, for_device("laptop-7"));
    CHECK(error_of(store.take(value, "", Purpose::login, kT0)) == AuthError::challenge_other_device);
  }
  SECTION("every other purpose is challenge_other_purpose") {
    for (const Purpose issued : {Purpose::login, Purpose::session, Purpose::enroll}) {
      for (const Purpose taken : {Purpose::login, Purpose::session, Purpose::enroll}) {
        if (issued == taken) continue;
        INFO("issued for " << to_string(issued) << ", taken for " << to_string(taken));
        const std::string value = issue(store, for_device("laptop-7", issued));
        CHECK(error_of(store.take(value, "laptop-7", taken, kT0)) == AuthError::challenge_other_purpose);
      }
    }
  }
}

TEST_CASE("a value that was never issued is challenge_unknown", "[challenges]") {
  ChallengeStore store(60s);
  const std::string value = issue(store, for_device("laptop-7"));
  CHECK(error_of(store.take("", "laptop-7", Purpose::login, kT0)) == AuthError::challenge_unknown);
  CHECK(error_of(store.take(value.substr(1), "laptop-7", Purpose::login, kT0)) == AuthError::challenge_unknown);
  CHECK(store.size() == 1);  // a miss does not disturb the live challenge
  CHECK(store.take(value, "laptop-7", Purpose::login, kT0).has_value());
}

TEST_CASE("a full store drops expired challenges to make room and refuses when all are live", "[challenges]") {
  ChallengeStore store(60s, 3);
  const std::string old = issue(store, for_device("laptop-7"), kT0);
  issue(store, for_device("laptop-7"), kT0 + 30s);
  issue(store, for_device("laptop-7"), kT0 + 30s);
  REQUIRE(store.size() == 3);

  // Full of live challenges: a flood is refused rather than growing the map.
  auto refused = store.issue(for_device("laptop-7"), kT0 + 59s);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == AuthError::internal);
  CHECK(store.size() == 3);

  // At kT0 + 60s the first one has expired: it makes room.
  const std::string fresh = issue(store, for_device("laptop-7"), kT0 + 60s);
  CHECK(store.size() == 3);
  CHECK(error_of(store.take(old, "laptop-7", Purpose::login, kT0 + 60s)) == AuthError::challenge_unknown);
  CHECK(store.take(fresh, "laptop-7", Purpose::login, kT0 + 61s).has_value());
}

TEST_CASE("purposes have stable names", "[challenges]") {
  CHECK(to_string(Purpose::login) == "login");
  CHECK(to_string(Purpose::session) == "session");
  CHECK(to_string(Purpose::enroll) == "enroll");
}
