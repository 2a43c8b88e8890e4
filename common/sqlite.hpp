// The SQLite wrapper both SQLite stores share: the credential store (mfa/credential_store)
// and the session index (audit/session_index), in the library conduit_common.
//
// Small RAII helpers over the SQLite C API: a connection that remembers its file name and
// last error, prepared statements with bound parameters, and transactions that roll back
// unless committed. Values only ever reach SQL as bound parameters. Failures come back as
// the error code the owning store chose when it opened the connection (its own
// `sqlite_error`, so that the store's callers see only the store's enum), or an errno code
// for the file system, with Connection::last_error() saying "<file>: <sqlite3_errmsg>".
// open_store() is the whole opening sequence of a versioned store (file, connection
// settings, migrations, "newer schema" refusal) that each store's open() calls.
//
// Depends on nothing in Conduit but common/private_file (mfa stands alone and audit must
// not use mfa). Neither this header nor the stores' headers expose sqlite3.h.
//
// Not thread-safe: one Connection per thread, like the store that owns it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <span>
#include <string_view>
#include <utility>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

struct sqlite3;
struct sqlite3_stmt;

namespace conduit::sqlite {

template <typename T>
using Result = boost::system::result<T>;

// Binds as a BLOB; a plain string_view binds as TEXT.
struct Blob {
  std::string_view bytes;
};

class Statement {
 public:
  // Column readers, valid after Connection::step returned true.
  bool is_null(int column) const noexcept;
  std::int64_t integer(int column) const noexcept;
  std::string text(int column) const;
  std::string blob(int column) const;

  // Binders copy the value; the first failure is kept and reported by Connection::step.
  void bind(int index, std::string_view text) noexcept;
  void bind(int index, Blob blob) noexcept;
  void bind(int index, std::int64_t value) noexcept;

 private:
  friend class Connection;
  struct Finalize {
    void operator()(sqlite3_stmt* statement) const noexcept;
  };
  explicit Statement(sqlite3_stmt* statement) noexcept : statement_(statement) {}

  std::unique_ptr<sqlite3_stmt, Finalize> statement_;
  int bind_status_ = 0;  // SQLITE_OK
};

class Connection;

// Rolls back in the destructor unless commit() succeeded.
class Transaction {
 public:
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> commit();

 private:
  friend class Connection;
  explicit Transaction(Connection* db) noexcept : db_(db) {}
  Connection* db_;
};

class Connection {
 public:
  // Creates the file with mode 0600 if missing (never through a symlink), sets an existing
  // file to 0600, opens it and applies the connection settings: busy_timeout 5000 ms,
  // foreign_keys ON, journal_mode WAL, synchronous FULL. Every later SQLite failure on this
  // connection is reported as `failure` (the store's own sqlite_error). On failure
  // error_message says why.
  static Result<std::unique_ptr<Connection>> open(const std::filesystem::path& file,
                                                  boost::system::error_code failure, std::string& error_message);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  template <typename... Args>
  Result<Statement> prepare(std::string_view sql, const Args&... args) {
    auto statement = prepare_unbound(sql);
    if (!statement) return statement;
    [[maybe_unused]] int index = 0;
    (statement->bind(++index, args), ...);
    return statement;
  }

  // True when a row is ready, false when the statement is done.
  Result<bool> step(Statement& statement);

  // Runs a statement to completion, ignoring any rows.
  template <typename... Args>
  Result<void> execute(std::string_view sql, const Args&... args) {
    auto statement = prepare(sql, args...);
    if (!statement) return statement.error();
    for (;;) {
      auto row = step(*statement);
      if (!row) return row.error();
      if (!*row) return {};
    }
  }

  // Whether a query returns at least one row.
  template <typename... Args>
  Result<bool> exists(std::string_view sql, const Args&... args) {
    auto statement = prepare(sql, args...);
    if (!statement) return {boost::system::in_place_error, statement.error()};
    return step(*statement);
  }

  // Calls on_row(statement) for every row the statement returns.
  template <typename OnRow>
  Result<void> for_each_row(Statement& statement, OnRow&& on_row) {
    for (;;) {
      auto row = step(statement);
      if (!row) return row.error();
      if (!*row) return {};
      on_row(static_cast<const Statement&>(statement));
    }
  }

  // Several statements without parameters: schema migrations and pragmas.
  Result<void> execute_script(const char* sql);

  // IMMEDIATE takes the write lock at once, so a read-check-write cannot lose a race (and
  // never meets SQLITE_BUSY_SNAPSHOT half-way); a read transaction gives several SELECTs
  // one consistent snapshot.
  Result<Transaction> begin_write();
  Result<Transaction> begin_read();

  std::int64_t changes() const noexcept;
  std::int64_t last_insert_rowid() const noexcept;

  const std::filesystem::path& file() const noexcept { return file_; }
  const std::string& last_error() const noexcept { return last_error_; }
  void clear_error() noexcept { last_error_.clear(); }
  // Records "<file>: <sqlite3_errmsg>" and returns the store's sqlite_error code.
  boost::system::error_code sqlite_failure();

 private:
  friend class Transaction;
  Connection(sqlite3* db, std::filesystem::path file, boost::system::error_code failure) noexcept
      : db_(db), file_(std::move(file)), failure_(failure) {}
  Result<Statement> prepare_unbound(std::string_view sql);
  Result<Transaction> begin(const char* sql);

  sqlite3* db_;
  std::filesystem::path file_;
  boost::system::error_code failure_;
  std::string last_error_;
};

inline constexpr bool kRead = false;
inline constexpr bool kWrite = true;

// Runs body() in one transaction (IMMEDIATE for a write) and commits only if it succeeded;
// otherwise the transaction rolls back. Clears the connection's last error first, so that
// a store's last_error_message() always describes this call. (in_place_error: for
// result<bool>, an error_code would also convert to the value.)
template <typename Body>
auto transact(Connection& db, bool write, Body&& body) -> decltype(body()) {
  db.clear_error();
  auto transaction = write ? db.begin_write() : db.begin_read();
  if (!transaction) return {boost::system::in_place_error, transaction.error()};
  auto result = body();
  if (!result) return result;
  if (auto committed = transaction->commit(); !committed) return {boost::system::in_place_error, committed.error()};
  return result;
}

// Brings a store's schema to the newest version: `migrations[i]` takes version i to i + 1
// (PRAGMA user_version), all inside one IMMEDIATE transaction, so that two processes
// opening a fresh file at once migrate it once and a failed step leaves the file as it
// was. A file newer than this build knows gives `too_new`, a negative version `invalid`;
// `message` then says which file (`what` names the store: "credential store").
Result<int> migrate(Connection& db, std::span<const char* const> migrations, std::string_view what,
                    boost::system::error_code too_new, boost::system::error_code invalid, std::string& message);

// What a versioned store tells open_store: its name for messages ("credential store"), its
// migrations (see migrate) and its own error codes.
struct StoreSchema {
  std::string_view what;
  std::span<const char* const> migrations;
  boost::system::error_code sqlite_error;  // every later SQLite failure on the connection
  boost::system::error_code too_new;       // the file has a newer schema than `migrations` reach
  boost::system::error_code invalid;       // the file has a negative schema version
};

struct OpenedStore {
  std::unique_ptr<Connection> db;
  int schema_version = 0;  // always migrations.size()
};

// Connection::open (the file 0600, never through a symlink; the connection settings), then
// migrate. On failure *message (if given) gets a sentence a person can act on, e.g.
// "session index /x/index.db has schema version 99; this conduit supports up to 1", or
// "<file>: open: Too many levels of symbolic links"; the code is an errno (generic
// category) for the file system, else one of the schema's codes.
Result<OpenedStore> open_store(const std::filesystem::path& file, const StoreSchema& schema, std::string* message);

}  // namespace conduit::sqlite
