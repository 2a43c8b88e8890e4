// The client side of a TLS connection to the gateway, shared by `conduit tunnel` and
// `conduit login`: the gateway address as typed ("gw.plant.example:8443", "10.0.0.5:802",
// "[fd00::5]:802"), the client certificate/key/CA files, a TLS 1.2+ AEAD-only context
// that trusts only the given CA, and the check that the gateway's certificate names the
// host that was dialled. Errors come back as text a person can act on.
#pragma once

#include <array>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

typedef struct ssl_st SSL;

namespace conduit::proxy {

struct GatewayAddress {
  std::string host;  // no brackets; a DNS name has no trailing dot
  std::uint16_t port = 0;
  bool numeric = false;  // an IP literal: checked against the certificate's IP SANs, no SNI

  std::string text() const;
};

// "10.0.0.5:8802", "[fd00::5]:8802" or "gw.plant.example:8802"; nullopt if malformed.
std::optional<GatewayAddress> parse_gateway(std::string_view text);

// The gateway's certificate must name the host we dialled: its DNS name (also sent as
// SNI) or its IP address. False if OpenSSL refuses the setting.
bool expect_gateway_identity(SSL* native, const GatewayAddress& gateway);

// The first (root-cause) OpenSSL reason on this thread's queue, which is then cleared.
struct OpensslReason {
  int code = 0;  // ERR_GET_REASON
  std::string text;
};
OpensslReason openssl_reason();

// "<config dir>/conduit/<name>", where <config dir> is $XDG_CONFIG_HOME, else ~/.config;
// an empty path when neither XDG_CONFIG_HOME (absolute) nor HOME is set.
std::filesystem::path default_client_file(std::string_view name);

struct CredentialFiles {
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  std::filesystem::path ca;
  bool defaulted = false;  // any of them from default_client_file(): say so in errors
};

struct LoadedContext {
  std::shared_ptr<boost::asio::ssl::context> context;  // null on failure
  std::string error;
};

LoadedContext load_client_context(const CredentialFiles& files);

// The same from PEM in memory (a per-session certificate never touches the disk).
LoadedContext client_context_from_pem(std::string_view certificate_pem, std::string_view private_key_pem,
                                      const std::filesystem::path& ca);

// The client TLS context, rebuilt when one of its files changes (a login renews the
// short-lived certificate in place). Not thread-safe.
class ClientCredentials {
 public:
  explicit ClientCredentials(CredentialFiles files) : files_(std::move(files)) {}

  // Start-up: the files must load. Returns the error, or empty.
  std::string load();

  // For a new connection. A failed reload is retried on the next connection: a renewal
  // may be half-written (new certificate, old key) for a moment.
  std::shared_ptr<boost::asio::ssl::context> current(std::string& error);

  const CredentialFiles& files() const { return files_; }

 private:
  struct Stamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  std::array<Stamp, 3> read_stamps() const;

  CredentialFiles files_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::array<Stamp, 3> stamps_{};
};

}  // namespace conduit::proxy
