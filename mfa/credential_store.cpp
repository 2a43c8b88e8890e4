#include "mfa/credential_store.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include "common/sqlite.hpp"
#include "mfa/credential_store_detail.hpp"

namespace conduit::mfa {

namespace {

class StoreCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "conduit.store"; }
  std::string message(int value) const override {
    switch (static_cast<StoreErrc>(value)) {
      case StoreErrc::not_found: return "not found in the credential store";
      case StoreErrc::already_exists: return "already in the credential store";
      case StoreErrc::invalid_argument: return "invalid name, id, key or text for the credential store";
      case StoreErrc::schema_too_new: return "the credential store was written by a newer conduit";
      case StoreErrc::sqlite_error: return "the credential store database failed";
      case StoreErrc::expired: return "the enrollment code has expired";
      case StoreErrc::already_used: return "the enrollment code has already been used";
    }
    return "unknown credential store error";
  }
};

// Schema migrations, oldest first: kMigrations[i] takes a file from version i to i + 1 and
// sets user_version itself, so each number sits next to the change it names. Never edit a
// released migration; append one. Roles are a child table rather than a JSON column so
// that "who has role X" (a lockdown by role) is a plain indexed query.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE users (
  name TEXT PRIMARY KEY NOT NULL,
  disabled INTEGER NOT NULL CHECK (disabled IN (0, 1)),
  created INTEGER NOT NULL
);
CREATE TABLE user_roles (
  user TEXT NOT NULL REFERENCES users(name),
  role TEXT NOT NULL,
  PRIMARY KEY (user, role)
);
CREATE INDEX user_roles_by_role ON user_roles(role);
CREATE TABLE credentials (
  id BLOB PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 1023),
  user TEXT NOT NULL REFERENCES users(name),
  cose_alg INTEGER NOT NULL,
  public_key BLOB NOT NULL,
  sign_count INTEGER NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
  aaguid BLOB NOT NULL CHECK (length(aaguid) = 16),
  created INTEGER NOT NULL,
  last_used INTEGER NOT NULL,
  revoked INTEGER NOT NULL CHECK (revoked IN (0, 1))
);
CREATE INDEX credentials_by_user ON credentials(user, created);
CREATE TABLE devices (
  id TEXT PRIMARY KEY NOT NULL,
  certificate_serial TEXT NOT NULL,
  certificate_sha256 TEXT NOT NULL,
  created INTEGER NOT NULL,
  revoked INTEGER NOT NULL CHECK (revoked IN (0, 1))
);
CREATE TABLE device_users (
  device TEXT NOT NULL REFERENCES devices(id),
  user TEXT NOT NULL REFERENCES users(name),
  PRIMARY KEY (device, user)
);
CREATE TABLE revocations (
  kind TEXT NOT NULL CHECK (kind IN ('user', 'key', 'device', 'certificate')),
  id TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (kind, id)
);
CREATE TABLE lockdowns (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  role TEXT NOT NULL,
  asset_pattern TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE TABLE enrollment_codes (
  code_sha256 BLOB PRIMARY KEY NOT NULL CHECK (length(code_sha256) = 32),
  user TEXT NOT NULL REFERENCES users(name),
  expires INTEGER NOT NULL,
  used_at INTEGER
);
PRAGMA user_version = 1;
)sql",
};
static_assert(std::size(kMigrations) == kCredentialStoreSchemaVersion);


}  // namespace

const boost::system::error_category& store_category() noexcept {
  static const StoreCategory category;
  return category;
}

std::string_view to_string(RevocationKind kind) noexcept {
  switch (kind) {
    case RevocationKind::user: return "user";
    case RevocationKind::key: return "key";
    case RevocationKind::device: return "device";
    case RevocationKind::certificate: return "certificate";
  }
  return "unknown";
}

std::optional<RevocationKind> revocation_kind_from(std::string_view text) noexcept {
  for (auto kind : {RevocationKind::user, RevocationKind::key, RevocationKind::device, RevocationKind::certificate}) {
    if (to_string(kind) == text) return kind;
  }
  return std::nullopt;
}

StoreResult<CredentialStore> CredentialStore::open(const std::filesystem::path& file, std::string* error_message) {
  auto opened = sqlite::open_store(file,
                                   {"credential store", kMigrations, StoreErrc::sqlite_error,
                                    StoreErrc::schema_too_new, StoreErrc::invalid_argument},
                                   error_message);
  if (!opened) return opened.error();
  return CredentialStore(std::move(opened->db), opened->schema_version);
}

CredentialStore::CredentialStore(std::unique_ptr<sqlite::Connection> db, int schema_version) noexcept
    : db_(std::move(db)), schema_version_(schema_version) {}
CredentialStore::CredentialStore(CredentialStore&&) noexcept = default;
CredentialStore& CredentialStore::operator=(CredentialStore&&) noexcept = default;
CredentialStore::~CredentialStore() = default;

std::string CredentialStore::last_error_message() const { return db_ ? db_->last_error() : std::string(); }

// Users.

namespace {

StoredUser user_from(const sqlite::Statement& row) {
  return {.name = row.text(0), .roles = {}, .disabled = row.integer(1) != 0, .created = row.integer(2)};
}

StoreResult<void> load_roles(sqlite::Connection& db, StoredUser& user) {
  auto rows = db.prepare("SELECT role FROM user_roles WHERE user = ?1 ORDER BY role", user.name);
  if (!rows) return rows.error();
  return db.for_each_row(*rows, [&](const sqlite::Statement& row) { user.roles.push_back(row.text(0)); });
}

StoreResult<void> insert_roles(sqlite::Connection& db, std::string_view user, const std::vector<std::string>& roles) {
  for (const auto& role : roles) {
    auto inserted = db.execute("INSERT OR IGNORE INTO user_roles (user, role) VALUES (?1, ?2)", user, role);
    if (!inserted) return inserted;
  }
  return {};
}

bool valid_roles(const std::vector<std::string>& roles) {
  return std::all_of(roles.begin(), roles.end(), [](const std::string& role) { return detail::valid_name(role); });
}

}  // namespace

StoreResult<void> CredentialStore::add_user(const StoredUser& user) {
  if (!detail::valid_name(user.name) || !valid_roles(user.roles)) return StoreErrc::invalid_argument;
  return detail::transact(*db_, detail::kWrite, [&]() -> StoreResult<void> {
    auto found = db_->exists("SELECT 1 FROM users WHERE name = ?1", user.name);
    if (!found) return found.error();
    if (*found) return StoreErrc::already_exists;
    auto inserted = db_->execute("INSERT INTO users (name, disabled, created) VALUES (?1, ?2, ?3)", user.name,
                                 user.disabled, user.created);
    if (!inserted) return inserted;
    return insert_roles(*db_, user.name, user.roles);
  });
}

StoreResult<StoredUser> CredentialStore::find_user(std::string_view name) {
  return detail::transact(*db_, detail::kRead, [&]() -> StoreResult<StoredUser> {
    auto row = db_->prepare("SELECT name, disabled, created FROM users WHERE name = ?1", name);
    if (!row) return row.error();
    auto found = db_->step(*row);
    if (!found) return found.error();
    if (!*found) return StoreErrc::not_found;
    StoredUser user = user_from(*row);
    if (auto roles = load_roles(*db_, user); !roles) return roles.error();
    return user;
  });
}

StoreResult<std::vector<StoredUser>> CredentialStore::users() {
  return detail::transact(*db_, detail::kRead, [&]() -> StoreResult<std::vector<StoredUser>> {
    auto rows = db_->prepare("SELECT name, disabled, created FROM users ORDER BY name");
    if (!rows) return rows.error();
    std::vector<StoredUser> users;
    auto read = db_->for_each_row(*rows, [&](const sqlite::Statement& row) { users.push_back(user_from(row)); });
    if (!read) return read.error();
    for (auto& user : users) {
      if (auto roles = load_roles(*db_, user); !roles) return roles.error();
    }
    return users;
  });
}

StoreResult<void> CredentialStore::set_user_roles(std::string_view name, const std::vector<std::string>& roles) {
  if (!valid_roles(roles)) return StoreErrc::invalid_argument;
  return detail::transact(*db_, detail::kWrite, [&]() -> StoreResult<void> {
    auto found = db_->exists("SELECT 1 FROM users WHERE name = ?1", name);
    if (!found) return found.error();
    if (!*found) return StoreErrc::not_found;
    auto cleared = db_->execute("DELETE FROM user_roles WHERE user = ?1", name);
    if (!cleared) return cleared;
    return insert_roles(*db_, name, roles);
  });
}

StoreResult<void> CredentialStore::set_user_disabled(std::string_view name, bool disabled) {
  return detail::transact(*db_, detail::kWrite, [&]() -> StoreResult<void> {
    auto updated = db_->execute("UPDATE users SET disabled = ?2 WHERE name = ?1", name, disabled);
    if (!updated) return updated;
    if (db_->changes() == 0) return StoreErrc::not_found;
    return {};
  });
}

// FIDO2 credentials.

namespace {

constexpr int kCoseEs256 = -7;
constexpr int kCoseEdDsa = -8;

bool valid_credential(const StoredCredential& credential) {
  const bool key_fits = (credential.cose_alg == kCoseEs256 && credential.public_key.size() == 64) ||
                        (credential.cose_alg == kCoseEdDsa && credential.public_key.size() == 32);
  return !credential.id.empty() && credential.id.size() <= 1023 && detail::valid_name(credential.user) &&
         key_fits && credential.aaguid.size() == 16;
}

StoredCredential credential_from(const sqlite::Statement& row) {
  return {.id = row.blob(0),
          .user = row.text(1),
          .cose_alg = static_cast<int>(row.integer(2)),
          .public_key = row.blob(3),
          .sign_count = static_cast<std::uint32_t>(row.integer(4)),
          .aaguid = row.blob(5),
          .created = row.integer(6),
          .last_used = row.integer(7),
          .revoked = row.integer(8) != 0};
}

}  // namespace

StoreResult<void> CredentialStore::add_credential(const StoredCredential& credential) {
  if (!valid_credential(credential)) return StoreErrc::invalid_argument;
  return detail::transact(*db_, detail::kWrite, [&]() -> StoreResult<void> {
    auto user = db_->exists("SELECT 1 FROM users WHERE name = ?1", credential.user);
    if (!user) return user.error();
    if (!*user) return StoreErrc::not_found;
    auto taken = db_->exists("SELECT 1 FROM credentials WHERE id = ?1", sqlite::Blob{credential.id});
    if (!taken) return taken.error();
    if (*taken) return StoreErrc::already_exists;
    return db_->execute(
        "INSERT INTO credentials (id, user, cose_alg, public_key, sign_count, aaguid, created, last_used, revoked)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        sqlite::Blob{credential.id}, credential.user, credential.cose_alg, sqlite::Blob{credential.public_key},
        credential.sign_count, sqlite::Blob{credential.aaguid}, credential.created, credential.last_used,
        credential.revoked);
  });
}

StoreResult<StoredCredential> CredentialStore::find_credential(std::string_view id) {
  return detail::transact(*db_, detail::kRead, [&]() -> StoreResult<StoredCredential> {
    auto row = db_->prepare(
        "SELECT id, user, cose_alg, public_key, sign_count, aaguid, created, last_used, revoked"
        " FROM credentials WHERE id = ?1",
        sqlite::Blob{id});
    if (!row) return row.error();
    auto found = db_->step(*row);
    if (!found) return found.error();
    if (!*found) return StoreErrc::not_found;
    return credential_from(*row);
  });
}

StoreResult<std::vector<StoredCredential>> CredentialStore::credentials_of(std::string_view user) {
  return detail::transact(*db_, detail::kRead, [&]() -> StoreResult<std::vector<StoredCredential>> {
    auto rows = db_->prepare(
        "SELECT id, user, cose_alg, public_key, sign_count, aaguid, created, last_used, revoked"
        " FROM credentials WHERE user = ?1 ORDER BY created, rowid",
        user);
    if (!rows) return rows.error();
    std::vector<StoredCredential> credentials;
    auto read = db_->for_each_row(
        *rows, [&](const sqlite::Statement& row) { credentials.push_back(credential_from(row)); });
    if (!read) return read.error();
    return credentials;
  });
}

StoreResult<bool> CredentialStore::update_sign_count(std::string_view id, std::uint32_t expected, std::uint32_t next,
                                                     std::int64_t now) {
  return detail::transact(*db_, detail::kWrite, [&]() -> StoreResult<bool> {
    auto updated = db_->execute(
        "UPDATE credentials SET sign_count = ?3, last_used = ?4 WHERE id = ?1 AND sign_count = ?2",
        sqlite::Blob{id}, expected, next, now);
    if (!updated) return {boost::system::in_place_error, updated.error()};
    if (db_->changes() == 1) return true;
    auto found = db_->exists("SELECT 1 FROM credentials WHERE id = ?1", sqlite::Blob{id});
    if (!found) return found;
    if (!*found) return StoreErrc::not_found;
    return false;
  });
}

}  // namespace conduit::mfa
