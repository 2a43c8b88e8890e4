// Retention of session recordings (issue 5): which sessions to delete under a policy of
// maximum age and maximum total size. Pure: no I/O, no clock (now is passed in), no state;
// thread-safe.
//
// The caller (the gateway, or `conduit sessions prune`) reads SessionIndex::all(), asks
// select_for_deletion, and for each id, oldest first: SessionIndex::remove(id) (which
// refuses a session that was put on hold or is open since the selection), then deletes the
// file the row named. Removing the row first means a crash in between leaves an orphan
// file, never a row pointing at a deleted recording.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "audit/session_index.hpp"

namespace conduit::audit {

// No limit set: nothing is ever deleted.
struct RetentionPolicy {
  std::optional<std::int64_t> max_age_us;        // delete sessions that ended longer ago than this
  std::optional<std::uint64_t> max_total_bytes;  // then keep the sum of all file sizes at or under this
};

// The ids of the sessions to delete, oldest first (by start time, then id). First every
// session that ended more than max_age_us before now_us (an age exactly max_age_us is
// kept); then, while the total file_size of all recordings not yet selected is over
// max_total_bytes, the oldest remaining. Never an open session, never one on hold: they
// are not selected even when that leaves the total over the limit, but their sizes count
// toward the total.
std::vector<std::string> select_for_deletion(std::span<const SessionRow> sessions, std::int64_t now_us,
                                             const RetentionPolicy& policy);

}  // namespace conduit::audit
