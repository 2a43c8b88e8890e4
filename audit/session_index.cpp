#include "audit/session_index.hpp"

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>
#include <variant>

#include "common/sqlite.hpp"

namespace conduit::audit {

namespace {

class IndexCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "conduit.session_index"; }
  std::string message(int value) const override {
    switch (static_cast<IndexErrc>(value)) {
      case IndexErrc::not_found: return "no such session in the session index";
      case IndexErrc::already_exists: return "the session is already in the session index";
      case IndexErrc::invalid_argument: return "invalid id, file name, chain head or text for the session index";
      case IndexErrc::schema_too_new: return "the session index was written by a newer conduit";
      case IndexErrc::sqlite_error: return "the session index database failed";
      case IndexErrc::already_closed: return "the session has already ended";
      case IndexErrc::still_open: return "the session is still being recorded";
      case IndexErrc::on_hold: return "the session is on hold; release it before deleting it";
    }
    return "unknown session index error";
  }
};

// Schema migrations, oldest first: kMigrations[i] takes a file from version i to i + 1 and
// sets user_version itself. Never edit a released migration; append one.
//
// Durability: the connection runs with synchronous = FULL (common/sqlite), not NORMAL. NORMAL
// would save one WAL fsync per commit, but a power cut could then roll back the last
// inserts and closes: a recording on disk with no row (invisible to `sessions list` and to
// retention) or a cleanly closed session reported as an abnormal end. The gateway commits
// here once per group commit, beside the fsync it already does for the recordings.
//
// One index per filter column, each ending in start_us, so that a filtered list is read
// newest first straight from the index; a partial index finds the open sessions at start-up.
// Counters are u64 stored bit for bit in INTEGER (signed): compare them only with 0.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE sessions (
  id TEXT PRIMARY KEY NOT NULL,
  user TEXT NOT NULL,
  device TEXT NOT NULL,
  role TEXT NOT NULL,
  asset TEXT NOT NULL,
  protocol TEXT NOT NULL,
  listener TEXT NOT NULL,
  client_address TEXT NOT NULL,
  asset_address TEXT NOT NULL,
  file TEXT NOT NULL,
  start_us INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL DEFAULT 0,
  bytes_out INTEGER NOT NULL DEFAULT 0,
  requests INTEGER NOT NULL DEFAULT 0,
  denials INTEGER NOT NULL DEFAULT 0,
  writes INTEGER NOT NULL DEFAULT 0,
  total_records INTEGER NOT NULL DEFAULT 0,
  sealed_records INTEGER NOT NULL DEFAULT 0,
  chain_head TEXT NOT NULL DEFAULT '',
  file_size INTEGER NOT NULL DEFAULT 0,
  end_us INTEGER,
  end_reason TEXT NOT NULL DEFAULT '',
  verification TEXT NOT NULL DEFAULT 'unverified'
    CHECK (verification IN ('unverified', 'ok', 'failed', 'abnormal_end')),
  verification_detail TEXT NOT NULL DEFAULT '',
  hold INTEGER NOT NULL DEFAULT 0 CHECK (hold IN (0, 1))
);
CREATE INDEX sessions_by_start ON sessions(start_us);
CREATE INDEX sessions_by_user ON sessions(user, start_us);
CREATE INDEX sessions_by_device ON sessions(device, start_us);
CREATE INDEX sessions_by_asset ON sessions(asset, start_us);
CREATE INDEX sessions_open ON sessions(start_us) WHERE end_us IS NULL;
PRAGMA user_version = 1;
)sql",
};
static_assert(std::size(kMigrations) == kSessionIndexSchemaVersion);


// The column order row_from reads.
constexpr std::string_view kSelectColumns =
    "SELECT id, user, device, role, asset, protocol, listener, client_address, asset_address, file, start_us,"
    " bytes_in, bytes_out, requests, denials, writes, total_records, sealed_records, chain_head, file_size,"
    " end_us, end_reason, verification, verification_detail, hold FROM sessions";

std::uint64_t unsigned_column(const sqlite::Statement& row, int column) {
  return static_cast<std::uint64_t>(row.integer(column));
}

std::int64_t as_integer(std::uint64_t value) { return static_cast<std::int64_t>(value); }

SessionRow row_from(const sqlite::Statement& row) {
  SessionRow session;
  auto& start = session.start;
  start.id = row.text(0);
  start.user = row.text(1);
  start.device = row.text(2);
  start.role = row.text(3);
  start.asset = row.text(4);
  start.protocol = row.text(5);
  start.listener = row.text(6);
  start.client_address = row.text(7);
  start.asset_address = row.text(8);
  start.file = row.text(9);
  start.start_us = row.integer(10);
  auto& progress = session.progress;
  progress.bytes_in = unsigned_column(row, 11);
  progress.bytes_out = unsigned_column(row, 12);
  progress.requests = unsigned_column(row, 13);
  progress.denials = unsigned_column(row, 14);
  progress.writes = unsigned_column(row, 15);
  progress.total_records = unsigned_column(row, 16);
  progress.sealed_records = unsigned_column(row, 17);
  progress.chain_head = row.text(18);
  progress.file_size = unsigned_column(row, 19);
  if (!row.is_null(20)) session.end_us = row.integer(20);
  session.end_reason = row.text(21);
  // The CHECK constraint allows only known names; anything else must not read as verified.
  session.verification = verification_from(row.text(22)).value_or(Verification::failed);
  session.verification_detail = row.text(23);
  session.hold = row.integer(24) != 0;
  return session;
}

bool valid_id(std::string_view id) { return !id.empty() && id.size() <= kMaxIndexText; }

bool valid_start(const SessionStart& start) {
  const std::string_view texts[] = {start.user,     start.device,   start.role,           start.asset,
                                    start.protocol, start.listener, start.client_address, start.asset_address};
  return valid_id(start.id) && is_safe_recording_file(start.file) &&
         std::all_of(std::begin(texts), std::end(texts),
                     [](std::string_view text) { return text.size() <= kMaxIndexText; });
}

// Lower hex of a SHA-256 chain head, or empty before the first durable record.
bool valid_chain_head(std::string_view head) {
  if (head.empty()) return true;
  return head.size() == 64 && std::all_of(head.begin(), head.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool valid_verification(Verification verification) { return to_string(verification) != "unknown"; }

// After an UPDATE ... AND end_us IS NULL changed nothing: was the session missing or over?
IndexResult<void> missing_or_closed(sqlite::Connection& db, std::string_view id) {
  auto found = db.exists("SELECT 1 FROM sessions WHERE id = ?1", id);
  if (!found) return found.error();
  return *found ? IndexErrc::already_closed : IndexErrc::not_found;
}

IndexResult<std::vector<SessionRow>> read_rows(sqlite::Connection& db, sqlite::Statement& statement) {
  std::vector<SessionRow> rows;
  auto read = db.for_each_row(statement, [&](const sqlite::Statement& row) { rows.push_back(row_from(row)); });
  if (!read) return read.error();
  return rows;
}

// Sets every progress column of an open session; ?1 is the id, the caller appends the rest.
constexpr std::string_view kSetProgress =
    "UPDATE sessions SET bytes_in = ?2, bytes_out = ?3, requests = ?4, denials = ?5, writes = ?6,"
    " total_records = ?7, sealed_records = ?8, chain_head = ?9, file_size = ?10";

template <typename... More>
IndexResult<void> update_open(sqlite::Connection& db, std::string_view id, const SessionProgress& progress,
                              std::string_view more_columns, const More&... more) {
  std::string sql(kSetProgress);
  sql += more_columns;
  sql += " WHERE id = ?1 AND end_us IS NULL";
  auto updated = db.execute(sql, id, as_integer(progress.bytes_in), as_integer(progress.bytes_out),
                            as_integer(progress.requests), as_integer(progress.denials), as_integer(progress.writes),
                            as_integer(progress.total_records), as_integer(progress.sealed_records),
                            std::string_view(progress.chain_head), as_integer(progress.file_size), more...);
  if (!updated) return updated;
  if (db.changes() == 0) return missing_or_closed(db, id);
  return {};
}

}  // namespace

const boost::system::error_category& index_category() noexcept {
  static const IndexCategory category;
  return category;
}

std::string_view to_string(Verification verification) noexcept {
  switch (verification) {
    case Verification::unverified: return "unverified";
    case Verification::ok: return "ok";
    case Verification::failed: return "failed";
    case Verification::abnormal_end: return "abnormal_end";
  }
  return "unknown";
}

std::optional<Verification> verification_from(std::string_view text) noexcept {
  for (auto verification :
       {Verification::unverified, Verification::ok, Verification::failed, Verification::abnormal_end}) {
    if (to_string(verification) == text) return verification;
  }
  return std::nullopt;
}

bool is_safe_recording_file(std::string_view file) noexcept {
  if (file.empty() || file.size() > kMaxIndexFile || file.front() == '/') return false;
  if (file.find('\0') != std::string_view::npos) return false;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = std::min(file.find('/', begin), file.size());
    const std::string_view component = file.substr(begin, end - begin);
    if (component.empty() || component == "." || component == "..") return false;
    if (end == file.size()) return true;
    begin = end + 1;
  }
}

IndexResult<SessionIndex> SessionIndex::open(const std::filesystem::path& file, std::string* message) {
  auto opened = sqlite::open_store(
      file, {"session index", kMigrations, IndexErrc::sqlite_error, IndexErrc::schema_too_new, IndexErrc::invalid_argument},
      message);
  if (!opened) return opened.error();
  return SessionIndex(std::move(opened->db), opened->schema_version);
}

SessionIndex::SessionIndex(std::unique_ptr<sqlite::Connection> db, int schema_version) noexcept
    : db_(std::move(db)), schema_version_(schema_version) {}
SessionIndex::SessionIndex(SessionIndex&&) noexcept = default;
SessionIndex& SessionIndex::operator=(SessionIndex&&) noexcept = default;
SessionIndex::~SessionIndex() = default;

std::string SessionIndex::last_error_message() const { return db_ ? db_->last_error() : std::string(); }

IndexResult<void> SessionIndex::insert(const SessionStart& start) {
  if (!valid_start(start)) return IndexErrc::invalid_argument;
  return write([&]() -> IndexResult<void> {
    auto found = db_->exists("SELECT 1 FROM sessions WHERE id = ?1", start.id);
    if (!found) return found.error();
    if (*found) return IndexErrc::already_exists;
    return db_->execute(
        "INSERT INTO sessions (id, user, device, role, asset, protocol, listener, client_address, asset_address,"
        " file, start_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        start.id, start.user, start.device, start.role, start.asset, start.protocol, start.listener,
        start.client_address, start.asset_address, start.file, start.start_us);
  });
}

IndexResult<void> SessionIndex::progress(std::string_view id, const SessionProgress& progress) {
  if (!valid_chain_head(progress.chain_head)) return IndexErrc::invalid_argument;
  return write([&] { return update_open(*db_, id, progress, ""); });
}

IndexResult<void> SessionIndex::close(std::string_view id, const SessionProgress& progress, std::int64_t end_us,
                                      std::string_view reason) {
  if (!valid_chain_head(progress.chain_head) || reason.size() > kMaxIndexDetail) return IndexErrc::invalid_argument;
  return write([&] {
    return update_open(*db_, id, progress, ", end_us = ?11, end_reason = ?12", end_us, reason);
  });
}

IndexResult<void> SessionIndex::mark_abnormal(std::string_view id, std::int64_t end_us, std::string_view detail) {
  if (detail.size() > kMaxIndexDetail) return IndexErrc::invalid_argument;
  return sqlite::transact(*db_, sqlite::kWrite, [&]() -> IndexResult<void> {
    auto updated = db_->execute(
        "UPDATE sessions SET end_us = ?2, end_reason = ?3, verification = ?4, verification_detail = ?5"
        " WHERE id = ?1 AND end_us IS NULL",
        id, end_us, kAbnormalEndReason, to_string(Verification::abnormal_end), detail);
    if (!updated) return updated;
    if (db_->changes() == 0) return missing_or_closed(*db_, id);
    return {};
  });
}

IndexResult<void> SessionIndex::set_verification(std::string_view id, Verification verification,
                                                 std::string_view detail) {
  if (!valid_verification(verification) || detail.size() > kMaxIndexDetail) return IndexErrc::invalid_argument;
  return sqlite::transact(*db_, sqlite::kWrite, [&]() -> IndexResult<void> {
    auto updated = db_->execute("UPDATE sessions SET verification = ?2, verification_detail = ?3 WHERE id = ?1", id,
                                to_string(verification), detail);
    if (!updated) return updated;
    if (db_->changes() == 0) return IndexErrc::not_found;
    return {};
  });
}

IndexResult<void> SessionIndex::set_hold(std::string_view id, bool hold) {
  return sqlite::transact(*db_, sqlite::kWrite, [&]() -> IndexResult<void> {
    auto updated = db_->execute("UPDATE sessions SET hold = ?2 WHERE id = ?1", id, std::int64_t{hold ? 1 : 0});
    if (!updated) return updated;
    if (db_->changes() == 0) return IndexErrc::not_found;
    return {};
  });
}

IndexResult<void> SessionIndex::remove(std::string_view id) {
  return sqlite::transact(*db_, sqlite::kWrite, [&]() -> IndexResult<void> {
    auto row = db_->prepare("SELECT end_us IS NULL, hold FROM sessions WHERE id = ?1", id);
    if (!row) return row.error();
    auto found = db_->step(*row);
    if (!found) return found.error();
    if (!*found) return IndexErrc::not_found;
    if (row->integer(0) != 0) return IndexErrc::still_open;
    if (row->integer(1) != 0) return IndexErrc::on_hold;
    return db_->execute("DELETE FROM sessions WHERE id = ?1", id);
  });
}

IndexResult<SessionRow> SessionIndex::find(std::string_view id) {
  return sqlite::transact(*db_, sqlite::kRead, [&]() -> IndexResult<SessionRow> {
    auto row = db_->prepare(std::string(kSelectColumns) + " WHERE id = ?1", id);
    if (!row) return row.error();
    auto found = db_->step(*row);
    if (!found) return found.error();
    if (!*found) return IndexErrc::not_found;
    return row_from(*row);
  });
}

// The WHERE clause is assembled from constant fragments only; every value is a bound
// parameter, in the order the fragments were added.
IndexResult<std::vector<SessionRow>> SessionIndex::list(const SessionFilter& filter) {
  using Value = std::variant<std::string_view, std::int64_t>;
  std::string sql(kSelectColumns);
  std::vector<Value> values;
  const char* joiner = " WHERE ";
  const auto where = [&](std::string_view condition) {
    sql += joiner;
    sql += condition;
    joiner = " AND ";
  };
  const auto where_bound = [&](std::string_view condition, Value value) {
    where(condition);
    values.push_back(value);
  };
  if (!filter.user.empty()) where_bound("user = ?", std::string_view(filter.user));
  if (!filter.device.empty()) where_bound("device = ?", std::string_view(filter.device));
  if (!filter.asset.empty()) where_bound("asset = ?", std::string_view(filter.asset));
  // Overlap with [since, until]: started by `until` and not ended before `since`.
  if (filter.until_us) where_bound("start_us <= ?", *filter.until_us);
  if (filter.since_us) where_bound("(end_us IS NULL OR end_us >= ?)", *filter.since_us);
  if (filter.had_denials) where("denials != 0");
  if (filter.had_writes) where("writes != 0");
  if (filter.open_only) where("end_us IS NULL");
  sql += " ORDER BY start_us DESC, id DESC LIMIT ?";
  constexpr auto kMaxLimit = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  values.emplace_back(static_cast<std::int64_t>(std::min(filter.limit, kMaxLimit)));

  return sqlite::transact(*db_, sqlite::kRead, [&]() -> IndexResult<std::vector<SessionRow>> {
    auto rows = db_->prepare(sql);
    if (!rows) return rows.error();
    int index = 0;
    for (const auto& value : values) {
      std::visit([&](const auto& bound) { rows->bind(++index, bound); }, value);
    }
    return read_rows(*db_, *rows);
  });
}

IndexResult<std::vector<SessionRow>> SessionIndex::open_sessions() {
  return sqlite::transact(*db_, sqlite::kRead, [&]() -> IndexResult<std::vector<SessionRow>> {
    auto rows = db_->prepare(std::string(kSelectColumns) + " WHERE end_us IS NULL ORDER BY start_us, id");
    if (!rows) return rows.error();
    return read_rows(*db_, *rows);
  });
}

IndexResult<std::vector<SessionRow>> SessionIndex::all() {
  return sqlite::transact(*db_, sqlite::kRead, [&]() -> IndexResult<std::vector<SessionRow>> {
    auto rows = db_->prepare(std::string(kSelectColumns) + " ORDER BY start_us, id");
    if (!rows) return rows.error();
    return read_rows(*db_, *rows);
  });
}

}  // namespace conduit::audit
