#include "proxy/gateway/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config/load.hpp"
#include "proxy/net/tls_ciphers.hpp"

namespace conduit::proxy {
namespace {

namespace ssl = boost::asio::ssl;

std::string openssl_errors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    out += (out.empty() ? "" : "; ") + std::string(buffer);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

void check(bool ok, const char* field, const std::filesystem::path& path, const char* what) {
  if (!ok) {
    throw config::ConfigError(std::string("/tls/") + field,
                              std::string(what) + " \"" + path.string() + "\": " + openssl_errors());
  }
}

}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const config::TlsSettings& tls) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  ERR_clear_error();

  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                                  SSL_OP_NO_TLSv1_1);
  SSL_CTX_set_min_proto_version(native,
                                tls.min_version == config::TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(native, kTls12Ciphers);
  // No resumption: every connection presents and verifies its client certificate again,
  // so a revoked or expired certificate cannot ride on an old session.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 0);

  check(SSL_CTX_use_certificate_chain_file(native, tls.certificate.c_str()) == 1, "certificate",
        tls.certificate, "cannot load certificate");
  check(SSL_CTX_use_PrivateKey_file(native, tls.private_key.c_str(), SSL_FILETYPE_PEM) == 1, "private_key",
        tls.private_key, "cannot load private key");
  check(SSL_CTX_check_private_key(native) == 1, "private_key", tls.private_key,
        "private key does not match the certificate");
  check(SSL_CTX_load_verify_locations(native, tls.client_ca.c_str(), nullptr) == 1, "client_ca", tls.client_ca,
        "cannot load CA certificates");
  STACK_OF(X509_NAME)* ca_names = SSL_load_client_CA_file(tls.client_ca.c_str());
  check(ca_names != nullptr, "client_ca", tls.client_ca, "cannot read CA names");
  SSL_CTX_set_client_CA_list(native, ca_names);

  SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_verify_depth(native, 4);
  return context;
}

}  // namespace conduit::proxy
