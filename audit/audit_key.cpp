#include "audit/audit_key.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/openssl.hpp"
#include "common/private_file.hpp"

namespace conduit::audit {

namespace {

class ErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "conduit.audit"; }
  std::string message(int value) const override {
    switch (static_cast<Error>(value)) {
      case Error::key_generation_failed: return "could not generate an Ed25519 key";
      case Error::key_parse_failed: return "not an unencrypted PEM or raw Ed25519 key";
      case Error::key_not_ed25519: return "the key is not an Ed25519 key";
      case Error::key_not_private: return "the key has no private part";
      case Error::key_file_exists: return "the key file already exists; refusing to replace it";
      case Error::key_file_permissions: return "the private key file is readable by group or others (want 0600)";
      case Error::key_encode_failed: return "could not encode the key as PEM";
      case Error::sign_failed: return "Ed25519 signing failed";
      case Error::field_too_long: return "a recording field is longer than its cap";
      case Error::payload_too_large: return "a recording payload is larger than 64 KiB";
      case Error::empty_session_id: return "the recording header needs a session id";
      case Error::recording_closed: return "the recording is closed";
    }
    return "unknown audit error";
  }
};

boost::system::error_code errno_code(int err) noexcept { return {err, boost::system::generic_category()}; }

Result<std::string> read_small_file(const std::filesystem::path& path, bool private_key) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno_code(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_code(err);
  }
  if (private_key && (st.st_mode & 0077) != 0) {
    ::close(fd);
    return Error::key_file_permissions;
  }
  std::string contents;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return errno_code(err);
    }
    if (n == 0) break;
    contents.append(chunk, static_cast<std::size_t>(n));
    if (contents.size() > 64 * 1024) {  // a PEM key is a few hundred bytes
      ::close(fd);
      return Error::key_parse_failed;
    }
  }
  ::close(fd);
  return contents;
}

// Never replaces anything, not even through a symlink planted at the path; the exact mode
// whatever the umask, which may have narrowed (or, for the public key, hidden) it
// (common/private_file.hpp). Anything already at the path is key_file_exists.
Result<void> write_new_file(const std::filesystem::path& path, std::string_view contents, mode_t mode) {
  auto written = common::write_new_file(path, contents, mode);
  if (written) return {};
  const common::FileError& error = written.error();
  if (error.step == common::FileStep::create && error.code == boost::system::errc::file_exists) {
    return Error::key_file_exists;
  }
  return error.code;
}

}  // namespace

const boost::system::error_category& error_category() noexcept {
  static const ErrorCategory category;
  return category;
}

void AuditKey::Free::operator()(evp_pkey_st* key) const noexcept { EVP_PKEY_free(key); }

AuditKey::~AuditKey() = default;

Result<AuditKey> AuditKey::generate() {
  const common::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &key) != 1) {
    ERR_clear_error();
    return Error::key_generation_failed;
  }
  return AuditKey(key, true);
}

Result<AuditKey> AuditKey::from_private_pem(std::string_view pem) {
  // Encrypted PEM is refused, never prompted for: a gateway must not block at start-up.
  EVP_PKEY* key = common::private_key_from_pem(pem).release();
  ERR_clear_error();
  if (key == nullptr) return Error::key_parse_failed;
  AuditKey result(key, true);
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return Error::key_not_ed25519;
  return result;
}

Result<AuditKey> AuditKey::load_private_pem(const std::filesystem::path& path) {
  Result<std::string> pem = read_small_file(path, true);
  if (!pem) return pem.error();
  return from_private_pem(*pem);
}

Result<AuditKey> AuditKey::from_public_pem(std::string_view pem) {
  EVP_PKEY* key = common::public_key_from_pem(pem).release();
  ERR_clear_error();
  if (key == nullptr) return Error::key_parse_failed;
  AuditKey result(key, false);
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return Error::key_not_ed25519;
  return result;
}

Result<AuditKey> AuditKey::load_public_pem(const std::filesystem::path& path) {
  Result<std::string> pem = read_small_file(path, false);
  if (!pem) return pem.error();
  return from_public_pem(*pem);
}

Result<AuditKey> AuditKey::from_private_bytes(std::span<const std::uint8_t, 32> seed) {
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
  ERR_clear_error();
  if (key == nullptr) return Error::key_parse_failed;
  return AuditKey(key, true);
}

Result<AuditKey> AuditKey::from_public_bytes(std::span<const std::uint8_t, kEd25519PublicKeySize> bytes) {
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes.data(), bytes.size());
  ERR_clear_error();
  if (key == nullptr) return Error::key_parse_failed;
  return AuditKey(key, false);
}

Result<std::string> AuditKey::private_pem() const {
  if (!key_ || !has_private_) return Error::key_not_private;
  std::string pem = common::private_key_to_pem(key_.get());
  ERR_clear_error();
  if (pem.empty()) return Error::key_encode_failed;
  return pem;
}

Result<std::string> AuditKey::public_pem() const {
  if (!key_) return Error::key_encode_failed;
  std::string pem = common::public_key_to_pem(key_.get());
  ERR_clear_error();
  if (pem.empty()) return Error::key_encode_failed;
  return pem;
}

Result<void> AuditKey::save_private_pem(const std::filesystem::path& path) const {
  Result<std::string> pem = private_pem();
  if (!pem) return pem.error();
  Result<void> written = write_new_file(path, *pem, 0600);
  OPENSSL_cleanse(pem->data(), pem->size());
  return written;
}

Result<void> AuditKey::save_public_pem(const std::filesystem::path& path) const {
  Result<std::string> pem = public_pem();
  if (!pem) return pem.error();
  return write_new_file(path, *pem, 0644);
}

PublicKeyBytes AuditKey::public_bytes() const noexcept {
  PublicKeyBytes bytes{};
  std::size_t size = bytes.size();
  if (!key_) return bytes;
  if (EVP_PKEY_get_raw_public_key(key_.get(), bytes.data(), &size) != 1 || size != bytes.size()) {
    ERR_clear_error();
    return PublicKeyBytes{};
  }
  return bytes;
}

Result<Signature> AuditKey::sign(std::span<const std::uint8_t> message) const {
  if (!key_ || !has_private_) return Error::key_not_private;
  common::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  Signature signature{};
  std::size_t size = signature.size();
  // Ed25519 is "pure": no digest is named, and the one-shot call is the only one allowed.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &size, message.data(), message.size()) != 1 ||
      size != signature.size()) {
    ERR_clear_error();
    return Error::sign_failed;
  }
  return signature;
}

bool AuditKey::verify(std::span<const std::uint8_t> message, std::span<const std::uint8_t> signature) const noexcept {
  if (!key_ || signature.size() != kEd25519SignatureSize) return false;
  common::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
                  EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace conduit::audit
