// The gateway's FIDO2 credential store: users and their roles, FIDO2 credentials (public
// keys and sign counters), enrolled devices, revocations, lockdowns and one-time enrollment
// codes, in one SQLite file, <data_dir>/credentials.db (mode 0600, WAL journal).
//
// Who calls it: the gateway's auth thread and admin CLI processes, at the same time. Each
// CredentialStore owns one SQLite connection and is NOT thread-safe: use one object per
// thread. Several objects (in one or several processes) may share the file; SQLite's locks
// serialise writers (busy timeout 5 s) and every mutating method is one IMMEDIATE
// transaction, so a read-check-write (the sign counter compare-and-set, redeeming a code)
// cannot interleave with another writer.
//
// No clock inside: every time is unix seconds passed in by the caller. Byte strings
// (credential ids, public keys, AAGUIDs, code hashes) are std::string holding raw bytes.
//
// Schema: versioned with PRAGMA user_version; open() migrates an older file inside one
// transaction and refuses a file written by a newer Conduit (schema_too_new).
//
// Errors: boost::system::result with a StoreErrc; nothing throws except std::bad_alloc.
// File system failures (only in open) come back as errno codes in generic_category.
// last_error_message() describes the last sqlite_error (file name + SQLite's message).
#pragma once

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

namespace conduit::sqlite {
class Connection;  // common/sqlite.hpp, shared with the session index
}

namespace conduit::mfa {

enum class StoreErrc {
  not_found = 1,     // no such user, credential, device or enrollment code
  already_exists,    // the user, credential id, device or code is already stored
  invalid_argument,  // a name, id, key, hash or text field fails validation
  schema_too_new,    // the file was written by a newer Conduit
  sqlite_error,      // SQLite failed; last_error_message() says how
  expired,           // the enrollment code's expiry has passed (now >= expires)
  already_used,      // the enrollment code was redeemed before
};

const boost::system::error_category& store_category() noexcept;

inline boost::system::error_code make_error_code(StoreErrc e) noexcept {
  return {static_cast<int>(e), store_category()};
}

template <typename T>
using StoreResult = boost::system::result<T>;

// The newest schema this build knows (and writes).
inline constexpr int kCredentialStoreSchemaVersion = 1;

struct StoredUser {
  std::string name;                // [A-Za-z0-9._-]{1,64}
  std::vector<std::string> roles;  // a set: stored once each, read back sorted; same charset
  bool disabled = false;
  std::int64_t created = 0;
};

struct StoredCredential {
  std::string id;          // raw credential id bytes (1..1023)
  std::string user;
  int cose_alg = 0;        // -7 ES256, -8 EdDSA
  std::string public_key;  // raw: ES256 x||y (64 bytes), EdDSA 32 bytes
  std::uint32_t sign_count = 0;
  std::string aaguid;      // 16 raw bytes
  std::int64_t created = 0, last_used = 0;
  bool revoked = false;
};

struct StoredDevice {
  std::string id;                  // [A-Za-z0-9._-]{1,64}, the certificate's subject CN
  std::string certificate_serial;  // lower hex, or empty before a certificate is issued
  std::string certificate_sha256;  // lower hex (64), or empty with the serial
  std::vector<std::string> users;  // bound users, read back sorted
  std::int64_t created = 0;
  bool revoked = false;
};

// key = a FIDO2 credential (id as lower hex); certificate = a serial (lower hex).
enum class RevocationKind { user, key, device, certificate };

struct Revocation {
  RevocationKind kind = RevocationKind::user;
  std::string id;
  std::string reason;
  std::int64_t at = 0;
};

// role or asset_pattern may be empty; both empty = everything.
struct Lockdown {
  std::int64_t id = 0;  // assigned by add_lockdown; never reused, even after a lift
  std::string role;
  std::string asset_pattern;
  std::string reason;
  std::int64_t at = 0;
};

std::string_view to_string(RevocationKind kind) noexcept;
std::optional<RevocationKind> revocation_kind_from(std::string_view text) noexcept;

class CredentialStore {
 public:
  // Creates the file (0600) if it is missing, refuses a symlink, tightens an existing
  // file to 0600, then migrates. On failure, *error_message (if given) gets a sentence a
  // person can act on, e.g. "credential store /x/credentials.db has schema version 99;
  // this conduit supports up to 1".
  static StoreResult<CredentialStore> open(const std::filesystem::path& file,
                                           std::string* error_message = nullptr);

  CredentialStore(CredentialStore&&) noexcept;
  CredentialStore& operator=(CredentialStore&&) noexcept;
  ~CredentialStore();

  int schema_version() const noexcept { return schema_version_; }

  // Users.
  StoreResult<void> add_user(const StoredUser& user);  // already_exists
  StoreResult<StoredUser> find_user(std::string_view name);
  StoreResult<std::vector<StoredUser>> users();  // sorted by name
  StoreResult<void> set_user_roles(std::string_view name, const std::vector<std::string>& roles);
  StoreResult<void> set_user_disabled(std::string_view name, bool disabled);

  // FIDO2 credentials. A credential id is unique across all users.
  StoreResult<void> add_credential(const StoredCredential& credential);  // already_exists, not_found (user)
  StoreResult<StoredCredential> find_credential(std::string_view id);
  StoreResult<std::vector<StoredCredential>> credentials_of(std::string_view user);  // oldest first
  // Compare-and-set: stores `next` and last_used = now only if the stored counter is still
  // `expected`; false (not an error) if another login moved it first. Whether `next` is
  // acceptable (greater, or both zero) is the assertion verifier's decision, not the store's.
  StoreResult<bool> update_sign_count(std::string_view id, std::uint32_t expected,
                                      std::uint32_t next, std::int64_t now);

  // Devices.
  StoreResult<void> add_device(const StoredDevice& device);  // already_exists; not_found (a user)
  StoreResult<StoredDevice> find_device(std::string_view id);
  StoreResult<std::vector<StoredDevice>> devices();  // sorted by id
  StoreResult<void> bind_user(std::string_view device, std::string_view user);  // idempotent
  StoreResult<void> set_device_certificate(std::string_view device, std::string_view serial,
                                           std::string_view sha256);

  // Revocations are permanent. Revoking a user/key/device also marks its row (user disabled,
  // credential or device revoked) and needs the row to exist (not_found); a certificate
  // serial is recorded as given. Revoking twice keeps the first time and reason. The
  // revocation list is authoritative: set_user_disabled(name, false) does not lift one.
  StoreResult<void> revoke(RevocationKind kind, std::string_view id, std::string_view reason,
                           std::int64_t now);
  StoreResult<std::vector<Revocation>> revocations();  // in the order they were made

  // Lockdowns, persistent until lifted.
  StoreResult<std::int64_t> add_lockdown(const Lockdown& lockdown);  // returns the new id
  StoreResult<std::size_t> lift_lockdowns();                         // removes all; how many
  StoreResult<std::vector<Lockdown>> lockdowns();                    // by id

  // One-time enrollment codes; only the SHA-256 of a code (32 raw bytes) is stored.
  StoreResult<void> add_enrollment_code(std::string_view code_sha256, std::string_view user,
                                        std::int64_t expires);  // already_exists, not_found (user)
  // Consumes the code atomically and returns its user. A code is expired when now >= expires;
  // a used code stays used (already_used, checked before expiry).
  StoreResult<std::string> redeem_enrollment_code(std::string_view code_sha256, std::int64_t now);

  std::string last_error_message() const;

 private:
  CredentialStore(std::unique_ptr<sqlite::Connection> db, int schema_version) noexcept;

  std::unique_ptr<sqlite::Connection> db_;
  int schema_version_ = 0;
};

}  // namespace conduit::mfa

namespace boost::system {
template <>
struct is_error_code_enum<conduit::mfa::StoreErrc> : std::true_type {};
}  // namespace boost::system
