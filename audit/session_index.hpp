// The session index: one row per recorded session (issue 5), in one SQLite file,
// <data_dir>/recordings/index.db (mode 0600, WAL journal, synchronous FULL), beside the
// recording files it lists (audit/FORMAT.md). The security team lists and filters sessions
// and holds some from deletion; the gateway keeps each row up to date as the recording
// grows and applies retention (retention.hpp) to what all() returns.
//
// Who calls it: the gateway's recording writer thread (insert, progress at every group
// commit, close; mark_abnormal at start-up for sessions a crash left open) and CLI
// processes (list, find, hold, verify, remove) on the same file at the same time. Each
// SessionIndex owns one SQLite connection and is NOT thread-safe: one object per thread.
// SQLite's locks serialise writers (busy timeout 5 s) and every mutating method is one
// IMMEDIATE transaction, so a check-then-write (remove refusing a held session) cannot
// interleave with another writer; readers never block the gateway (WAL).
//
// No clock inside: every time is microseconds since the Unix epoch, passed in by the caller.
// Counters are u64 stored bit for bit in SQLite's signed 64-bit integers.
//
// Schema: versioned with PRAGMA user_version; open() migrates an older file inside one
// transaction and refuses a file written by a newer Conduit (schema_too_new).
//
// Errors: boost::system::result with an IndexErrc; nothing throws except std::bad_alloc.
// File system failures (only in open) come back as errno codes in generic_category.
// last_error_message() describes the last sqlite_error (file name + SQLite's message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "common/sqlite.hpp"

namespace conduit::sqlite {
class Connection;  // common/sqlite.hpp (library conduit_common), shared with the credential store
}

namespace conduit::audit {

enum class IndexErrc {
  not_found = 1,     // no session with this id
  already_exists,    // insert: a session with this id is already indexed
  invalid_argument,  // an empty or over-long id, an unsafe file name, a bad chain head, ...
  schema_too_new,    // the file was written by a newer Conduit
  sqlite_error,      // SQLite failed; last_error_message() says how
  already_closed,    // progress / close / mark_abnormal on a session that has ended
  still_open,        // remove: the session is still being recorded
  on_hold,           // remove: the session is held from deletion; release it first
};

const boost::system::error_category& index_category() noexcept;

inline boost::system::error_code make_error_code(IndexErrc e) noexcept {
  return {static_cast<int>(e), index_category()};
}

template <typename T>
using IndexResult = boost::system::result<T>;

// The newest schema this build knows (and writes).
inline constexpr int kSessionIndexSchemaVersion = 1;

// Caps, checked before anything is stored. The identity fields match the recording
// header's caps (FORMAT.md §3, kMaxText).
inline constexpr std::size_t kMaxIndexText = 1024;    // id (non-empty), user, device, ... addresses
inline constexpr std::size_t kMaxIndexFile = 4096;    // file, relative to the recordings directory
inline constexpr std::size_t kMaxIndexDetail = 4096;  // end reason, verification detail

// The end reason mark_abnormal stores.
inline constexpr std::string_view kAbnormalEndReason = "gateway stopped without closing the session";

struct SessionStart {
  std::string id, user, device, role, asset, protocol, listener, client_address, asset_address;
  std::string file;  // relative to the recordings directory; see is_safe_recording_file
  std::int64_t start_us = 0;
};

// What the recording holds after its last durable (fsynced) group commit.
struct SessionProgress {
  std::uint64_t bytes_in = 0, bytes_out = 0, requests = 0, denials = 0, writes = 0;
  std::uint64_t total_records = 0, sealed_records = 0;
  std::string chain_head;  // lower hex (64) of the chain head after the last durable record; empty before any
  std::uint64_t file_size = 0;
};

// abnormal_end: the gateway stopped without closing the session (a crash); the recording
// was verified up to its last committed record (verification_detail says how far).
enum class Verification { unverified, ok, failed, abnormal_end };

struct SessionRow {
  SessionStart start;
  SessionProgress progress;
  std::optional<std::int64_t> end_us;
  std::string end_reason;
  Verification verification = Verification::unverified;
  std::string verification_detail;
  bool hold = false;
  bool open() const { return !end_us; }
};

// Every field set narrows the list; the defaults list everything (up to `limit`).
struct SessionFilter {
  std::string user, device, asset;  // exact match; empty = any
  // Sessions overlapping [since, until], both ends included; an open session runs to now.
  std::optional<std::int64_t> since_us, until_us;
  bool had_denials = false, had_writes = false, open_only = false;
  std::size_t limit = 1000;  // at most this many rows (0: none)
};

std::string_view to_string(Verification verification) noexcept;
std::optional<Verification> verification_from(std::string_view text) noexcept;

// A recording file name the index accepts (and a deleter should re-check before unlinking
// what a row names, since anyone with write access to index.db could edit it): relative,
// non-empty, no "." or ".." component, no empty component, no NUL, at most kMaxIndexFile.
bool is_safe_recording_file(std::string_view file) noexcept;

class SessionIndex {
 public:
  // Creates the file (0600) if it is missing (the directory must exist), refuses a
  // symlink, tightens an existing file to 0600, then migrates. On failure, *message (if
  // given) gets a sentence a person can act on, e.g. "session index /x/index.db has schema
  // version 99; this conduit supports up to 1".
  static IndexResult<SessionIndex> open(const std::filesystem::path& file, std::string* message = nullptr);

  SessionIndex(SessionIndex&&) noexcept;
  SessionIndex& operator=(SessionIndex&&) noexcept;
  ~SessionIndex();

  int schema_version() const noexcept { return schema_version_; }

  // Gateway side. The writer calls insert, progress and close for every session of one
  // group commit inside one batch: one transaction, one commit (and one WAL fsync) for the
  // whole group instead of one per session. Inside `body` the three do not open their own
  // transaction. The batch commits what `body` wrote unless `body` returns an error (then
  // it rolls back).
  template <typename Body>
  IndexResult<void> batch(Body&& body) {
    batching_ = true;
    auto result = sqlite::transact(*db_, sqlite::kWrite, [&]() -> IndexResult<void> { return body(); });
    batching_ = false;
    return result;
  }
  // A new session is open, unverified, not held, with zero progress.
  IndexResult<void> insert(const SessionStart& start);  // already_exists
  // A group-commit checkpoint: replaces the progress of an open session (already_closed).
  IndexResult<void> progress(std::string_view id, const SessionProgress& progress);
  // The final progress and the end, once; a second close is already_closed and changes nothing.
  IndexResult<void> close(std::string_view id, const SessionProgress& progress, std::int64_t end_us,
                          std::string_view reason);
  // For the sessions open_sessions() finds at start-up: ends an open session with
  // kAbnormalEndReason and verification abnormal_end + detail. A session that has ended
  // is left as it is (already_closed).
  IndexResult<void> mark_abnormal(std::string_view id, std::int64_t end_us, std::string_view detail);

  // Security team side.
  IndexResult<void> set_verification(std::string_view id, Verification verification, std::string_view detail);
  IndexResult<void> set_hold(std::string_view id, bool hold);
  // Removes the row only (the caller deletes the file afterwards). Refuses an open session
  // (still_open) and a held one (on_hold) in the same transaction as the delete, so a hold
  // set after retention chose the session still wins.
  IndexResult<void> remove(std::string_view id);

  IndexResult<SessionRow> find(std::string_view id);                    // not_found
  IndexResult<std::vector<SessionRow>> list(const SessionFilter& filter);  // newest first (start, then id)
  IndexResult<std::vector<SessionRow>> open_sessions();                 // oldest first
  IndexResult<std::vector<SessionRow>> all();                           // oldest first, for retention

  std::string last_error_message() const;

 private:
  SessionIndex(std::unique_ptr<sqlite::Connection> db, int schema_version) noexcept;

  // A write of insert/progress/close: its own transaction, or part of the batch.
  template <typename Body>
  IndexResult<void> write(Body&& body) {
    if (batching_) return body();
    return sqlite::transact(*db_, sqlite::kWrite, std::forward<Body>(body));
  }

  std::unique_ptr<sqlite::Connection> db_;
  int schema_version_ = 0;
  bool batching_ = false;
};

}  // namespace conduit::audit

namespace boost::system {
template <>
struct is_error_code_enum<conduit::audit::IndexErrc> : std::true_type {};
}  // namespace boost::system
