#include "proxy/client/client_tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "config/load.hpp"
#include "proxy/net/tls_ciphers.hpp"

namespace conduit::proxy {

namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;

namespace {

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens; the last
// label not all digits (so "300.1.1.1" is a malformed address, not a name).
bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::string_view last_label;
  while (!name.empty()) {
    auto dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    last_label = label;
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  return last_label.find_first_not_of("0123456789") != std::string_view::npos;
}

std::optional<std::string> unreadable(const fs::path& path, std::string_view what) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return std::string("cannot read ") + std::string(what) + " \"" + path.string() + "\": " + std::strerror(errno);
  std::fclose(file);
  return std::nullopt;
}

// Never prompt for a passphrase: a tunnel may run without a terminal.
int refuse_passphrase(char*, int, int, void*) { return 0; }

// TLS 1.2+, AEAD only, no compression, renegotiation or tickets.
std::shared_ptr<ssl::context> new_client_context() {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                  SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(native, kTls12Ciphers);
  SSL_CTX_set_default_passwd_cb(native, refuse_passphrase);
  return context;
}

// Only the given CA: the system trust store has no say in who the gateway is.
LoadedContext trust_only(std::shared_ptr<ssl::context> context, const fs::path& ca) {
  SSL_CTX* native = context->native_handle();
  if (SSL_CTX_load_verify_locations(native, ca.c_str(), nullptr) != 1) {
    return {nullptr, "cannot load CA certificates \"" + ca.string() + "\": " + openssl_reason().text};
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_verify_depth(native, 4);
  return {std::move(context), {}};
}

}  // namespace

std::string GatewayAddress::text() const {
  std::string shown = numeric && host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port);
}

// "10.0.0.5:8802", "[fd00::5]:8802" (config::parse_endpoint) or "gw.plant.example:8802".
std::optional<GatewayAddress> parse_gateway(std::string_view text) {
  if (auto endpoint = config::parse_endpoint(text)) {
    if (endpoint->port == 0) return std::nullopt;
    return GatewayAddress{endpoint->host, endpoint->port, true};
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.ends_with('.')) host.remove_suffix(1);
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (!is_dns_name(host) || port.empty() || error != std::errc() || end != port.data() + port.size() ||
      value == 0 || value > 65535) {
    return std::nullopt;
  }
  return GatewayAddress{std::string(host), static_cast<std::uint16_t>(value), false};
}

bool expect_gateway_identity(SSL* native, const GatewayAddress& gateway) {
  SSL_set_hostflags(native, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (gateway.numeric) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), gateway.host.c_str()) == 1;
  return SSL_set_tlsext_host_name(native, gateway.host.c_str()) == 1 && SSL_set1_host(native, gateway.host.c_str()) == 1;
}

// The first (root-cause) OpenSSL reason: "no start line" rather than the "PEM lib" that
// follows it, and shorter than the full "error:0480006C:PEM routines::..." form.
OpensslReason openssl_reason() {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  const char* text = first ? ERR_reason_error_string(first) : nullptr;
  return {first ? ERR_GET_REASON(first) : 0, text ? text : "unknown OpenSSL error"};
}

LoadedContext load_client_context(const CredentialFiles& files) {
  for (auto [path, what] : {std::pair{&files.certificate, "client certificate"},
                            std::pair{&files.private_key, "private key"}, std::pair{&files.ca, "CA certificate"}}) {
    if (auto error = unreadable(*path, what)) {
      if (files.defaulted) *error += " (default location; choose files with --cert, --key, --ca)";
      return {nullptr, *error};
    }
  }
  auto context = new_client_context();
  SSL_CTX* native = context->native_handle();
  auto quoted = [](const fs::path& path) { return "\"" + path.string() + "\""; };
  if (SSL_CTX_use_certificate_chain_file(native, files.certificate.c_str()) != 1) {
    return {nullptr, "cannot load client certificate " + quoted(files.certificate) + ": " + openssl_reason().text};
  }
  // Loading the key also checks it against the certificate.
  bool key_loaded = SSL_CTX_use_PrivateKey_file(native, files.private_key.c_str(), SSL_FILETYPE_PEM) == 1;
  if (!key_loaded || SSL_CTX_check_private_key(native) != 1) {
    OpensslReason reason = openssl_reason();
    if (reason.code == X509_R_KEY_VALUES_MISMATCH || key_loaded) {
      return {nullptr, "private key " + quoted(files.private_key) + " does not match the certificate " +
                           quoted(files.certificate)};
    }
    return {nullptr, "cannot load private key " + quoted(files.private_key) + ": " + reason.text +
                         " (it must be unencrypted PEM)"};
  }
  return trust_only(std::move(context), files.ca);
}

LoadedContext client_context_from_pem(std::string_view certificate_pem, std::string_view private_key_pem,
                                      const fs::path& ca) {
  auto context = new_client_context();
  SSL_CTX* native = context->native_handle();
  auto bio = [](std::string_view pem) { return BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())); };
  BIO* cert_bio = bio(certificate_pem);
  X509* certificate = cert_bio ? PEM_read_bio_X509(cert_bio, nullptr, refuse_passphrase, nullptr) : nullptr;
  BIO_free(cert_bio);
  BIO* key_bio = bio(private_key_pem);
  EVP_PKEY* key = key_bio ? PEM_read_bio_PrivateKey(key_bio, nullptr, refuse_passphrase, nullptr) : nullptr;
  BIO_free(key_bio);
  bool ok = certificate && key && SSL_CTX_use_certificate(native, certificate) == 1 &&
            SSL_CTX_use_PrivateKey(native, key) == 1 && SSL_CTX_check_private_key(native) == 1;
  X509_free(certificate);
  EVP_PKEY_free(key);
  if (!ok) return {nullptr, "cannot use the issued certificate: " + openssl_reason().text};
  return trust_only(std::move(context), ca);
}


std::string ClientCredentials::load() {
  std::string error;
  current(error);
  return error;
}

std::shared_ptr<ssl::context> ClientCredentials::current(std::string& error) {
  auto stamps = read_stamps();
  if (context_ && stamps == stamps_) return context_;
  LoadedContext loaded = load_client_context(files_);
  if (!loaded.context) {
    error = std::move(loaded.error);
    return nullptr;
  }
  context_ = std::move(loaded.context);
  stamps_ = stamps;
  return context_;
}

std::array<ClientCredentials::Stamp, 3> ClientCredentials::read_stamps() const {
  std::array<Stamp, 3> stamps{};
  const fs::path* paths[] = {&files_.certificate, &files_.private_key, &files_.ca};
  for (std::size_t i = 0; i < stamps.size(); ++i) {
    struct stat info {};
    if (::stat(paths[i]->c_str(), &info) == 0) {
      stamps[i] = {info.st_dev, info.st_ino, info.st_size,
                   std::int64_t(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
    }
  }
  return stamps;
}

std::filesystem::path default_client_file(std::string_view name) {
  std::filesystem::path base;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  if (xdg && std::filesystem::path(xdg).is_absolute()) {  // the XDG spec ignores relative values
    base = xdg;
  } else if (home && *home) {
    base = std::filesystem::path(home) / ".config";
  } else {
    return {};
  }
  return base / "conduit" / name;
}

}  // namespace conduit::proxy
