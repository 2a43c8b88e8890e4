// The administrative half of CredentialStore: devices, revocations, lockdowns and
// enrollment codes (users and FIDO2 credentials are in credential_store.cpp).
#include <utility>

#include "common/hex.hpp"
#include "common/sqlite.hpp"
#include "mfa/credential_store.hpp"
#include "mfa/credential_store_detail.hpp"

namespace conduit::mfa {

namespace {

using detail::kRead;
using detail::kWrite;
using detail::transact;

constexpr std::size_t kSha256HexSize = 64;
constexpr std::size_t kSha256Size = 32;
constexpr std::size_t kMaxCredentialIdHex = 2 * 1023;

// A device has no certificate yet (both empty) or a serial with its fingerprint.
bool valid_certificate(std::string_view serial, std::string_view sha256) {
  if (serial.empty() && sha256.empty()) return true;
  return detail::valid_serial(serial) && detail::lower_hex(sha256, kSha256HexSize, kSha256HexSize);
}

StoredDevice device_from(const sqlite::Statement& row) {
  return {.id = row.text(0),
          .certificate_serial = row.text(1),
          .certificate_sha256 = row.text(2),
          .users = {},
          .created = row.integer(3),
          .revoked = row.integer(4) != 0};
}

StoreResult<void> load_users(sqlite::Connection& db, StoredDevice& device) {
  auto rows = db.prepare("SELECT user FROM device_users WHERE device = ?1 ORDER BY user", device.id);
  if (!rows) return rows.error();
  return db.for_each_row(*rows, [&](const sqlite::Statement& row) { device.users.push_back(row.text(0)); });
}

StoreResult<void> require_user(sqlite::Connection& db, std::string_view user) {
  auto found = db.exists("SELECT 1 FROM users WHERE name = ?1", user);
  if (!found) return found.error();
  if (!*found) return StoreErrc::not_found;
  return {};
}

}  // namespace

StoreResult<void> CredentialStore::add_device(const StoredDevice& device) {
  if (!detail::valid_name(device.id) || !valid_certificate(device.certificate_serial, device.certificate_sha256)) {
    return StoreErrc::invalid_argument;
  }
  return transact(*db_, kWrite, [&]() -> StoreResult<void> {
    auto taken = db_->exists("SELECT 1 FROM devices WHERE id = ?1", device.id);
    if (!taken) return taken.error();
    if (*taken) return StoreErrc::already_exists;
    auto inserted = db_->execute(
        "INSERT INTO devices (id, certificate_serial, certificate_sha256, created, revoked)"
        " VALUES (?1, ?2, ?3, ?4, ?5)",
        device.id, device.certificate_serial, device.certificate_sha256, device.created, device.revoked);
    if (!inserted) return inserted;
    for (const auto& user : device.users) {
      if (auto known = require_user(*db_, user); !known) return known;
      auto bound = db_->execute("INSERT OR IGNORE INTO device_users (device, user) VALUES (?1, ?2)", device.id, user);
      if (!bound) return bound;
    }
    return {};
  });
}

StoreResult<StoredDevice> CredentialStore::find_device(std::string_view id) {
  return transact(*db_, kRead, [&]() -> StoreResult<StoredDevice> {
    auto row = db_->prepare(
        "SELECT id, certificate_serial, certificate_sha256, created, revoked FROM devices WHERE id = ?1", id);
    if (!row) return row.error();
    auto found = db_->step(*row);
    if (!found) return found.error();
    if (!*found) return StoreErrc::not_found;
    StoredDevice device = device_from(*row);
    if (auto users = load_users(*db_, device); !users) return users.error();
    return device;
  });
}

StoreResult<std::vector<StoredDevice>> CredentialStore::devices() {
  return transact(*db_, kRead, [&]() -> StoreResult<std::vector<StoredDevice>> {
    auto rows = db_->prepare(
        "SELECT id, certificate_serial, certificate_sha256, created, revoked FROM devices ORDER BY id");
    if (!rows) return rows.error();
    std::vector<StoredDevice> devices;
    auto read = db_->for_each_row(*rows, [&](const sqlite::Statement& row) { devices.push_back(device_from(row)); });
    if (!read) return read.error();
    for (auto& device : devices) {
      if (auto users = load_users(*db_, device); !users) return users.error();
    }
    return devices;
  });
}

StoreResult<void> CredentialStore::bind_user(std::string_view device, std::string_view user) {
  return transact(*db_, kWrite, [&]() -> StoreResult<void> {
    auto found = db_->exists("SELECT 1 FROM devices WHERE id = ?1", device);
    if (!found) return found.error();
    if (!*found) return StoreErrc::not_found;
    if (auto known = require_user(*db_, user); !known) return known;
    return db_->execute("INSERT OR IGNORE INTO device_users (device, user) VALUES (?1, ?2)", device, user);
  });
}

StoreResult<void> CredentialStore::set_device_certificate(std::string_view device, std::string_view serial,
                                                          std::string_view sha256) {
  if (!valid_certificate(serial, sha256)) return StoreErrc::invalid_argument;
  return transact(*db_, kWrite, [&]() -> StoreResult<void> {
    auto updated = db_->execute("UPDATE devices SET certificate_serial = ?2, certificate_sha256 = ?3 WHERE id = ?1",
                                device, serial, sha256);
    if (!updated) return updated;
    if (db_->changes() == 0) return StoreErrc::not_found;
    return {};
  });
}

// Revocations.

namespace {

bool valid_revocation_id(RevocationKind kind, std::string_view id) {
  switch (kind) {
    case RevocationKind::user:
    case RevocationKind::device: return detail::valid_name(id);
    case RevocationKind::key: return id.size() % 2 == 0 && detail::lower_hex(id, 2, kMaxCredentialIdHex);
    case RevocationKind::certificate: return detail::valid_serial(id);
  }
  return false;
}

// Marks the row the revocation names; not_found if there is none. A certificate has no row
// here (the site CA issued it), so its serial is only recorded.
StoreResult<void> mark_revoked(sqlite::Connection& db, RevocationKind kind, std::string_view id) {
  StoreResult<void> marked;
  switch (kind) {
    case RevocationKind::user: marked = db.execute("UPDATE users SET disabled = 1 WHERE name = ?1", id); break;
    case RevocationKind::device: marked = db.execute("UPDATE devices SET revoked = 1 WHERE id = ?1", id); break;
    case RevocationKind::key:
      // valid_revocation_id let only lower hex of even length through.
      marked = db.execute("UPDATE credentials SET revoked = 1 WHERE id = ?1",
                          sqlite::Blob{common::hex_decode(id).value_or(std::string())});
      break;
    case RevocationKind::certificate: return {};
  }
  if (!marked) return marked;
  if (db.changes() == 0) return StoreErrc::not_found;
  return {};
}

}  // namespace

StoreResult<void> CredentialStore::revoke(RevocationKind kind, std::string_view id, std::string_view reason,
                                          std::int64_t now) {
  if (!valid_revocation_id(kind, id) || !detail::valid_text(reason, detail::kMaxReason)) {
    return StoreErrc::invalid_argument;
  }
  return transact(*db_, kWrite, [&]() -> StoreResult<void> {
    if (auto marked = mark_revoked(*db_, kind, id); !marked) return marked;
    // OR IGNORE: a second revocation keeps the first time and reason.
    return db_->execute("INSERT OR IGNORE INTO revocations (kind, id, reason, at) VALUES (?1, ?2, ?3, ?4)",
                        to_string(kind), id, reason, now);
  });
}

StoreResult<std::vector<Revocation>> CredentialStore::revocations() {
  return transact(*db_, kRead, [&]() -> StoreResult<std::vector<Revocation>> {
    auto rows = db_->prepare("SELECT kind, id, reason, at FROM revocations ORDER BY at, rowid");
    if (!rows) return rows.error();
    std::vector<Revocation> revocations;
    auto read = db_->for_each_row(*rows, [&](const sqlite::Statement& row) {
      // The table's CHECK constraint admits only the four kinds.
      const auto kind = revocation_kind_from(row.text(0));
      revocations.push_back({.kind = kind.value_or(RevocationKind::user),
                             .id = row.text(1),
                             .reason = row.text(2),
                             .at = row.integer(3)});
    });
    if (!read) return read.error();
    return revocations;
  });
}

// Lockdowns.

StoreResult<std::int64_t> CredentialStore::add_lockdown(const Lockdown& lockdown) {
  if ((!lockdown.role.empty() && !detail::valid_name(lockdown.role)) ||
      !detail::valid_text(lockdown.asset_pattern, detail::kMaxAssetPattern) ||
      !detail::valid_text(lockdown.reason, detail::kMaxReason)) {
    return StoreErrc::invalid_argument;
  }
  return transact(*db_, kWrite, [&]() -> StoreResult<std::int64_t> {
    auto inserted = db_->execute("INSERT INTO lockdowns (role, asset_pattern, reason, at) VALUES (?1, ?2, ?3, ?4)",
                                 lockdown.role, lockdown.asset_pattern, lockdown.reason, lockdown.at);
    if (!inserted) return inserted.error();
    return db_->last_insert_rowid();
  });
}

StoreResult<std::size_t> CredentialStore::lift_lockdowns() {
  return transact(*db_, kWrite, [&]() -> StoreResult<std::size_t> {
    auto deleted = db_->execute("DELETE FROM lockdowns");
    if (!deleted) return deleted.error();
    return static_cast<std::size_t>(db_->changes());
  });
}

StoreResult<std::vector<Lockdown>> CredentialStore::lockdowns() {
  return transact(*db_, kRead, [&]() -> StoreResult<std::vector<Lockdown>> {
    auto rows = db_->prepare("SELECT id, role, asset_pattern, reason, at FROM lockdowns ORDER BY id");
    if (!rows) return rows.error();
    std::vector<Lockdown> lockdowns;
    auto read = db_->for_each_row(*rows, [&](const sqlite::Statement& row) {
      lockdowns.push_back({.id = row.integer(0),
                           .role = row.text(1),
                           .asset_pattern = row.text(2),
                           .reason = row.text(3),
                           .at = row.integer(4)});
    });
    if (!read) return read.error();
    return lockdowns;
  });
}

// Enrollment codes.

StoreResult<void> CredentialStore::add_enrollment_code(std::string_view code_sha256, std::string_view user,
                                                       std::int64_t expires) {
  if (code_sha256.size() != kSha256Size || !detail::valid_name(user)) return StoreErrc::invalid_argument;
  return transact(*db_, kWrite, [&]() -> StoreResult<void> {
    if (auto known = require_user(*db_, user); !known) return known;
    auto taken = db_->exists("SELECT 1 FROM enrollment_codes WHERE code_sha256 = ?1", sqlite::Blob{code_sha256});
    if (!taken) return taken.error();
    if (*taken) return StoreErrc::already_exists;
    return db_->execute("INSERT INTO enrollment_codes (code_sha256, user, expires) VALUES (?1, ?2, ?3)",
                        sqlite::Blob{code_sha256}, user, expires);
  });
}

StoreResult<std::string> CredentialStore::redeem_enrollment_code(std::string_view code_sha256, std::int64_t now) {
  if (code_sha256.size() != kSha256Size) return StoreErrc::invalid_argument;
  // One IMMEDIATE transaction: two redeemers of the same code are serialised, and the
  // second sees used_at set.
  return transact(*db_, kWrite, [&]() -> StoreResult<std::string> {
    auto row = db_->prepare("SELECT user, expires, used_at FROM enrollment_codes WHERE code_sha256 = ?1",
                            sqlite::Blob{code_sha256});
    if (!row) return row.error();
    auto found = db_->step(*row);
    if (!found) return found.error();
    if (!*found) return StoreErrc::not_found;
    if (!row->is_null(2)) return StoreErrc::already_used;
    if (now >= row->integer(1)) return StoreErrc::expired;
    std::string user = row->text(0);
    auto used = db_->execute("UPDATE enrollment_codes SET used_at = ?2 WHERE code_sha256 = ?1",
                             sqlite::Blob{code_sha256}, now);
    if (!used) return used.error();
    return user;
  });
}

}  // namespace conduit::mfa
