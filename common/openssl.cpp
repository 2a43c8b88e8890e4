#include "common/openssl.hpp"

#include <climits>

#include <openssl/err.h>
#include <openssl/pem.h>

namespace conduit::common {
namespace {

// Replaces OpenSSL's default callback, which would prompt on the controlling terminal.
int refuse_passphrase(char*, int, int, void*) { return -1; }

BioPtr read_only_bio(std::string_view pem) {
  if (pem.size() > static_cast<std::size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

std::string openssl_error_string() {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error detail" : out;
}

EvpPkeyPtr private_key_from_pem(std::string_view pem) {
  const BioPtr bio = read_only_bio(pem);
  if (!bio) return nullptr;
  return EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
}

X509Ptr certificate_from_pem(std::string_view pem) {
  const BioPtr bio = read_only_bio(pem);
  if (!bio) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr));
}

EvpPkeyPtr public_key_from_pem(std::string_view pem) {
  const BioPtr bio = read_only_bio(pem);
  if (!bio) return nullptr;
  return EvpPkeyPtr(PEM_read_bio_PUBKEY(bio.get(), nullptr, refuse_passphrase, nullptr));
}

std::string private_key_to_pem(const EVP_PKEY* key) {
  // The secure-memory BIO wipes its buffer when freed, so the only copy of the key left
  // behind is the one we return.
  const BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  return bio_contents(bio.get());
}

std::string certificate_to_pem(const X509* certificate) {
  const BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) return {};
  return bio_contents(bio.get());
}

std::string public_key_to_pem(const EVP_PKEY* key) {
  const BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return {};
  return bio_contents(bio.get());
}

}  // namespace conduit::common
