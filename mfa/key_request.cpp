#include "mfa/key_request.hpp"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/openssl.hpp"
#include "mfa/site_ca.hpp"

namespace conduit::mfa {

using common::BioPtr;
using common::EvpPkeyPtr;
using common::openssl_error_string;
using common::OpensslFree;
using common::private_key_to_pem;


KeyRequest make_key_request(const std::string& common_name) {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509_REQ, OpensslFree<X509_REQ_free>> request(X509_REQ_new());
  if (!key || !request || X509_REQ_set_version(request.get(), 0) != 1 ||
      X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(request.get()), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_set_pubkey(request.get(), key.get()) != 1 || X509_REQ_sign(request.get(), key.get(), EVP_sha256()) <= 0) {
    throw PkiError("cannot make a key and certificate request: " + openssl_error_string());
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), request.get()) != 1) {
    throw PkiError("cannot encode the certificate request: " + openssl_error_string());
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  KeyRequest made{private_key_to_pem(key.get()), std::string(data, static_cast<std::size_t>(length))};
  if (made.private_key_pem.empty()) throw PkiError("cannot encode the private key: " + openssl_error_string());
  return made;
}

}  // namespace conduit::mfa
