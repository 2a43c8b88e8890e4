// The gateway's Ed25519 audit key: generation, PEM files with the right modes, refusal to
// overwrite, public-only keys, and the errors a wrong key file gives.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit/audit_key.hpp"

namespace {

using namespace conduit::audit;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "conduit-audit-key-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

const std::uint8_t kMessage[] = {'s', 'e', 'a', 'l'};

}  // namespace

TEST_CASE("a generated audit key signs and its public half verifies", "[audit][key]") {
  const AuditKey key = AuditKey::generate().value();
  CHECK(key.has_private());
  const Signature sig = key.sign(kMessage).value();
  const AuditKey verifier = AuditKey::from_public_bytes(key.public_bytes()).value();
  CHECK_FALSE(verifier.has_private());
  CHECK(verifier.verify(kMessage, sig));
  Signature bad = sig;
  bad[10] ^= 1;
  CHECK_FALSE(verifier.verify(kMessage, bad));
  CHECK_FALSE(verifier.verify(std::span<const std::uint8_t>(kMessage).first(3), sig));
  CHECK_FALSE(verifier.verify(kMessage, std::span<const std::uint8_t>(sig).first(63)));
  CHECK(verifier.sign(kMessage).error() == Error::key_not_private);
}

TEST_CASE("the private key file is created 0600, the public 0644, and both load back", "[audit][key]") {
  TempDir dir;
  const AuditKey key = AuditKey::generate().value();
  const auto private_path = dir.path / "audit.key";
  const auto public_path = dir.path / "audit.pub";
  const mode_t old_umask = ::umask(0);  // the modes must not depend on the umask
  REQUIRE(key.save_private_pem(private_path));
  REQUIRE(key.save_public_pem(public_path));
  ::umask(old_umask);
  CHECK(mode_of(private_path) == 0600);
  CHECK(mode_of(public_path) == 0644);

  const AuditKey loaded = AuditKey::load_private_pem(private_path).value();
  CHECK(loaded.public_bytes() == key.public_bytes());
  // Ed25519 is deterministic: the same key gives the same signature.
  CHECK(loaded.sign(kMessage).value() == key.sign(kMessage).value());
  const AuditKey loaded_public = AuditKey::load_public_pem(public_path).value();
  CHECK(loaded_public.verify(kMessage, key.sign(kMessage).value()));
  CHECK_FALSE(loaded_public.has_private());
}

TEST_CASE("saving never replaces an existing file", "[audit][key]") {
  TempDir dir;
  const auto path = dir.path / "audit.key";
  { std::ofstream(path) << "keep me"; }
  const AuditKey key = AuditKey::generate().value();
  CHECK(key.save_private_pem(path).error() == Error::key_file_exists);
  std::ifstream in(path);
  std::string contents;
  std::getline(in, contents);
  CHECK(contents == "keep me");
  CHECK(key.save_private_pem(dir.path / "missing-dir" / "audit.key").error() ==
        boost::system::error_code(ENOENT, boost::system::generic_category()));
}

TEST_CASE("a private key file readable by others is refused", "[audit][key]") {
  TempDir dir;
  const auto path = dir.path / "audit.key";
  REQUIRE(AuditKey::generate().value().save_private_pem(path));
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  CHECK(AuditKey::load_private_pem(path).error() == Error::key_file_permissions);
}

TEST_CASE("non-Ed25519, garbage and missing key files give distinct errors", "[audit][key]") {
  EVP_PKEY* ec = EVP_EC_gen("P-256");
  REQUIRE(ec != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, ec, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  const std::string ec_pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  EVP_PKEY_free(ec);

  CHECK(AuditKey::from_private_pem(ec_pem).error() == Error::key_not_ed25519);
  CHECK(AuditKey::from_private_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").error() ==
        Error::key_parse_failed);
  CHECK(AuditKey::from_public_pem("not a key").error() == Error::key_parse_failed);
  CHECK(AuditKey::load_public_pem("/nonexistent/conduit/audit.pub").error() ==
        boost::system::error_code(ENOENT, boost::system::generic_category()));
  CHECK(make_error_code(Error::key_file_permissions).message().find("0600") != std::string::npos);
}
