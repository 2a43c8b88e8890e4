// Small RAII and PEM helpers over OpenSSL 3, for every module that holds keys and
// certificates (mfa's site CA and FIDO2 checks, audit's recording key, the admin CLI).
// Nothing here throws except std::bad_alloc: failures come back as null pointers or empty
// strings, and openssl_error_string() says why, so each caller can name the file or
// certificate it was working on. Thread-safe: OpenSSL 3's error queue is per thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace conduit::common {

// unique_ptr deleter calling the matching OpenSSL free function.
template <auto kFree>
struct OpensslFree {
  template <typename T>
  void operator()(T* p) const noexcept {
    kFree(p);
  }
};

// For buffers OpenSSL allocates for us (i2d_*, ASN1_STRING_to_UTF8).
struct OpensslBytesFree {
  void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpensslFree<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OpensslFree<X509_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OpensslFree<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpensslFree<X509_EXTENSION_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpensslFree<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpensslFree<X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, OpensslFree<BIO_free_all>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpensslFree<EVP_PKEY_CTX_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpensslFree<EVP_MD_CTX_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpensslFree<BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OpensslFree<ASN1_INTEGER_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, OpensslFree<ASN1_STRING_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, OpensslFree<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpensslFree<GENERAL_NAMES_free>>;

// Drains this thread's OpenSSL error queue into one line ("a; b"); "no OpenSSL error
// detail" when it is empty. Error strings name functions and reasons, never key bytes.
std::string openssl_error_string();

// Null on failure (details in the error queue). Encrypted keys are refused, never
// prompted for: a gateway must not block on a terminal at start-up.
EvpPkeyPtr private_key_from_pem(std::string_view pem);
X509Ptr certificate_from_pem(std::string_view pem);
EvpPkeyPtr public_key_from_pem(std::string_view pem);  // "BEGIN PUBLIC KEY" (SubjectPublicKeyInfo)

// Unencrypted PKCS#8 ("BEGIN PRIVATE KEY") and X.509 PEM. Empty on failure.
std::string private_key_to_pem(const EVP_PKEY* key);
std::string certificate_to_pem(const X509* certificate);
std::string public_key_to_pem(const EVP_PKEY* key);

}  // namespace conduit::common
