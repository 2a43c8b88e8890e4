// Small RAII helpers over the SQLite C API, private to the mfa library: a connection that
// remembers its file name and last error, prepared statements with bound parameters, and
// transactions that roll back unless committed. Values only ever reach SQL as bound
// parameters. Failures come back as StoreErrc::sqlite_error (or an errno code for the file
// system) with Connection::last_error() saying "<file>: <sqlite3_errmsg>".
//
// Not thread-safe: one Connection per thread, like the CredentialStore that owns it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "mfa/credential_store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace conduit::mfa::sqlite {

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
  StoreResult<void> commit();

 private:
  friend class Connection;
  explicit Transaction(Connection* db) noexcept : db_(db) {}
  Connection* db_;
};

class Connection {
 public:
  // Creates the file with mode 0600 if missing (never through a symlink), sets an existing
  // file to 0600, opens it and applies the connection settings: busy_timeout 5000 ms,
  // foreign_keys ON, journal_mode WAL, synchronous FULL. On failure error_message says why.
  static StoreResult<std::unique_ptr<Connection>> open(const std::filesystem::path& file,
                                                       std::string& error_message);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  template <typename... Args>
  StoreResult<Statement> prepare(std::string_view sql, const Args&... args) {
    auto statement = prepare_unbound(sql);
    if (!statement) return statement;
    [[maybe_unused]] int index = 0;
    (statement->bind(++index, args), ...);
    return statement;
  }

  // True when a row is ready, false when the statement is done.
  StoreResult<bool> step(Statement& statement);

  // Runs a statement to completion, ignoring any rows.
  template <typename... Args>
  StoreResult<void> execute(std::string_view sql, const Args&... args) {
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
  StoreResult<bool> exists(std::string_view sql, const Args&... args) {
    auto statement = prepare(sql, args...);
    if (!statement) return {boost::system::in_place_error, statement.error()};
    return step(*statement);
  }

  // Calls on_row(statement) for every row the statement returns.
  template <typename OnRow>
  StoreResult<void> for_each_row(Statement& statement, OnRow&& on_row) {
    for (;;) {
      auto row = step(statement);
      if (!row) return row.error();
      if (!*row) return {};
      on_row(static_cast<const Statement&>(statement));
    }
  }

  // Several statements without parameters: schema migrations and pragmas.
  StoreResult<void> execute_script(const char* sql);

  // IMMEDIATE takes the write lock at once, so a read-check-write cannot lose a race (and
  // never meets SQLITE_BUSY_SNAPSHOT half-way); a read transaction gives several SELECTs
  // one consistent snapshot.
  StoreResult<Transaction> begin_write();
  StoreResult<Transaction> begin_read();

  std::int64_t changes() const noexcept;
  std::int64_t last_insert_rowid() const noexcept;

  const std::filesystem::path& file() const noexcept { return file_; }
  const std::string& last_error() const noexcept { return last_error_; }
  void clear_error() noexcept { last_error_.clear(); }
  // Records "<file>: <sqlite3_errmsg>" and returns sqlite_error.
  boost::system::error_code sqlite_failure();

 private:
  friend class Transaction;
  Connection(sqlite3* db, std::filesystem::path file) noexcept : db_(db), file_(std::move(file)) {}
  StoreResult<Statement> prepare_unbound(std::string_view sql);
  StoreResult<Transaction> begin(const char* sql);

  sqlite3* db_;
  std::filesystem::path file_;
  std::string last_error_;
};

}  // namespace conduit::mfa::sqlite
