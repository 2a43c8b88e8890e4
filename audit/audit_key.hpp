// The gateway's audit key: an Ed25519 key pair that signs the hash-chain head of every
// session recording (audit/FORMAT.md §5), and the audit module's error codes.
//
// AuditKey owns one OpenSSL EVP_PKEY (private + public, or public only for a verifier).
// Nothing here throws except std::bad_alloc: failures come back as
// boost::system::result with an audit::Error code, or the errno of a failed system call
// in boost::system::generic_category (the caller knows which path it passed). Keys and
// signatures never appear in error messages.
//
// Thread-safety: a const AuditKey may be used from several threads at once (sign and
// verify build their own OpenSSL contexts); moving or assigning needs exclusive access.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

// OpenSSL's key type, declared here so that users of the header need no OpenSSL headers.
struct evp_pkey_st;

namespace conduit::audit {

// Error codes of the audit module (key handling and the recording writer). The reader
// and the verifier report bad input through their own result structs instead, because
// they must name the record index and byte offset (recording.hpp).
enum class Error {
  key_generation_failed = 1,  // OpenSSL could not generate an Ed25519 key
  key_parse_failed,           // not a PEM (or raw) key, or an encrypted one
  key_not_ed25519,            // a valid key of another type
  key_not_private,            // signing or saving a private key with a public-only key
  key_file_exists,            // save refuses to replace any existing file
  key_file_permissions,       // private key file readable by group or others
  key_encode_failed,          // OpenSSL could not write the PEM
  sign_failed,                // OpenSSL refused to sign
  field_too_long,             // a header/record text field is over its cap (FORMAT.md §3)
  payload_too_large,          // a data payload is over kMaxPayload: split it
  empty_session_id,           // the header needs a session id
  recording_closed,           // data or event after the close event
};

const boost::system::error_category& error_category() noexcept;

inline boost::system::error_code make_error_code(Error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

template <typename T>
using Result = boost::system::result<T>;

inline constexpr std::size_t kEd25519PublicKeySize = 32;
inline constexpr std::size_t kEd25519SignatureSize = 64;
using PublicKeyBytes = std::array<std::uint8_t, kEd25519PublicKeySize>;
using Signature = std::array<std::uint8_t, kEd25519SignatureSize>;

class AuditKey {
 public:
  // A fresh key pair from the OpenSSL default RNG.
  static Result<AuditKey> generate();

  // Unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"); encrypted keys are refused, never
  // prompted for. The file variant also refuses a file that group or others may read.
  static Result<AuditKey> from_private_pem(std::string_view pem);
  static Result<AuditKey> load_private_pem(const std::filesystem::path& path);

  // SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY"): a verifier's key.
  static Result<AuditKey> from_public_pem(std::string_view pem);
  static Result<AuditKey> load_public_pem(const std::filesystem::path& path);

  // RFC 8032 raw forms: the 32-byte private seed (tests, deterministic fixtures) and
  // the 32-byte public key.
  static Result<AuditKey> from_private_bytes(std::span<const std::uint8_t, 32> seed);
  static Result<AuditKey> from_public_bytes(std::span<const std::uint8_t, kEd25519PublicKeySize> key);

  AuditKey(AuditKey&&) noexcept = default;
  AuditKey& operator=(AuditKey&&) noexcept = default;
  ~AuditKey();

  bool has_private() const noexcept { return has_private_; }

  // Creates the file with open(O_CREAT | O_EXCL | O_NOFOLLOW) and the exact mode (0600
  // for the private key, 0644 for the public key) before writing, then fsyncs it. Never
  // replaces an existing file (key_file_exists). The directory must exist.
  Result<void> save_private_pem(const std::filesystem::path& path) const;
  Result<void> save_public_pem(const std::filesystem::path& path) const;

  Result<std::string> private_pem() const;
  Result<std::string> public_pem() const;
  PublicKeyBytes public_bytes() const noexcept;

  // Ed25519 (pure, no pre-hash) over `message`.
  Result<Signature> sign(std::span<const std::uint8_t> message) const;
  bool verify(std::span<const std::uint8_t> message, std::span<const std::uint8_t> signature) const noexcept;

 private:
  struct Free {
    void operator()(evp_pkey_st* key) const noexcept;
  };
  AuditKey(evp_pkey_st* key, bool has_private) noexcept : key_(key), has_private_(has_private) {}

  std::unique_ptr<evp_pkey_st, Free> key_;
  bool has_private_ = false;
};

}  // namespace conduit::audit

namespace boost::system {
template <>
struct is_error_code_enum<conduit::audit::Error> : std::true_type {};
}  // namespace boost::system
