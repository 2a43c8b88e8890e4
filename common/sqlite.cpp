#include "common/sqlite.hpp"

#include <sys/types.h>

#include <utility>

#include <sqlite3.h>

#include "common/private_file.hpp"

namespace conduit::sqlite {

namespace {

constexpr int kBusyTimeoutMs = 5000;
// The stores hold what only the gateway's user may read (enrollment code hashes that a
// short code would not protect on its own; who reached which asset, and when), so an
// existing file is tightened to this too. SQLite gives its -wal and -shm files the same mode.
constexpr mode_t kFileMode = 0600;

// The words this module has always used in "<file>: <what>: <reason>".
const char* step_word(common::FileStep step) noexcept {
  switch (step) {
    case common::FileStep::stat: return "stat";
    case common::FileStep::set_mode: return "chmod";
    default: return "open";
  }
}

}  // namespace

void Statement::Finalize::operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }

bool Statement::is_null(int column) const noexcept {
  return sqlite3_column_type(statement_.get(), column) == SQLITE_NULL;
}

std::int64_t Statement::integer(int column) const noexcept { return sqlite3_column_int64(statement_.get(), column); }

std::string Statement::text(int column) const {
  const auto* data = sqlite3_column_text(statement_.get(), column);
  const int size = sqlite3_column_bytes(statement_.get(), column);
  if (data == nullptr) return {};
  return {reinterpret_cast<const char*>(data), static_cast<std::size_t>(size)};
}

std::string Statement::blob(int column) const {
  const auto* data = sqlite3_column_blob(statement_.get(), column);
  const int size = sqlite3_column_bytes(statement_.get(), column);
  if (data == nullptr) return {};
  return {static_cast<const char*>(data), static_cast<std::size_t>(size)};
}

void Statement::bind(int index, std::string_view text) noexcept {
  const int rc = sqlite3_bind_text64(statement_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (bind_status_ == SQLITE_OK) bind_status_ = rc;
}

void Statement::bind(int index, Blob blob) noexcept {
  // A zero-length blob with a null pointer would bind NULL; bind an empty blob instead.
  const int rc = blob.bytes.empty()
                     ? sqlite3_bind_zeroblob(statement_.get(), index, 0)
                     : sqlite3_bind_blob64(statement_.get(), index, blob.bytes.data(), blob.bytes.size(),
                                           SQLITE_TRANSIENT);
  if (bind_status_ == SQLITE_OK) bind_status_ = rc;
}

void Statement::bind(int index, std::int64_t value) noexcept {
  const int rc = sqlite3_bind_int64(statement_.get(), index, value);
  if (bind_status_ == SQLITE_OK) bind_status_ = rc;
}

Transaction::~Transaction() {
  // The transaction may already be gone: SQLite rolls back by itself after some errors.
  if (db_ != nullptr && sqlite3_get_autocommit(db_->db_) == 0) {
    sqlite3_exec(db_->db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Result<void> Transaction::commit() {
  Connection* db = std::exchange(db_, nullptr);
  if (sqlite3_exec(db->db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) return {};
  const auto error = db->sqlite_failure();
  if (sqlite3_get_autocommit(db->db_) == 0) sqlite3_exec(db->db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return error;
}

Result<std::unique_ptr<Connection>> Connection::open(const std::filesystem::path& file,
                                                     boost::system::error_code failure, std::string& error_message) {
  if (auto prepared = common::open_or_create_private_file(file, kFileMode); !prepared) {
    const common::FileError& error = prepared.error();
    error_message = file.string() + ": " + step_word(error.step) + ": " + error.code.message();
    return error.code;
  }
  sqlite3* handle = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &handle,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, nullptr);
  // Even a failed open returns a handle (for the message), which the Connection now owns.
  auto db = std::unique_ptr<Connection>(new Connection(handle, file, failure));
  const auto fail = [&] {
    const auto error = db->sqlite_failure();
    error_message = db->last_error_;
    return error;
  };
  if (rc != SQLITE_OK) return fail();
  sqlite3_extended_result_codes(handle, 1);
  // The busy timeout comes first: switching to WAL needs a lock another process may hold.
  if (sqlite3_busy_timeout(handle, kBusyTimeoutMs) != SQLITE_OK) return fail();
  if (!db->execute_script("PRAGMA foreign_keys = ON;"
                          "PRAGMA journal_mode = WAL;"
                          "PRAGMA synchronous = FULL;")) {
    error_message = db->last_error_;
    return failure;
  }
  return db;
}

Connection::~Connection() { sqlite3_close_v2(db_); }

boost::system::error_code Connection::sqlite_failure() {
  last_error_ = file_.string() + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory");
  return failure_;
}

Result<Statement> Connection::prepare_unbound(std::string_view sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), 0, &statement, nullptr) != SQLITE_OK) {
    return sqlite_failure();
  }
  return Statement(statement);
}

Result<bool> Connection::step(Statement& statement) {
  if (statement.bind_status_ != SQLITE_OK) {
    last_error_ = file_.string() + ": " + sqlite3_errstr(statement.bind_status_);
    return {boost::system::in_place_error, failure_};
  }
  const int rc = sqlite3_step(statement.statement_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // in_place_error: an error_code also converts to bool, so the plain form is ambiguous.
  return {boost::system::in_place_error, sqlite_failure()};
}

Result<void> Connection::execute_script(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return sqlite_failure();
  return {};
}

Result<Transaction> Connection::begin(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return sqlite_failure();
  return Transaction(this);
}

Result<Transaction> Connection::begin_write() { return begin("BEGIN IMMEDIATE"); }
Result<Transaction> Connection::begin_read() { return begin("BEGIN DEFERRED"); }

std::int64_t Connection::changes() const noexcept { return sqlite3_changes64(db_); }
std::int64_t Connection::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }

namespace {

Result<int> read_schema_version(Connection& db) {
  auto statement = db.prepare("PRAGMA user_version");
  if (!statement) return statement.error();
  auto row = db.step(*statement);
  if (!row) return row.error();
  return *row ? static_cast<int>(statement->integer(0)) : 0;
}

}  // namespace

Result<int> migrate(Connection& db, std::span<const char* const> migrations, std::string_view what,
                    boost::system::error_code too_new, boost::system::error_code invalid, std::string& message) {
  const auto fail = [&](boost::system::error_code error) {
    message = db.last_error();
    return error;
  };
  const int newest = static_cast<int>(migrations.size());
  auto transaction = db.begin_write();
  if (!transaction) return fail(transaction.error());
  auto version = read_schema_version(db);
  if (!version) return fail(version.error());
  const std::string prefix = std::string(what) + " " + db.file().string();
  if (*version > newest) {
    message = prefix + " has schema version " + std::to_string(*version) + "; this conduit supports up to " +
              std::to_string(newest);
    return too_new;
  }
  if (*version < 0) {
    message = prefix + " has an invalid schema version " + std::to_string(*version);
    return invalid;
  }
  for (int from = *version; from < newest; ++from) {
    if (auto step = db.execute_script(migrations[static_cast<std::size_t>(from)]); !step) return fail(step.error());
  }
  if (auto committed = transaction->commit(); !committed) return fail(committed.error());
  return newest;
}

Result<OpenedStore> open_store(const std::filesystem::path& file, const StoreSchema& schema, std::string* message) {
  std::string why;
  const auto fail = [&](boost::system::error_code error) {
    if (message != nullptr) *message = std::move(why);
    return error;
  };
  auto db = Connection::open(file, schema.sqlite_error, why);
  if (!db) return fail(db.error());
  auto version = migrate(**db, schema.migrations, schema.what, schema.too_new, schema.invalid, why);
  if (!version) return fail(version.error());
  return OpenedStore{std::move(*db), *version};
}

}  // namespace conduit::sqlite
