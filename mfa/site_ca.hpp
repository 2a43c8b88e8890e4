// The site certificate authority: the plant's own CA, kept in the data directory, that
// issues the gateway's server certificate, device client certificates, and the short-lived
// user+device certificates of a FIDO2 login or a per-session touch (mfa/auth_service.hpp).
// No network, no IdP.
//
// Layout under the data directory:
//   <data_dir>/pki/ca.key   ECDSA P-256 private key, PEM, mode 0600
//   <data_dir>/pki/ca.crt   self-signed CA certificate, PEM, mode 0644
//
// Every issued certificate is ECDSA P-256, signed with SHA-256, with a random 16-byte
// serial, notBefore 60 s in the past (clock skew between plant machines), and
// basicConstraints CA:FALSE. Device certificates carry the device id as subject CN and,
// where a user is bound, a SAN URI "conduit:user/NAME"; where a role is given, the
// Modbus/TCP Security role extension (kModbusRoleOid, UTF8String, non-critical, R-21/R-22).
//
// Errors are start-up/administration errors and are thrown as PkiError with a message a
// person can act on. Not thread-safe per object; separate objects may be used on separate
// threads.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace conduit::mfa {

inline constexpr const char* kModbusRoleOid = "1.3.6.1.4.1.50316.802.1";

class PkiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ServerCertificateSpec {
  std::string name;                      // subject CN, e.g. "gateway"
  std::vector<std::string> dns_names;    // SAN DNS entries
  std::vector<std::string> ip_addresses; // SAN IP entries (v4 or v6 text)
  std::chrono::days validity{397};
};

struct DeviceCertificateSpec {
  std::string device_id;                 // subject CN; [A-Za-z0-9._-]{1,64}
  std::optional<std::string> user;       // SAN URI conduit:user/<user>; same charset
  std::optional<std::string> role;       // Modbus/TCP Security role extension; same charset
  std::chrono::days validity{365};
};

// A short-lived certificate issued after a FIDO2 key touch, for a key pair made on the
// user's device (the CSR). CN = device; SAN URIs conduit:user/, conduit:role/ (each role),
// conduit:key/ (the credential touched) and, for a per-session certificate, conduit:asset/
// and conduit:assertion/ (mfa/certificate_uris.hpp).
struct LoginCertificateSpec {
  std::string device_id;
  std::string user;
  std::vector<std::string> roles;
  std::string key_id;                       // lower-case hex of the FIDO2 credential id
  std::optional<std::string> asset;         // per-session certificates only
  std::optional<std::string> assertion;     // per-session certificates only
  std::optional<std::string> modbus_role;   // Modbus/TCP Security role extension, if configured
  std::chrono::seconds validity{8 * 3600};  // at most 7 days
};

// A certificate and its private key, both PEM.
struct IssuedCertificate {
  std::string certificate_pem;
  std::string private_key_pem;
};

// Paths written by the write_* helpers.
struct WrittenFiles {
  std::filesystem::path certificate;
  std::filesystem::path private_key;
};

class SiteCa {
 public:
  // Creates <data_dir>/pki/ca.{key,crt}. Throws PkiError if a CA already exists there
  // (never overwrites a CA: every certificate in the plant would stop verifying).
  static SiteCa init(const std::filesystem::path& data_dir, const std::string& common_name,
                     std::chrono::days validity = std::chrono::days{3650});
  // Loads an existing CA. Throws PkiError naming the missing/unreadable file.
  static SiteCa open(const std::filesystem::path& data_dir);

  SiteCa(SiteCa&&) noexcept;
  SiteCa& operator=(SiteCa&&) noexcept;
  ~SiteCa();

  // Issues a fresh key pair and certificate (serverAuth, SAN from the spec).
  IssuedCertificate issue_server(const ServerCertificateSpec& spec) const;
  // Issues a fresh key pair and certificate (clientAuth).
  IssuedCertificate issue_device(const DeviceCertificateSpec& spec) const;

  // Device enrollment: a device certificate (CN = device id, no user) for the key in a
  // CSR made on the device; the private key never leaves it. Returns the certificate PEM.
  std::string issue_device_from_request(const std::string& device_id, std::string_view csr_pem,
                                        std::chrono::days validity) const;
  // A login or per-session certificate for the key in `csr_pem`. Returns the PEM.
  std::string issue_login(const LoginCertificateSpec& spec, std::string_view csr_pem) const;

  std::string certificate_pem() const;
  std::filesystem::path certificate_path() const;

 private:
  struct Impl;
  explicit SiteCa(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes <dir>/<base>.crt (0644) and <dir>/<base>.key (0600), creating <dir> (0700) if
// needed. The key file is created with mode 0600 before any byte is written. Throws
// PkiError if either file exists (no silent overwrite of a key).
WrittenFiles write_certificate_files(const IssuedCertificate& issued,
                                     const std::filesystem::path& dir, const std::string& base);

}  // namespace conduit::mfa
