// Helpers shared by the credential store's source files (credential_store.cpp and
// credential_store_admin.cpp): input validation and the one-transaction-per-method wrapper.
// Private to the mfa library.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/sqlite.hpp"
#include "mfa/credential_store.hpp"

namespace conduit::mfa::detail {

// Reason and asset pattern caps: text an operator types, shown in CLIs and logs.
inline constexpr std::size_t kMaxReason = 1024;
inline constexpr std::size_t kMaxAssetPattern = 256;

// Users, roles and devices: [A-Za-z0-9._-]{1,64}, the same names the site CA accepts.
inline bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

inline bool lower_hex(std::string_view text, std::size_t min_size, std::size_t max_size) {
  if (text.size() < min_size || text.size() > max_size) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A certificate serial in lower hex: X.509 allows 20 octets, some CAs write 21.
inline bool valid_serial(std::string_view serial) { return lower_hex(serial, 1, 42); }

// Free text (reasons, asset patterns): no control characters, so that nothing stored here
// can move a terminal's cursor or forge a line in a log.
inline bool valid_text(std::string_view text, std::size_t max_size) {
  if (text.size() > max_size) return false;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

// One transaction per method (common/sqlite.hpp, shared with the session index).
using sqlite::kRead;
using sqlite::kWrite;
using sqlite::transact;

}  // namespace conduit::mfa::detail
