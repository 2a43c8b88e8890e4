#include "audit/retention.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using namespace conduit::audit;
using Ids = std::vector<std::string>;

constexpr std::int64_t kNow = 1'000'000;

SessionRow row(const std::string& id, std::int64_t start_us, std::optional<std::int64_t> end_us,
               std::uint64_t file_size, bool hold = false) {
  SessionRow session;
  session.start.id = id;
  session.start.start_us = start_us;
  session.start.file = id + ".rec";
  session.end_us = end_us;
  session.progress.file_size = file_size;
  session.hold = hold;
  return session;
}

RetentionPolicy max_age(std::int64_t age_us) {
  RetentionPolicy policy;
  policy.max_age_us = age_us;
  return policy;
}

RetentionPolicy max_total(std::uint64_t bytes) {
  RetentionPolicy policy;
  policy.max_total_bytes = bytes;
  return policy;
}

}  // namespace

TEST_CASE("no retention policy selects nothing, however old and large the recordings", "[retention]") {
  const std::vector<SessionRow> sessions = {row("a", 0, 10, 1ULL << 40), row("b", 20, 30, 1ULL << 40)};
  CHECK(select_for_deletion(sessions, kNow, {}).empty());
  CHECK(select_for_deletion({}, kNow, max_total(0)).empty());
}

TEST_CASE("the age cut selects sessions that ended longer ago than max_age, oldest start first", "[retention]") {
  // Given in no particular order; "late-start" started after "early-start" but ended first.
  const std::vector<SessionRow> sessions = {
      row("recent", 950'000, 990'000, 10),
      row("late-start", 400'000, 500'000, 10),
      row("exactly-max-age", 850'000, 900'000, 10),  // age 100'000: kept
      row("early-start", 100'000, 899'999, 10),       // age 100'001: deleted
  };
  CHECK(select_for_deletion(sessions, kNow, max_age(100'000)) == Ids{"early-start", "late-start"});
  CHECK(select_for_deletion(sessions, kNow, max_age(1'000'000)).empty());
}

TEST_CASE("the size cut deletes the oldest until the total is at most max_total_bytes", "[retention]") {
  const std::vector<SessionRow> sessions = {row("d", 400, 450, 100), row("b", 200, 250, 100),
                                            row("a", 100, 150, 100), row("c", 300, 350, 100)};
  CHECK(select_for_deletion(sessions, kNow, max_total(250)) == Ids{"a", "b"});
  // A total equal to the limit is not over it.
  CHECK(select_for_deletion(sessions, kNow, max_total(200)) == Ids{"a", "b"});
  CHECK(select_for_deletion(sessions, kNow, max_total(400)).empty());
  CHECK(select_for_deletion(sessions, kNow, max_total(0)) == Ids{"a", "b", "c", "d"});
}

TEST_CASE("sessions cut by age no longer count toward the size limit", "[retention]") {
  const std::vector<SessionRow> sessions = {row("old", 100, 200, 1000), row("mid", 900'000, 910'000, 100),
                                            row("new", 950'000, 960'000, 100)};
  RetentionPolicy policy;
  policy.max_age_us = 500'000;
  policy.max_total_bytes = 250;
  CHECK(select_for_deletion(sessions, kNow, policy) == Ids{"old"});
  policy.max_total_bytes = 150;
  CHECK(select_for_deletion(sessions, kNow, policy) == Ids{"old", "mid"});
}

TEST_CASE("open and held sessions are never selected, even over the size limit, but their sizes count",
          "[retention]") {
  const std::vector<SessionRow> sessions = {
      row("held-old", 100, 200, 500, true),
      row("open-old", 150, std::nullopt, 500),
      row("closed-1", 300, 400, 100),
      row("closed-2", 500, 600, 100),
  };
  // 1200 bytes against 300: everything deletable goes and the total stays over.
  CHECK(select_for_deletion(sessions, kNow, max_total(300)) == Ids{"closed-1", "closed-2"});
  // 1200 against 1100: only the oldest deletable one is needed.
  CHECK(select_for_deletion(sessions, kNow, max_total(1100)) == Ids{"closed-1"});
  // All of them are old enough by age.
  CHECK(select_for_deletion(sessions, kNow, max_age(1000)) == Ids{"closed-1", "closed-2"});
}

TEST_CASE("ties in start time are broken by id", "[retention]") {
  const std::vector<SessionRow> sessions = {row("b", 100, 200, 100), row("c", 300, 400, 100),
                                            row("a", 100, 200, 100)};
  CHECK(select_for_deletion(sessions, kNow, max_total(200)) == Ids{"a"});
  CHECK(select_for_deletion(sessions, kNow, max_total(100)) == Ids{"a", "b"});
  CHECK(select_for_deletion(sessions, kNow, max_age(10)) == Ids{"a", "b", "c"});
}

TEST_CASE("extreme times do not overflow the age computation", "[retention]") {
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  const std::vector<SessionRow> sessions = {row("ancient", kMin, kMin + 1, 1), row("future", 0, kMax, 1)};
  // now - (kMin + 1) overflows upward: the session is older than any age.
  CHECK(select_for_deletion(sessions, kMax, max_age(kMax - 1)) == Ids{"ancient"});
  // now - kMax overflows downward: a session ending in the far future is never too old.
  CHECK(select_for_deletion(sessions, -10, max_age(0)) == Ids{"ancient"});
}
