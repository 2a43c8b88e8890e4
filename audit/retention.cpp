#include "audit/retention.hpp"

#include <algorithm>
#include <limits>
#include <tuple>

namespace conduit::audit {

namespace {

bool deletable(const SessionRow& session) { return !session.open() && !session.hold; }

// now - end > max_age without overflow: clocks step, and a corrupt row may hold any value.
bool ended_longer_ago(std::int64_t end_us, std::int64_t now_us, std::int64_t max_age_us) {
  std::int64_t age = 0;
  if (__builtin_sub_overflow(now_us, end_us, &age)) return end_us < 0;  // overflowed up: very old
  return age > max_age_us;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > std::numeric_limits<std::uint64_t>::max() - a ? std::numeric_limits<std::uint64_t>::max() : a + b;
}

}  // namespace

std::vector<std::string> select_for_deletion(std::span<const SessionRow> sessions, std::int64_t now_us,
                                             const RetentionPolicy& policy) {
  std::vector<const SessionRow*> oldest_first;
  oldest_first.reserve(sessions.size());
  for (const auto& session : sessions) oldest_first.push_back(&session);
  std::sort(oldest_first.begin(), oldest_first.end(), [](const SessionRow* a, const SessionRow* b) {
    return std::tie(a->start.start_us, a->start.id) < std::tie(b->start.start_us, b->start.id);
  });

  std::vector<bool> selected(oldest_first.size(), false);
  if (policy.max_age_us) {
    for (std::size_t i = 0; i < oldest_first.size(); ++i) {
      const SessionRow& session = *oldest_first[i];
      selected[i] = deletable(session) && ended_longer_ago(*session.end_us, now_us, *policy.max_age_us);
    }
  }
  if (policy.max_total_bytes) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < oldest_first.size(); ++i) {
      if (!selected[i]) total = saturating_add(total, oldest_first[i]->progress.file_size);
    }
    for (std::size_t i = 0; i < oldest_first.size() && total > *policy.max_total_bytes; ++i) {
      if (selected[i] || !deletable(*oldest_first[i])) continue;
      selected[i] = true;
      total -= oldest_first[i]->progress.file_size;
    }
  }

  std::vector<std::string> ids;
  for (std::size_t i = 0; i < oldest_first.size(); ++i) {
    if (selected[i]) ids.push_back(oldest_first[i]->start.id);
  }
  return ids;
}

}  // namespace conduit::audit
