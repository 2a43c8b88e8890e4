#include "mfa/credential_store.hpp"
#include "tests/unit/file_mode.hpp"
#include "tests/unit/sqlite_file.hpp"
#include "tests/unit/temp_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <sqlite3.h>

namespace {

namespace fs = std::filesystem;
using namespace conduit::mfa;
using namespace std::string_literals;

struct TempDir : conduit::test::TempDir {
  TempDir() : conduit::test::TempDir("conduit-store-test-") {}
  fs::path db() const { return path() / "credentials.db"; }
};

using conduit::test::mode_of;
using conduit::test::SqliteFile;

CredentialStore open_store(const fs::path& file) { return conduit::test::open_or_fail<CredentialStore>(file); }

StoredUser user(const std::string& name, std::vector<std::string> roles = {}) {
  return {.name = name, .roles = std::move(roles), .disabled = false, .created = 1000};
}

// An ES256 credential whose id holds a NUL and high bytes, as real ids do.
StoredCredential credential(const std::string& id, const std::string& owner, std::int64_t created = 2000) {
  return {.id = id,
          .user = owner,
          .cose_alg = -7,
          .public_key = std::string(64, '\x04'),
          .sign_count = 0,
          .aaguid = std::string(16, '\xaa'),
          .created = created,
          .last_used = 0,
          .revoked = false};
}

// Named fields, because GCC 12 warns about designated initializers that leave some out.
StoredDevice device(const std::string& id, std::vector<std::string> users = {}, std::int64_t created = 0) {
  StoredDevice device;
  device.id = id;
  device.users = std::move(users);
  device.created = created;
  return device;
}

Lockdown lockdown(const std::string& role, const std::string& asset_pattern, const std::string& reason,
                  std::int64_t at) {
  Lockdown lockdown;
  lockdown.role = role;
  lockdown.asset_pattern = asset_pattern;
  lockdown.reason = reason;
  lockdown.at = at;
  return lockdown;
}

const std::string kIdA = "\x00\xff\x10id-a"s;
const std::string kIdB = "\x01\xfe\x20id-b"s;
const std::string kSerial = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const std::string kFingerprint(64, 'e');

std::string code_hash(char fill) { return std::string(32, fill); }

}  // namespace

// Files, modes and schema.

TEST_CASE("a new store file is created 0600 whatever the umask, and so is its WAL file", "[credential_store]") {
  TempDir dir;
  const mode_t previous = ::umask(0);
  auto store = open_store(dir.db());
  ::umask(previous);
  REQUIRE(store.add_user(user("alice")).has_value());
  CHECK(mode_of(dir.db()) == 0600);
  REQUIRE(fs::exists(dir.path() / "credentials.db-wal"));
  CHECK(mode_of(dir.path() / "credentials.db-wal") == 0600);
  CHECK(store.schema_version() == kCredentialStoreSchemaVersion);
}

TEST_CASE("an existing empty SQLite file at version 0 is migrated to version 1 and tightened to 0600",
          "[credential_store]") {
  TempDir dir;
  {
    SqliteFile raw(dir.db());
    raw.exec("CREATE TABLE scratch (x); DROP TABLE scratch;");  // a real, empty database
    REQUIRE(raw.user_version() == 0);
  }
  ::chmod(dir.db().c_str(), 0644);
  {
    auto store = open_store(dir.db());
    CHECK(store.schema_version() == 1);
    CHECK(store.add_user(user("alice")).has_value());
  }
  CHECK(mode_of(dir.db()) == 0600);
  SqliteFile raw(dir.db());
  CHECK(raw.user_version() == 1);
  CHECK(raw.single_integer("SELECT count(*) FROM users") == 1);
}

TEST_CASE("a store with a newer schema version is refused with a message naming both versions",
          "[credential_store]") {
  TempDir dir;
  { open_store(dir.db()); }
  { SqliteFile(dir.db()).exec("PRAGMA user_version = 99"); }
  std::string message;
  auto store = CredentialStore::open(dir.db(), &message);
  REQUIRE_FALSE(store.has_value());
  CHECK(store.error() == StoreErrc::schema_too_new);
  CHECK(message == "credential store " + dir.db().string() + " has schema version 99; this conduit supports up to 1");
  CHECK(SqliteFile(dir.db()).user_version() == 99);
}

TEST_CASE("a migration that fails leaves the file as it was", "[credential_store]") {
  TempDir dir;
  // The migration's last table already exists: every table before it must be rolled back.
  { SqliteFile(dir.db()).exec("CREATE TABLE enrollment_codes (something_else TEXT)"); }
  std::string message;
  auto store = CredentialStore::open(dir.db(), &message);
  REQUIRE_FALSE(store.has_value());
  CHECK(store.error() == StoreErrc::sqlite_error);
  CHECK(message.find(dir.db().string()) == 0);
  CHECK(message.find("enrollment_codes") != std::string::npos);
  SqliteFile raw(dir.db());
  CHECK(raw.user_version() == 0);
  CHECK(raw.single_integer("SELECT count(*) FROM sqlite_master WHERE name = 'users'") == 0);
}

TEST_CASE("a file that is not a database, or a symlink, is refused with the file named", "[credential_store]") {
  TempDir dir;
  std::string message;
  SECTION("not a database") {
    std::ofstream(dir.db()) << "this is not an SQLite file, it is a text file of some length";
    auto store = CredentialStore::open(dir.db(), &message);
    REQUIRE_FALSE(store.has_value());
    CHECK(store.error() == StoreErrc::sqlite_error);
  }
  SECTION("a symlink") {
    { open_store(dir.path() / "real.db"); }
    fs::create_symlink(dir.path() / "real.db", dir.db());
    auto store = CredentialStore::open(dir.db(), &message);
    REQUIRE_FALSE(store.has_value());
    CHECK(store.error() == boost::system::errc::too_many_symbolic_link_levels);
  }
  CHECK(message.find(dir.db().string()) == 0);
}

// Users.

TEST_CASE("users round-trip sorted by name, with roles as a sorted set", "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  auto bob = user("bob", {"viewer", "engineer", "operator", "viewer"});
  bob.disabled = true;
  bob.created = 1234;
  REQUIRE(store.add_user(bob).has_value());
  REQUIRE(store.add_user(user("alice")).has_value());

  auto found = store.find_user("bob");
  REQUIRE(found.has_value());
  CHECK(found->name == "bob");
  CHECK(found->roles == std::vector<std::string>{"engineer", "operator", "viewer"});
  CHECK(found->disabled);
  CHECK(found->created == 1234);

  auto all = store.users();
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].name == "alice");
  CHECK((*all)[0].roles.empty());
  CHECK((*all)[1].roles.size() == 3);
  CHECK(store.find_user("carol").error() == StoreErrc::not_found);
}

TEST_CASE("adding a user twice is refused and keeps the first", "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  REQUIRE(store.add_user(user("alice", {"operator"})).has_value());
  CHECK(store.add_user(user("alice", {"admin"})).error() == StoreErrc::already_exists);
  CHECK(store.find_user("alice")->roles == std::vector<std::string>{"operator"});
}

TEST_CASE("roles are replaced and users disabled and re-enabled, and an unknown user is not found",
          "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  REQUIRE(store.add_user(user("alice", {"operator", "viewer"})).has_value());
  REQUIRE(store.set_user_roles("alice", {"engineer"}).has_value());
  CHECK(store.find_user("alice")->roles == std::vector<std::string>{"engineer"});
  REQUIRE(store.set_user_disabled("alice", true).has_value());
  CHECK(store.find_user("alice")->disabled);
  REQUIRE(store.set_user_disabled("alice", false).has_value());
  CHECK_FALSE(store.find_user("alice")->disabled);
  CHECK(store.set_user_roles("bob", {"engineer"}).error() == StoreErrc::not_found);
  CHECK(store.set_user_disabled("bob", true).error() == StoreErrc::not_found);
}

// FIDO2 credentials.

TEST_CASE("a credential round-trips byte for byte, and credentials_of lists oldest first", "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  REQUIRE(store.add_user(user("alice")).has_value());
  REQUIRE(store.add_user(user("bob")).has_value());
  auto eddsa = credential(kIdA, "alice", 3000);
  eddsa.cose_alg = -8;
  eddsa.public_key = "\x00\x01\x02"s + std::string(29, '\xff');
  eddsa.sign_count = 4294967295u;
  eddsa.last_used = 3500;
  REQUIRE(store.add_credential(eddsa).has_value());
  REQUIRE(store.add_credential(credential(kIdB, "alice", 2000)).has_value());
  REQUIRE(store.add_credential(credential("bob-key", "bob")).has_value());

  auto found = store.find_credential(kIdA);
  REQUIRE(found.has_value());
  CHECK(found->id == kIdA);
  CHECK(found->user == "alice");
  CHECK(found->cose_alg == -8);
  CHECK(found->public_key == eddsa.public_key);
  CHECK(found->sign_count == 4294967295u);
  CHECK(found->aaguid == std::string(16, '\xaa'));
  CHECK(found->created == 3000);
  CHECK(found->last_used == 3500);
  CHECK_FALSE(found->revoked);

  auto of_alice = store.credentials_of("alice");
  REQUIRE(of_alice.has_value());
  REQUIRE(of_alice->size() == 2);
  CHECK((*of_alice)[0].id == kIdB);
  CHECK((*of_alice)[1].id == kIdA);
  CHECK(store.find_credential("\x00\xff"s).error() == StoreErrc::not_found);
}

TEST_CASE("a credential id already stored for any user is refused, as is one for an unknown user",
          "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  REQUIRE(store.add_user(user("alice")).has_value());
  REQUIRE(store.add_user(user("bob")).has_value());
  REQUIRE(store.add_credential(credential(kIdA, "alice")).has_value());
  CHECK(store.add_credential(credential(kIdA, "bob")).error() == StoreErrc::already_exists);
  CHECK(store.add_credential(credential(kIdB, "mallory")).error() == StoreErrc::not_found);
  CHECK(store.find_credential(kIdA)->user == "alice");
  CHECK(store.credentials_of("bob")->empty());
}

TEST_CASE("the sign count compare-and-set loses against a second handle that moved it first",
          "[credential_store]") {
  TempDir dir;
  auto gateway = open_store(dir.db());
  auto other = open_store(dir.db());
  REQUIRE(gateway.add_user(user("alice")).has_value());
  REQUIRE(gateway.add_credential(credential(kIdA, "alice")).has_value());

  auto first = other.update_sign_count(kIdA, 0, 5, 7000);
  REQUIRE(first.has_value());
  CHECK(*first);
  auto stale = gateway.update_sign_count(kIdA, 0, 6, 7001);
  REQUIRE(stale.has_value());
  CHECK_FALSE(*stale);

  auto stored = gateway.find_credential(kIdA);
  CHECK(stored->sign_count == 5);
  CHECK(stored->last_used == 7000);
  CHECK(*gateway.update_sign_count(kIdA, 5, 6, 7002));
  CHECK(gateway.update_sign_count("unknown", 0, 1, 7003).error() == StoreErrc::not_found);
}

// Devices.

TEST_CASE("devices round-trip with their certificate and bound users, and binding is idempotent",
          "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  REQUIRE(store.add_user(user("alice")).has_value());
  REQUIRE(store.add_user(user("bob")).has_value());
  const auto laptop = device("laptop-7", {"bob"}, 50);
  REQUIRE(store.add_device(laptop).has_value());
  REQUIRE(store.add_device(device("hmi-1", {}, 60)).has_value());
  CHECK(store.add_device(laptop).error() == StoreErrc::already_exists);

  REQUIRE(store.bind_user("laptop-7", "alice").has_value());
  REQUIRE(store.bind_user("laptop-7", "alice").has_value());
  REQUIRE(store.set_device_certificate("laptop-7", kSerial, kFingerprint).has_value());

  auto found = store.find_device("laptop-7");
  REQUIRE(found.has_value());
  CHECK(found->users == std::vector<std::string>{"alice", "bob"});
  CHECK(found->certificate_serial == kSerial);
  CHECK(found->certificate_sha256 == kFingerprint);
  CHECK(found->created == 50);
  CHECK_FALSE(found->revoked);

  auto all = store.devices();
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].id == "hmi-1");
  CHECK((*all)[1].users.size() == 2);

  CHECK(store.bind_user("nowhere", "alice").error() == StoreErrc::not_found);
  CHECK(store.bind_user("laptop-7", "mallory").error() == StoreErrc::not_found);
  CHECK(store.set_device_certificate("nowhere", kSerial, kFingerprint).error() == StoreErrc::not_found);
  CHECK(store.add_device(device("tablet", {"mallory"})).error() == StoreErrc::not_found);
  CHECK(store.find_device("tablet").error() == StoreErrc::not_found);
}

// Revocations and lockdowns.

TEST_CASE("revoking marks the row, keeps the first reason when repeated, and persists across reopen",
          "[credential_store]") {
  TempDir dir;
  {
    auto store = open_store(dir.db());
    REQUIRE(store.add_user(user("alice")).has_value());
    REQUIRE(store.add_credential(credential(kIdA, "alice")).has_value());
    REQUIRE(store.add_device(device("laptop-7")).has_value());
    REQUIRE(store.revoke(RevocationKind::user, "alice", "left the company", 100).has_value());
    REQUIRE(store.revoke(RevocationKind::key, "00ff106964", "ignored: not this key", 101).error() ==
            StoreErrc::not_found);
    REQUIRE(store.revoke(RevocationKind::key, "00ff1069642d61", "key lost", 102).has_value());
    REQUIRE(store.revoke(RevocationKind::device, "laptop-7", "stolen", 103).has_value());
    REQUIRE(store.revoke(RevocationKind::certificate, kSerial, "superseded", 104).has_value());
    REQUIRE(store.revoke(RevocationKind::user, "alice", "second reason", 200).has_value());
  }
  auto store = open_store(dir.db());
  CHECK(store.find_user("alice")->disabled);
  CHECK(store.find_credential(kIdA)->revoked);
  CHECK(store.find_device("laptop-7")->revoked);

  auto revocations = store.revocations();
  REQUIRE(revocations.has_value());
  REQUIRE(revocations->size() == 4);
  CHECK((*revocations)[0].kind == RevocationKind::user);
  CHECK((*revocations)[0].id == "alice");
  CHECK((*revocations)[0].reason == "left the company");
  CHECK((*revocations)[0].at == 100);
  CHECK((*revocations)[1].id == "00ff1069642d61");
  CHECK((*revocations)[2].kind == RevocationKind::device);
  CHECK((*revocations)[3].kind == RevocationKind::certificate);
  CHECK((*revocations)[3].id == kSerial);
}

TEST_CASE("revoking a user or device that does not exist is not found and records nothing", "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  CHECK(store.revoke(RevocationKind::user, "ghost", "", 1).error() == StoreErrc::not_found);
  CHECK(store.revoke(RevocationKind::device, "ghost", "", 1).error() == StoreErrc::not_found);
  CHECK(store.revocations()->empty());
}

TEST_CASE("lockdowns persist until lifted, and their ids are never reused", "[credential_store]") {
  TempDir dir;
  std::int64_t first = 0;
  {
    auto store = open_store(dir.db());
    first = *store.add_lockdown(lockdown("supplier", "", "incident 42", 10));
    REQUIRE(store.add_lockdown(lockdown("", "line-2/*", "", 11)).has_value());
  }
  auto store = open_store(dir.db());
  auto active = store.lockdowns();
  REQUIRE(active.has_value());
  REQUIRE(active->size() == 2);
  CHECK((*active)[0].id == first);
  CHECK((*active)[0].role == "supplier");
  CHECK((*active)[0].reason == "incident 42");
  CHECK((*active)[1].asset_pattern == "line-2/*");
  CHECK((*active)[1].at == 11);

  CHECK(*store.lift_lockdowns() == 2);
  CHECK(store.lockdowns()->empty());
  CHECK(*store.lift_lockdowns() == 0);
  CHECK(*store.add_lockdown(lockdown("", "", "everything", 12)) > first + 1);
}

// Enrollment codes.

TEST_CASE("an enrollment code is redeemed once, and expires when now reaches its expiry", "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  REQUIRE(store.add_user(user("alice")).has_value());
  REQUIRE(store.add_enrollment_code(code_hash('a'), "alice", 1000).has_value());
  REQUIRE(store.add_enrollment_code(code_hash('b'), "alice", 1000).has_value());

  auto redeemed = store.redeem_enrollment_code(code_hash('a'), 999);
  REQUIRE(redeemed.has_value());
  CHECK(*redeemed == "alice");
  CHECK(store.redeem_enrollment_code(code_hash('a'), 999).error() == StoreErrc::already_used);
  CHECK(store.redeem_enrollment_code(code_hash('a'), 5000).error() == StoreErrc::already_used);

  CHECK(store.redeem_enrollment_code(code_hash('b'), 1000).error() == StoreErrc::expired);
  CHECK(store.redeem_enrollment_code(code_hash('c'), 1).error() == StoreErrc::not_found);

  CHECK(store.add_enrollment_code(code_hash('a'), "alice", 9000).error() == StoreErrc::already_exists);
  CHECK(store.add_enrollment_code(code_hash('d'), "mallory", 9000).error() == StoreErrc::not_found);
}

TEST_CASE("an enrollment code redeemed through one handle is used for the other", "[credential_store]") {
  TempDir dir;
  auto first = open_store(dir.db());
  auto second = open_store(dir.db());
  REQUIRE(first.add_user(user("alice")).has_value());
  REQUIRE(first.add_enrollment_code(code_hash('a'), "alice", 1000).has_value());
  REQUIRE(second.redeem_enrollment_code(code_hash('a'), 10).has_value());
  CHECK(first.redeem_enrollment_code(code_hash('a'), 10).error() == StoreErrc::already_used);
}

// Several handles, as the gateway and an admin CLI process.

TEST_CASE("two stores on the same file see each other's writes", "[credential_store]") {
  TempDir dir;
  auto gateway = open_store(dir.db());
  auto admin = open_store(dir.db());
  REQUIRE(admin.add_user(user("alice", {"operator"})).has_value());
  CHECK(gateway.find_user("alice")->roles == std::vector<std::string>{"operator"});
  REQUIRE(gateway.add_credential(credential(kIdA, "alice")).has_value());
  CHECK(admin.credentials_of("alice")->size() == 1);
  REQUIRE(admin.revoke(RevocationKind::key, "00ff1069642d61", "lost", 5).has_value());
  CHECK(gateway.find_credential(kIdA)->revoked);
  REQUIRE(admin.add_lockdown(lockdown("operator", "", "", 6)).has_value());
  CHECK(gateway.lockdowns()->size() == 1);
}

TEST_CASE("a write waits for another process's write transaction instead of failing at once",
          "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  SqliteFile other(dir.db());
  other.exec("BEGIN IMMEDIATE; INSERT INTO users (name, disabled, created) VALUES ('bob', 0, 1);");
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    sqlite3_exec(other.handle(), "COMMIT", nullptr, nullptr, nullptr);  // no Catch macros off the main thread
  });
  const auto added = store.add_user(user("alice"));
  releaser.join();
  CHECK(added.has_value());
  CHECK(store.users()->size() == 2);
}

TEST_CASE("a SQLite failure names the file and SQLite's reason", "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  CHECK(store.last_error_message().empty());
  SqliteFile(dir.db()).exec("DROP TABLE lockdowns");
  auto lockdowns = store.lockdowns();
  REQUIRE_FALSE(lockdowns.has_value());
  CHECK(lockdowns.error() == StoreErrc::sqlite_error);
  CHECK(store.last_error_message() == dir.db().string() + ": no such table: lockdowns");
  CHECK(store.users().has_value());
  CHECK(store.last_error_message().empty());
}

// Validation.

TEST_CASE("invalid names, ids, keys, hashes and texts are refused before anything is stored",
          "[credential_store]") {
  TempDir dir;
  auto store = open_store(dir.db());
  REQUIRE(store.add_user(user("alice")).has_value());
  REQUIRE(store.add_device(device("laptop-7")).has_value());
  const auto invalid = [](const auto& result) {
    return !result.has_value() && result.error() == StoreErrc::invalid_argument;
  };

  CHECK(invalid(store.add_user(user(""))));
  CHECK(invalid(store.add_user(user(std::string(65, 'a')))));
  CHECK(invalid(store.add_user(user("al ice"))));
  CHECK(invalid(store.add_user(user("bob", {"ops/admin"}))));
  CHECK(invalid(store.set_user_roles("alice", {""})));

  auto bad = credential("", "alice");
  CHECK(invalid(store.add_credential(bad)));
  bad.id = std::string(1024, 'x');
  CHECK(invalid(store.add_credential(bad)));
  CHECK(store.add_credential(credential(std::string(1023, 'x'), "alice")).has_value());
  bad = credential(kIdA, "alice");
  bad.aaguid = std::string(15, 'a');
  CHECK(invalid(store.add_credential(bad)));
  bad = credential(kIdA, "alice");
  bad.cose_alg = -8;  // an EdDSA key is 32 bytes, not 64
  CHECK(invalid(store.add_credential(bad)));
  bad.cose_alg = -257;  // RS256: not supported
  CHECK(invalid(store.add_credential(bad)));

  auto half_certificate = device("tablet");
  half_certificate.certificate_serial = kSerial;  // without its fingerprint
  CHECK(invalid(store.add_device(half_certificate)));
  CHECK(invalid(store.set_device_certificate("laptop-7", "0A1B", kFingerprint)));
  CHECK(invalid(store.set_device_certificate("laptop-7", kSerial, std::string(63, 'e'))));

  CHECK(invalid(store.revoke(RevocationKind::key, "00F", "", 1)));
  CHECK(invalid(store.revoke(RevocationKind::key, "00FF", "", 1)));
  CHECK(invalid(store.revoke(RevocationKind::certificate, "not-hex", "", 1)));
  CHECK(invalid(store.revoke(RevocationKind::user, "alice", "line one\nforged line", 1)));
  CHECK(invalid(store.add_lockdown(lockdown("bad role", "", "", 1))));
  CHECK(invalid(store.add_lockdown(lockdown("", "", std::string(1025, 'r'), 1))));
  CHECK(invalid(store.add_enrollment_code(std::string(31, 'a'), "alice", 10)));
  CHECK(invalid(store.redeem_enrollment_code(std::string(33, 'a'), 1)));

  CHECK(store.users()->size() == 1);
  CHECK(store.credentials_of("alice")->size() == 1);
  CHECK(store.revocations()->empty());
  CHECK(store.lockdowns()->empty());
}

TEST_CASE("revocation kinds and store errors have stable names", "[credential_store]") {
  for (auto kind : {RevocationKind::user, RevocationKind::key, RevocationKind::device, RevocationKind::certificate}) {
    CHECK(revocation_kind_from(to_string(kind)) == kind);
  }
  CHECK(to_string(RevocationKind::key) == "key");
  CHECK_FALSE(revocation_kind_from("credential").has_value());
  const boost::system::error_code error = StoreErrc::already_used;
  CHECK(std::string(error.category().name()) == "conduit.store");
  CHECK(error.message() == "the enrollment code has already been used");
}
