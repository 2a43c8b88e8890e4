// Who must not be admitted any more, whatever the grants say: revoked users, FIDO2 keys,
// devices and certificate serials, and lockdowns (everyone, a role, or assets matching a
// pattern). Checked when a session opens and, when it changes, against every live session
// (which ends). Immutable once built and shared by the I/O threads (swapped atomically by
// the admin socket), so lookups need no lock. Pure: no I/O, no clocks.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace conduit::authz {

struct LockdownRule {
  std::string role;           // empty: every role
  std::string asset_pattern;  // empty: every asset; else a name, "prefix*" or "*"
};

// What a session's certificate says about it (mfa::CertificateIdentity, viewed).
struct Holder {
  std::string_view user;
  std::string_view device;
  std::string_view key;     // FIDO2 credential id (hex) of a login certificate
  std::string_view serial;  // certificate serial (hex)
  std::span<const std::string> roles;
};

struct RevocationList {
  std::unordered_set<std::string> users;
  std::unordered_set<std::string> keys;
  std::unordered_set<std::string> devices;
  std::unordered_set<std::string> certificates;
  std::vector<LockdownRule> lockdowns;

  // Why `holder` may not have a session to `asset`; empty if nothing stops it.
  std::string_view refusal(const Holder& holder, std::string_view asset) const;
};

}  // namespace conduit::authz
