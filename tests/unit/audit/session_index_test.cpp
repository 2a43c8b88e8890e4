#include "audit/session_index.hpp"
#include "tests/unit/file_mode.hpp"
#include "tests/unit/sqlite_file.hpp"
#include "tests/unit/temp_dir.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

namespace fs = std::filesystem;
using namespace conduit::audit;

struct TempDir : conduit::test::TempDir {
  TempDir() : conduit::test::TempDir("conduit-index-test-") { fs::create_directories(path() / "recordings"); }
  fs::path db() const { return path() / "recordings" / "index.db"; }
};

using conduit::test::mode_of;
using conduit::test::SqliteFile;

SessionIndex open_index(const fs::path& file) { return conduit::test::open_or_fail<SessionIndex>(file); }

SessionStart session(const std::string& id, std::int64_t start_us, const std::string& user = "alice",
                     const std::string& device = "laptop-1", const std::string& asset = "plc-1") {
  SessionStart start;
  start.id = id;
  start.user = user;
  start.device = device;
  start.role = "operator";
  start.asset = asset;
  start.protocol = "modbus";
  start.listener = "modbus-main";
  start.client_address = "10.0.0.5:51000";
  start.asset_address = "192.168.10.20:502";
  start.file = id + ".rec";
  start.start_us = start_us;
  return start;
}

SessionProgress progress_of(std::uint64_t records, std::uint64_t denials = 0, std::uint64_t writes = 0) {
  SessionProgress progress;
  progress.bytes_in = records * 12;
  progress.bytes_out = records * 9;
  progress.requests = records / 2;
  progress.denials = denials;
  progress.writes = writes;
  progress.total_records = records;
  progress.sealed_records = records > 0 ? records - 1 : 0;
  progress.chain_head = std::string(64, static_cast<char>('a' + records % 6));
  progress.file_size = records * 40;
  return progress;
}

void check_same(const SessionProgress& got, const SessionProgress& want) {
  CHECK(got.bytes_in == want.bytes_in);
  CHECK(got.bytes_out == want.bytes_out);
  CHECK(got.requests == want.requests);
  CHECK(got.denials == want.denials);
  CHECK(got.writes == want.writes);
  CHECK(got.total_records == want.total_records);
  CHECK(got.sealed_records == want.sealed_records);
  CHECK(got.chain_head == want.chain_head);
  CHECK(got.file_size == want.file_size);
}

SessionRow find_row(SessionIndex& index, const std::string& id) {
  auto row = index.find(id);
  INFO(id << ": " << (row ? "" : row.error().message()));
  REQUIRE(row.has_value());
  return *row;
}

std::vector<std::string> ids_of(const IndexResult<std::vector<SessionRow>>& rows) {
  INFO((rows ? "" : rows.error().message()));
  REQUIRE(rows.has_value());
  std::vector<std::string> ids;
  for (const auto& row : *rows) ids.push_back(row.start.id);
  return ids;
}

using Ids = std::vector<std::string>;

}  // namespace

// Files, modes and schema.

TEST_CASE("a new index file is created 0600 whatever the umask, in WAL mode, and so is its WAL file",
          "[session_index]") {
  TempDir dir;
  const mode_t previous = ::umask(0);
  auto index = open_index(dir.db());
  ::umask(previous);
  REQUIRE(index.insert(session("s1", 100)).has_value());
  CHECK(index.schema_version() == kSessionIndexSchemaVersion);
  CHECK(mode_of(dir.db()) == 0600);
  REQUIRE(fs::exists(dir.db().string() + "-wal"));
  CHECK(mode_of(dir.db().string() + "-wal") == 0600);
  SqliteFile raw(dir.db());
  CHECK(raw.single_text("PRAGMA journal_mode") == "wal");
  CHECK(raw.user_version() == 1);
}

TEST_CASE("an existing index file readable by others is tightened to 0600", "[session_index]") {
  TempDir dir;
  { open_index(dir.db()); }
  ::chmod(dir.db().c_str(), 0644);
  { open_index(dir.db()); }
  CHECK(mode_of(dir.db()) == 0600);
}

TEST_CASE("an index with a newer schema version is refused with a message naming both versions",
          "[session_index]") {
  TempDir dir;
  { open_index(dir.db()); }
  { SqliteFile(dir.db()).exec("PRAGMA user_version = 7"); }
  std::string message;
  auto index = SessionIndex::open(dir.db(), &message);
  REQUIRE_FALSE(index.has_value());
  CHECK(index.error() == IndexErrc::schema_too_new);
  CHECK(message == "session index " + dir.db().string() + " has schema version 7; this conduit supports up to 1");
  CHECK(SqliteFile(dir.db()).user_version() == 7);
}

TEST_CASE("a missing recordings directory is an errno error naming the file", "[session_index]") {
  TempDir dir;
  std::string message;
  auto index = SessionIndex::open(dir.db().parent_path() / "missing" / "index.db", &message);
  REQUIRE_FALSE(index.has_value());
  CHECK(index.error() == boost::system::errc::no_such_file_or_directory);
  CHECK(message.find("missing/index.db") != std::string::npos);
}

// Rows.

TEST_CASE("a session round-trips every field and starts open, unverified, not held and with no progress",
          "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  SessionStart start;
  start.id = "2024-05-01T10:00:00Z-7f3a";
  start.user = "alice";
  start.device = "laptop-7";
  start.role = "engineer";
  start.asset = "press-line-2";
  start.protocol = "http";
  start.listener = "hmi-web";
  start.client_address = "[::1]:50000";
  start.asset_address = "192.168.1.10:80";
  start.file = "2024/05/01/7f3a.rec";
  start.start_us = 1714557600000000;
  REQUIRE(index.insert(start).has_value());

  const auto row = find_row(index, start.id);
  CHECK(row.start.id == start.id);
  CHECK(row.start.user == "alice");
  CHECK(row.start.device == "laptop-7");
  CHECK(row.start.role == "engineer");
  CHECK(row.start.asset == "press-line-2");
  CHECK(row.start.protocol == "http");
  CHECK(row.start.listener == "hmi-web");
  CHECK(row.start.client_address == "[::1]:50000");
  CHECK(row.start.asset_address == "192.168.1.10:80");
  CHECK(row.start.file == "2024/05/01/7f3a.rec");
  CHECK(row.start.start_us == 1714557600000000);
  CHECK(row.open());
  CHECK(row.end_reason.empty());
  CHECK(row.verification == Verification::unverified);
  CHECK(row.verification_detail.empty());
  CHECK_FALSE(row.hold);
  check_same(row.progress, SessionProgress{});

  auto missing = index.find("no-such-session");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error() == IndexErrc::not_found);
}

TEST_CASE("inserting a session id twice is refused and keeps the first", "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  REQUIRE(index.insert(session("s1", 100, "alice")).has_value());
  auto again = index.insert(session("s1", 200, "mallory"));
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error() == IndexErrc::already_exists);
  const auto row = find_row(index, "s1");
  CHECK(row.start.user == "alice");
  CHECK(row.start.start_us == 100);
}

TEST_CASE("invalid ids, unsafe file names and bad chain heads are refused before anything is stored",
          "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  const auto refused = [&](const SessionStart& start) {
    auto inserted = index.insert(start);
    REQUIRE_FALSE(inserted.has_value());
    CHECK(inserted.error() == IndexErrc::invalid_argument);
  };
  auto start = session("s1", 100);
  start.id = "";
  refused(start);
  start.id = std::string(kMaxIndexText + 1, 'x');
  refused(start);
  for (const char* file : {"", "/var/lib/conduit/credentials.db", "../credentials.db", "a/../../b", "./a.rec",
                           "a//b.rec", "dir/", "a/./b.rec"}) {
    INFO(file);
    start = session("s1", 100);
    start.file = file;
    refused(start);
  }
  start = session("s1", 100);
  start.user = std::string(kMaxIndexText + 1, 'u');
  refused(start);
  REQUIRE(ids_of(index.all()).empty());

  CHECK(is_safe_recording_file("2024/05/s1.rec"));
  CHECK(is_safe_recording_file("..rec"));
  CHECK_FALSE(is_safe_recording_file(std::string("a\0b", 3)));

  REQUIRE(index.insert(session("s1", 100)).has_value());
  for (const std::string& head : {std::string(64, 'A'), std::string(63, 'a'), std::string(65, 'a'),
                                 std::string(32, '\x01')}) {
    auto progress = progress_of(3);
    progress.chain_head = head;
    auto updated = index.progress("s1", progress);
    REQUIRE_FALSE(updated.has_value());
    CHECK(updated.error() == IndexErrc::invalid_argument);
    auto closed = index.close("s1", progress, 200, "client closed");
    REQUIRE_FALSE(closed.has_value());
    CHECK(closed.error() == IndexErrc::invalid_argument);
  }
  const auto row = find_row(index, "s1");
  CHECK(row.open());
  CHECK(row.progress.total_records == 0);
}

TEST_CASE("progress checkpoints replace the counters bit for bit, and close stores the final progress and the "
          "end once",
          "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  REQUIRE(index.insert(session("s1", 100)).has_value());

  REQUIRE(index.progress("s1", progress_of(5)).has_value());
  check_same(find_row(index, "s1").progress, progress_of(5));

  // Above 2^63: stored in SQLite's signed integer, read back unchanged.
  auto big = progress_of(8, 1, 2);
  big.bytes_in = std::numeric_limits<std::uint64_t>::max();
  big.file_size = (std::uint64_t{1} << 63) + 5;
  REQUIRE(index.progress("s1", big).has_value());
  auto row = find_row(index, "s1");
  check_same(row.progress, big);
  CHECK(row.open());

  const auto final_progress = progress_of(12, 1, 2);
  REQUIRE(index.close("s1", final_progress, 900, "client closed the connection").has_value());
  row = find_row(index, "s1");
  check_same(row.progress, final_progress);
  REQUIRE(row.end_us.has_value());
  CHECK(*row.end_us == 900);
  CHECK(row.end_reason == "client closed the connection");
  CHECK_FALSE(row.open());

  auto again = index.close("s1", progress_of(20), 950, "second close");
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error() == IndexErrc::already_closed);
  auto late = index.progress("s1", progress_of(30));
  REQUIRE_FALSE(late.has_value());
  CHECK(late.error() == IndexErrc::already_closed);
  row = find_row(index, "s1");
  check_same(row.progress, final_progress);
  CHECK(*row.end_us == 900);
  CHECK(row.end_reason == "client closed the connection");

  auto unknown = index.progress("s2", progress_of(1));
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error() == IndexErrc::not_found);
  unknown = index.close("s2", progress_of(1), 1000, "x");
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error() == IndexErrc::not_found);
}

TEST_CASE("mark_abnormal ends the open sessions found at start-up and leaves ended ones as they were",
          "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  REQUIRE(index.insert(session("closed", 100)).has_value());
  REQUIRE(index.insert(session("crashed", 200)).has_value());
  REQUIRE(index.insert(session("crashed-too", 150)).has_value());
  REQUIRE(index.close("closed", progress_of(4), 300, "client closed").has_value());
  REQUIRE(index.set_verification("closed", Verification::ok, "12 records, all sealed").has_value());
  REQUIRE(index.progress("crashed", progress_of(7)).has_value());

  CHECK(ids_of(index.open_sessions()) == Ids{"crashed-too", "crashed"});

  auto ended = index.mark_abnormal("closed", 5000, "should not apply");
  REQUIRE_FALSE(ended.has_value());
  CHECK(ended.error() == IndexErrc::already_closed);
  auto closed = find_row(index, "closed");
  CHECK(*closed.end_us == 300);
  CHECK(closed.end_reason == "client closed");
  CHECK(closed.verification == Verification::ok);
  CHECK(closed.verification_detail == "12 records, all sealed");

  REQUIRE(index.mark_abnormal("crashed", 5000, "verified up to record 6 (torn tail at byte 812)").has_value());
  const auto crashed = find_row(index, "crashed");
  REQUIRE(crashed.end_us.has_value());
  CHECK(*crashed.end_us == 5000);
  CHECK(crashed.end_reason == kAbnormalEndReason);
  CHECK(crashed.verification == Verification::abnormal_end);
  CHECK(crashed.verification_detail == "verified up to record 6 (torn tail at byte 812)");
  check_same(crashed.progress, progress_of(7));

  CHECK(ids_of(index.open_sessions()) == Ids{"crashed-too"});
  auto unknown = index.mark_abnormal("nobody", 5000, "");
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error() == IndexErrc::not_found);
}

TEST_CASE("set_verification records the result and its detail, and an unknown session is not found",
          "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  REQUIRE(index.insert(session("s1", 100)).has_value());
  REQUIRE(index.set_verification("s1", Verification::failed, "record 4 at byte 310: CRC mismatch").has_value());
  auto row = find_row(index, "s1");
  CHECK(row.verification == Verification::failed);
  CHECK(row.verification_detail == "record 4 at byte 310: CRC mismatch");
  REQUIRE(index.set_verification("s1", Verification::ok, "").has_value());
  row = find_row(index, "s1");
  CHECK(row.verification == Verification::ok);
  CHECK(row.verification_detail.empty());
  auto unknown = index.set_verification("s2", Verification::ok, "");
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error() == IndexErrc::not_found);
}

TEST_CASE("a held session cannot be removed until it is released", "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  REQUIRE(index.insert(session("s1", 100)).has_value());
  REQUIRE(index.close("s1", progress_of(3), 200, "done").has_value());
  REQUIRE(index.set_hold("s1", true).has_value());
  CHECK(find_row(index, "s1").hold);

  auto removed = index.remove("s1");
  REQUIRE_FALSE(removed.has_value());
  CHECK(removed.error() == IndexErrc::on_hold);
  CHECK(find_row(index, "s1").hold);

  REQUIRE(index.set_hold("s1", false).has_value());
  CHECK_FALSE(find_row(index, "s1").hold);
  REQUIRE(index.remove("s1").has_value());
  auto gone = index.find("s1");
  REQUIRE_FALSE(gone.has_value());
  CHECK(gone.error() == IndexErrc::not_found);

  removed = index.remove("s1");
  REQUIRE_FALSE(removed.has_value());
  CHECK(removed.error() == IndexErrc::not_found);
  auto unknown = index.set_hold("s1", true);
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error() == IndexErrc::not_found);
}

TEST_CASE("a session still being recorded cannot be removed, and removing one leaves the others",
          "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  REQUIRE(index.insert(session("open", 100)).has_value());
  REQUIRE(index.insert(session("done", 50)).has_value());
  REQUIRE(index.insert(session("kept", 70)).has_value());
  REQUIRE(index.close("done", progress_of(1), 60, "done").has_value());
  auto removed = index.remove("open");
  REQUIRE_FALSE(removed.has_value());
  CHECK(removed.error() == IndexErrc::still_open);
  REQUIRE(index.remove("done").has_value());
  CHECK(ids_of(index.all()) == Ids{"kept", "open"});
}

// Listing and filters.

namespace {

// s1..s5 in start order; s4 is still open.
//   id  user   device    asset  start  end   denials writes
//   s1  alice  laptop-1  plc-1   100   200   0       0
//   s2  bob    laptop-2  plc-1   300   400   2       0
//   s3  alice  laptop-2  hmi-1   500   600   0       3
//   s4  carol  laptop-1  plc-2   700   open  1       1
//   s5  alice  laptop-1  plc-2   800   900   0       0
void add_fixture(SessionIndex& index) {
  const auto add = [&](const std::string& id, std::int64_t start, const std::string& user, const std::string& device,
                       const std::string& asset, std::optional<std::int64_t> end, std::uint64_t denials,
                       std::uint64_t writes) {
    REQUIRE(index.insert(session(id, start, user, device, asset)).has_value());
    if (end) {
      REQUIRE(index.close(id, progress_of(10, denials, writes), *end, "done").has_value());
    } else {
      REQUIRE(index.progress(id, progress_of(10, denials, writes)).has_value());
    }
  };
  // Inserted out of order: the order must come from the query.
  add("s3", 500, "alice", "laptop-2", "hmi-1", 600, 0, 3);
  add("s1", 100, "alice", "laptop-1", "plc-1", 200, 0, 0);
  add("s5", 800, "alice", "laptop-1", "plc-2", 900, 0, 0);
  add("s2", 300, "bob", "laptop-2", "plc-1", 400, 2, 0);
  add("s4", 700, "carol", "laptop-1", "plc-2", std::nullopt, 1, 1);
}

std::vector<std::string> listed(SessionIndex& index, const SessionFilter& filter) { return ids_of(index.list(filter)); }

}  // namespace

TEST_CASE("list is newest first and all is oldest first, ties in start time ordered by id", "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  add_fixture(index);
  REQUIRE(index.insert(session("s6b", 800)).has_value());
  REQUIRE(index.insert(session("s6a", 800)).has_value());
  CHECK(listed(index, {}) == Ids{"s6b", "s6a", "s5", "s4", "s3", "s2", "s1"});
  CHECK(ids_of(index.all()) == Ids{"s1", "s2", "s3", "s4", "s5", "s6a", "s6b"});
}

TEST_CASE("list filters by user, device and asset, exactly and together", "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  add_fixture(index);
  SessionFilter filter;
  filter.user = "alice";
  CHECK(listed(index, filter) == Ids{"s5", "s3", "s1"});
  filter = {};
  filter.user = "ali";
  CHECK(listed(index, filter).empty());
  filter = {};
  filter.device = "laptop-1";
  CHECK(listed(index, filter) == Ids{"s5", "s4", "s1"});
  filter = {};
  filter.asset = "plc-1";
  CHECK(listed(index, filter) == Ids{"s2", "s1"});
  filter = {};
  filter.user = "alice";
  filter.asset = "plc-2";
  CHECK(listed(index, filter) == Ids{"s5"});
  filter.device = "laptop-2";
  CHECK(listed(index, filter).empty());
}

TEST_CASE("list by time returns sessions overlapping the interval, ends included, an open session running to now",
          "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  add_fixture(index);
  const auto between = [&](std::optional<std::int64_t> since, std::optional<std::int64_t> until) {
    SessionFilter filter;
    filter.since_us = since;
    filter.until_us = until;
    return listed(index, filter);
  };
  // s2 (300..400) started before and s3 (500..600) ended after the interval.
  CHECK(between(350, 550) == Ids{"s3", "s2"});
  // Both ends touch: s2 ends at 400, s3 starts at 500.
  CHECK(between(400, 500) == Ids{"s3", "s2"});
  CHECK(between(401, 499).empty());
  // Long after every closed session: only the open one.
  CHECK(between(5000, 6000) == Ids{"s4"});
  CHECK(between(650, std::nullopt) == Ids{"s5", "s4"});
  CHECK(between(std::nullopt, 150) == Ids{"s1"});
  // A session that spans the whole interval.
  CHECK(between(150, 160) == Ids{"s1"});
}

TEST_CASE("list keeps sessions with denials, with writes, or still open when asked", "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  add_fixture(index);
  SessionFilter filter;
  filter.had_denials = true;
  CHECK(listed(index, filter) == Ids{"s4", "s2"});
  filter = {};
  filter.had_writes = true;
  CHECK(listed(index, filter) == Ids{"s4", "s3"});
  filter = {};
  filter.open_only = true;
  CHECK(listed(index, filter) == Ids{"s4"});
  filter = {};
  filter.had_denials = true;
  filter.had_writes = true;
  filter.open_only = true;
  filter.device = "laptop-1";
  CHECK(listed(index, filter) == Ids{"s4"});
}

TEST_CASE("list limit keeps the newest sessions", "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  add_fixture(index);
  SessionFilter filter;
  filter.limit = 2;
  CHECK(listed(index, filter) == Ids{"s5", "s4"});
  filter.user = "alice";
  CHECK(listed(index, filter) == Ids{"s5", "s3"});
  filter.limit = 0;
  CHECK(listed(index, filter).empty());
  filter.limit = std::numeric_limits<std::size_t>::max();
  CHECK(listed(index, filter) == Ids{"s5", "s3", "s1"});
}

// Sharing the file.

TEST_CASE("two index handles on one file see each other's writes", "[session_index]") {
  TempDir dir;
  auto gateway = open_index(dir.db());
  auto cli = open_index(dir.db());
  REQUIRE(gateway.insert(session("s1", 100)).has_value());
  CHECK(ids_of(cli.open_sessions()) == Ids{"s1"});
  REQUIRE(cli.set_hold("s1", true).has_value());
  CHECK(find_row(gateway, "s1").hold);
  REQUIRE(gateway.close("s1", progress_of(4), 400, "done").has_value());
  const auto seen = find_row(cli, "s1");
  REQUIRE(seen.end_us.has_value());
  CHECK(*seen.end_us == 400);
  CHECK(seen.hold);
  auto removed = gateway.remove("s1");
  REQUIRE_FALSE(removed.has_value());
  CHECK(removed.error() == IndexErrc::on_hold);
}

TEST_CASE("a SQLite failure is sqlite_error and names the file", "[session_index]") {
  TempDir dir;
  auto index = open_index(dir.db());
  { SqliteFile(dir.db()).exec("DROP TABLE sessions"); }
  auto rows = index.all();
  REQUIRE_FALSE(rows.has_value());
  CHECK(rows.error() == IndexErrc::sqlite_error);
  CHECK(index.last_error_message().find(dir.db().string()) == 0);
  CHECK(index.last_error_message().find("sessions") != std::string::npos);
}

TEST_CASE("verification states and index errors have stable names", "[session_index]") {
  CHECK(to_string(Verification::unverified) == "unverified");
  CHECK(to_string(Verification::ok) == "ok");
  CHECK(to_string(Verification::failed) == "failed");
  CHECK(to_string(Verification::abnormal_end) == "abnormal_end");
  for (auto verification :
       {Verification::unverified, Verification::ok, Verification::failed, Verification::abnormal_end}) {
    CHECK(verification_from(to_string(verification)) == verification);
  }
  CHECK_FALSE(verification_from("OK").has_value());
  CHECK(make_error_code(IndexErrc::on_hold).message() == "the session is on hold; release it before deleting it");
  CHECK(std::string(index_category().name()) == "conduit.session_index");
}
