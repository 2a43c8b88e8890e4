// The two sides of a SQLite-backed file in a unit test: the store under test opening it
// (open_or_fail), and the same file as another program (the sqlite3 shell, a newer conduit)
// sees it, through SQLite itself (SqliteFile), to read its schema version or damage it.
// Both fail the test through Catch, so call them on the test's own thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include <catch2/catch.hpp>
#include <sqlite3.h>

namespace conduit::test {

// Opens a store of the code under test (CredentialStore, SessionIndex, ...) through its own
// `Store::open(file, &message)`, and fails the test with that message if it cannot.
template <typename Store>
Store open_or_fail(const std::filesystem::path& file) {
  std::string message;
  auto store = Store::open(file, &message);
  INFO(message);
  REQUIRE(store.has_value());
  return std::move(*store);
}

// A connection of its own to a database file, beside whatever the test has open.
class SqliteFile {
 public:
  explicit SqliteFile(const std::filesystem::path& file) { REQUIRE(sqlite3_open(file.c_str(), &db_) == SQLITE_OK); }
  SqliteFile(const SqliteFile&) = delete;
  SqliteFile& operator=(const SqliteFile&) = delete;
  ~SqliteFile() { sqlite3_close(db_); }

  // Runs one or more statements; a failure shows the SQL and SQLite's message.
  void exec(const char* sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
    INFO(sql << ": " << (message != nullptr ? message : ""));
    sqlite3_free(message);
    REQUIRE(rc == SQLITE_OK);
  }

  // The first column of the first row `sql` returns, which must return a row.
  std::string single_text(const char* sql) {
    const Statement statement = first_row(sql);
    const auto* text = sqlite3_column_text(statement.get(), 0);
    return text != nullptr ? reinterpret_cast<const char*>(text) : "";
  }
  long long single_integer(const char* sql) { return sqlite3_column_int64(first_row(sql).get(), 0); }

  // The schema version the file's owner keeps in the header (PRAGMA user_version).
  long long user_version() { return single_integer("PRAGMA user_version"); }

  // For what Catch must not do: calls off the test's thread.
  sqlite3* handle() const { return db_; }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
  };
  using Statement = std::unique_ptr<sqlite3_stmt, Finalize>;

  Statement first_row(const char* sql) {
    sqlite3_stmt* raw = nullptr;
    INFO(sql);
    REQUIRE(sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) == SQLITE_OK);
    Statement statement(raw);
    REQUIRE(sqlite3_step(statement.get()) == SQLITE_ROW);
    return statement;
  }

  sqlite3* db_ = nullptr;
};

}  // namespace conduit::test
