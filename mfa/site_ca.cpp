#include "mfa/site_ca.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>  // strstr, used by the EVP_EC_gen macro
#include <ctime>
#include <string_view>
#include <system_error>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "common/hex.hpp"
#include "common/openssl.hpp"
#include "common/private_file.hpp"
#include "mfa/certificate_uris.hpp"

namespace conduit::mfa {

using common::Asn1IntegerPtr;
using common::Asn1StringPtr;
using common::BignumPtr;
using common::BioPtr;
using common::certificate_from_pem;
using common::certificate_to_pem;
using common::EvpPkeyPtr;
using common::GeneralNamePtr;
using common::GeneralNamesPtr;
using common::openssl_error_string;
using common::OpensslBytesFree;
using common::OpensslFree;
using common::private_key_from_pem;
using common::private_key_to_pem;
using common::X509ExtensionPtr;
using common::X509Ptr;

namespace {

namespace fs = std::filesystem;

constexpr const char* kPkiDir = "pki";
constexpr const char* kCaKeyFile = "ca.key";
constexpr const char* kCaCertFile = "ca.crt";
constexpr mode_t kPrivateDirMode = 0700;
constexpr mode_t kKeyMode = 0600;
constexpr mode_t kCertMode = 0644;
constexpr std::size_t kMaxNameLength = 64;
constexpr std::size_t kMaxDnsNameLength = 253;
constexpr std::size_t kMaxDnsLabelLength = 63;
constexpr std::size_t kSerialBytes = 16;
constexpr long kBackdateSeconds = 60;
// Keeps notAfter well inside what X509_time_adj_ex (int days) and GeneralizedTime hold.
constexpr std::chrono::days kMaxValidity{36500};
// Real PEM files are a few kB; the cap stops a misplaced device or huge file being slurped.
constexpr off_t kMaxPemFileSize = 1 << 20;

[[noreturn]] void fail_openssl(const std::string& what) {
  throw PkiError(what + ": " + openssl_error_string());
}

std::string errno_text(int err) { return std::generic_category().message(err); }

// Quotes a caller-supplied name for an error message so control bytes cannot forge or
// garble the line a person reads.
std::string shown(std::string_view text) {
  constexpr std::size_t kMaxShown = 80;
  std::string out = "\"";
  for (const char c : text.substr(0, kMaxShown)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '"' || c == '\\') {
      out += "\\x" + common::hex_encode(std::string_view(&c, 1));
    } else {
      out += c;
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return out + "\"";
}

bool is_ascii_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Device ids, user names and file base names end up in DNs, SAN URIs and file names; the
// narrow charset keeps them clear of DN/URI syntax and path traversal ("." and ".." match
// the charset but name directories, so they are refused too).
void require_name(const char* what, std::string_view name) {
  const bool ok = !name.empty() && name.size() <= kMaxNameLength && name != "." &&
                  name != ".." && std::all_of(name.begin(), name.end(), [](char c) {
                    return is_ascii_alnum(c) || c == '.' || c == '_' || c == '-';
                  });
  if (!ok) {
    throw PkiError(std::string(what) + " " + shown(name) +
                   " is invalid: use 1 to 64 of A-Z a-z 0-9 . _ - (not \".\" or \"..\")");
  }
}

// RFC 1123 host names: LDH labels of 1-63 bytes, no leading/trailing hyphen. No
// wildcards: the gateway names its own hosts.
bool is_valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxDnsNameLength) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > kMaxDnsLabelLength || label.front() == '-' ||
        label.back() == '-' ||
        !std::all_of(label.begin(), label.end(),
                     [](char c) { return is_ascii_alnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

void require_common_name(const std::string& name) {
  const bool has_control = std::any_of(name.begin(), name.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
  if (name.empty() || has_control) {
    throw PkiError("CA common name " + shown(name) +
                   " is invalid: it must be non-empty text without control characters");
  }
}

void require_validity(std::chrono::days validity) {
  if (validity <= std::chrono::days{0} || validity > kMaxValidity) {
    throw PkiError("validity of " + std::to_string(validity.count()) +
                   " days is invalid: use 1 to " + std::to_string(kMaxValidity.count()));
  }
}

// Wipes a string that held private key bytes, on every exit path.
struct WipeOnExit {
  std::string& bytes;
  ~WipeOnExit() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Creates missing directories (and missing parents) with mode 0700; an existing
// directory is left as the administrator made it.
void ensure_private_directory(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  const fs::path parent = dir.parent_path();
  if (!parent.empty() && parent != dir) ensure_private_directory(parent);
  if (::mkdir(dir.c_str(), kPrivateDirMode) != 0) {
    const int err = errno;
    if (err == EEXIST && fs::is_directory(dir, ec)) return;
    throw PkiError("cannot create directory " + dir.string() + ": " + errno_text(err));
  }
}

// Never replaces anything, not even through a symlink planted at the path; the exact mode
// whatever the umask (common/private_file.hpp). Messages: "cannot create|set the mode
// of|write|sync|close <path>: <reason>".
void write_new_file(const fs::path& path, std::string_view contents, mode_t mode) {
  if (auto written = common::write_new_file(path, contents, mode); !written) throw PkiError(written.error().message());
}

// Writes the key first so that a certificate never sits on disk without its key; undoes
// the key if the certificate cannot be written.
void write_key_and_certificate(const fs::path& key_path, std::string_view key_pem,
                               const fs::path& cert_path, std::string_view cert_pem) {
  for (const fs::path& path : {key_path, cert_path}) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(path, ec))) {
      throw PkiError(path.string() + " already exists; refusing to overwrite it");
    }
  }
  ensure_private_directory(key_path.parent_path());
  write_new_file(key_path, key_pem, kKeyMode);
  try {
    write_new_file(cert_path, cert_pem, kCertMode);
  } catch (...) {
    ::unlink(key_path.c_str());
    throw;
  }
  // Best effort: makes the new directory entries survive a power cut; the files themselves
  // are already synced.
  (void)common::sync_directory(key_path.parent_path());
}

void read_file(const fs::path& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw PkiError("cannot read " + path.string() + ": " + errno_text(err));
  }
  FileDescriptor file(fd);
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) {
    const int err = errno;
    throw PkiError("cannot read " + path.string() + ": " + errno_text(err));
  }
  if (!S_ISREG(info.st_mode) || info.st_size > kMaxPemFileSize) {
    throw PkiError("cannot read " + path.string() + ": not a regular file of at most 1 MiB");
  }
  // Sized once, so a key is never left behind in a buffer freed by a reallocation.
  out.resize(static_cast<std::size_t>(info.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(file.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      throw PkiError("cannot read " + path.string() + ": " + errno_text(err));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
}

EvpPkeyPtr generate_key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail_openssl("cannot generate an ECDSA P-256 key");
  return key;
}

void set_random_serial(X509* certificate) {
  std::array<unsigned char, kSerialBytes> bytes{};
  do {
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      fail_openssl("cannot draw a random serial number");
    }
    // Top bit clear: the serial is positive and fits 16 DER octets (RFC 5280 4.1.2.2).
    bytes[0] &= 0x7f;
  } while (std::all_of(bytes.begin(), bytes.end(), [](unsigned char b) { return b == 0; }));
  const BignumPtr number(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  const Asn1IntegerPtr serial(number ? BN_to_ASN1_INTEGER(number.get(), nullptr) : nullptr);
  if (!serial || X509_set_serialNumber(certificate, serial.get()) != 1) {
    fail_openssl("cannot set the serial number");
  }
}

// A fresh v3 certificate for subject_key with subject CN=common_name, a random serial
// and the validity window; issuer, extensions and signature are the caller's.
X509Ptr new_certificate(EVP_PKEY* subject_key, const std::string& common_name,
                        std::chrono::seconds validity) {
  X509Ptr certificate(X509_new());
  if (!certificate || X509_set_version(certificate.get(), X509_VERSION_3) != 1) {
    fail_openssl("cannot create a certificate");
  }
  set_random_serial(certificate.get());
  // One reading of the clock for both ends, so notAfter - notBefore is exact.
  time_t now = std::time(nullptr);
  if (X509_time_adj_ex(X509_getm_notBefore(certificate.get()), 0, -kBackdateSeconds, &now) ==
          nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(certificate.get()), 0, static_cast<long>(validity.count()), &now) ==
          nullptr) {
    fail_openssl("cannot set the validity period");
  }
  if (X509_NAME_add_entry_by_NID(X509_get_subject_name(certificate.get()), NID_commonName,
                                 MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    fail_openssl("cannot use " + shown(common_name) +
                 " as a common name (at most 64 characters of UTF-8)");
  }
  if (X509_set_pubkey(certificate.get(), subject_key) != 1) {
    fail_openssl("cannot set the certificate public key");
  }
  return certificate;
}

void add_extension(X509* certificate, X509V3_CTX* context, int nid, const char* value) {
  const X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, context, nid, value));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
    fail_openssl(std::string("cannot add the ") + OBJ_nid2sn(nid) + " extension");
  }
}

// SAN entries are built as ASN.1 values rather than as a config string, so no name can
// smuggle in extra entries with "," or "IP:".
void add_general_name(GENERAL_NAMES* names, int type, std::string_view value) {
  Asn1StringPtr data(ASN1_STRING_type_new(type == GEN_IPADD ? V_ASN1_OCTET_STRING
                                                            : V_ASN1_IA5STRING));
  if (!data || ASN1_STRING_set(data.get(), value.data(), static_cast<int>(value.size())) != 1) {
    fail_openssl("cannot encode a subject alternative name");
  }
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!name) fail_openssl("cannot encode a subject alternative name");
  GENERAL_NAME_set0_value(name.get(), type, data.release());
  if (sk_GENERAL_NAME_push(names, name.get()) == 0) {
    fail_openssl("cannot encode a subject alternative name");
  }
  name.release();
}

GeneralNamesPtr new_general_names() {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) fail_openssl("cannot encode subject alternative names");
  return names;
}

// Modbus/TCP Security: a non-critical extension whose value is the DER of one
// UTF8String (a critical one would make other verifiers reject the certificate).
void add_role_extension(X509* certificate, const std::string& role) {
  const std::unique_ptr<ASN1_OBJECT, OpensslFree<ASN1_OBJECT_free>> oid(OBJ_txt2obj(kModbusRoleOid, 1));
  const std::unique_ptr<ASN1_UTF8STRING, OpensslFree<ASN1_UTF8STRING_free>> text(ASN1_UTF8STRING_new());
  if (!oid || !text || ASN1_STRING_set(text.get(), role.data(), static_cast<int>(role.size())) != 1) {
    fail_openssl("cannot encode the role");
  }
  unsigned char* der = nullptr;
  const int length = i2d_ASN1_UTF8STRING(text.get(), &der);
  const std::unique_ptr<unsigned char, OpensslBytesFree> der_owner(der);
  const std::unique_ptr<ASN1_OCTET_STRING, OpensslFree<ASN1_OCTET_STRING_free>> value(ASN1_OCTET_STRING_new());
  if (length <= 0 || !value || ASN1_OCTET_STRING_set(value.get(), der, length) != 1) {
    fail_openssl("cannot encode the role");
  }
  const X509ExtensionPtr extension(X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 0, value.get()));
  if (!extension || X509_add_ext(certificate, extension.get(), -1) != 1) {
    fail_openssl("cannot add the role extension");
  }
}

void sign(X509* certificate, EVP_PKEY* key) {
  if (X509_sign(certificate, key, EVP_sha256()) <= 0) {
    fail_openssl("cannot sign the certificate");
  }
}

// The public key of a certificate signing request whose signature proves that the
// requester holds the private key.
EvpPkeyPtr public_key_from_request(std::string_view csr_pem) {
  BioPtr bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
  std::unique_ptr<X509_REQ, OpensslFree<X509_REQ_free>> request(
      bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!request) fail_openssl("the certificate request is not a PEM CSR");
  EvpPkeyPtr key(X509_REQ_get_pubkey(request.get()));
  if (!key || X509_REQ_verify(request.get(), key.get()) != 1) {
    fail_openssl("the certificate request's signature does not verify");
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) {
    throw PkiError("the certificate request's key must be ECDSA or Ed25519");
  }
  return key;
}

}  // namespace

struct SiteCa::Impl {
  fs::path certificate_path;
  EvpPkeyPtr key;
  X509Ptr certificate;

  // The profile shared by every issued certificate (see the header), for a fresh key.
  IssuedCertificate issue(const std::string& common_name, std::chrono::seconds validity,
                          const char* extended_key_usage, GENERAL_NAMES* alt_names,
                          const std::optional<std::string>& role = std::nullopt) const {
    const EvpPkeyPtr leaf_key = generate_key();
    IssuedCertificate issued{issue_for(leaf_key.get(), common_name, validity, extended_key_usage, alt_names, role),
                             private_key_to_pem(leaf_key.get())};
    if (issued.private_key_pem.empty()) fail_openssl("cannot encode the issued private key as PEM");
    return issued;
  }

  // The same profile for a key made elsewhere (a device or login CSR): returns the PEM.
  std::string issue_for(EVP_PKEY* leaf_key, const std::string& common_name, std::chrono::seconds validity,
                        const char* extended_key_usage, GENERAL_NAMES* alt_names,
                        const std::optional<std::string>& role) const {
    const X509Ptr leaf = new_certificate(leaf_key, common_name, validity);
    if (X509_set_issuer_name(leaf.get(), X509_get_subject_name(certificate.get())) != 1) {
      fail_openssl("cannot set the certificate issuer");
    }
    X509V3_CTX context;
    X509V3_set_ctx(&context, certificate.get(), leaf.get(), nullptr, nullptr, 0);
    add_extension(leaf.get(), &context, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(leaf.get(), &context, NID_key_usage, "critical,digitalSignature");
    add_extension(leaf.get(), &context, NID_ext_key_usage, extended_key_usage);
    add_extension(leaf.get(), &context, NID_subject_key_identifier, "hash");
    add_extension(leaf.get(), &context, NID_authority_key_identifier, "keyid:always");
    if (sk_GENERAL_NAME_num(alt_names) > 0 &&
        X509_add1_ext_i2d(leaf.get(), NID_subject_alt_name, alt_names, 0,
                          X509V3_ADD_DEFAULT) != 1) {
      fail_openssl("cannot add the subjectAltName extension");
    }
    if (role) add_role_extension(leaf.get(), *role);
    sign(leaf.get(), key.get());
    std::string pem = certificate_to_pem(leaf.get());
    if (pem.empty()) fail_openssl("cannot encode the issued certificate as PEM");
    return pem;
  }
};

SiteCa::SiteCa(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SiteCa::SiteCa(SiteCa&&) noexcept = default;
SiteCa& SiteCa::operator=(SiteCa&&) noexcept = default;
SiteCa::~SiteCa() = default;

SiteCa SiteCa::init(const fs::path& data_dir, const std::string& common_name,
                    std::chrono::days validity) {
  ERR_clear_error();
  require_common_name(common_name);
  require_validity(validity);
  const fs::path dir = data_dir / kPkiDir;
  const fs::path key_path = dir / kCaKeyFile;
  const fs::path cert_path = dir / kCaCertFile;
  for (const fs::path& path : {key_path, cert_path}) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(path, ec))) {
      throw PkiError("a site CA already exists: " + path.string() +
                     " is present, and replacing the CA would stop every certificate "
                     "in the plant from verifying");
    }
  }

  auto impl = std::make_unique<Impl>();
  impl->certificate_path = cert_path;
  impl->key = generate_key();
  impl->certificate = new_certificate(impl->key.get(), common_name, validity);
  X509* ca = impl->certificate.get();
  if (X509_set_issuer_name(ca, X509_get_subject_name(ca)) != 1) {
    fail_openssl("cannot set the CA issuer");
  }
  X509V3_CTX context;
  X509V3_set_ctx(&context, ca, ca, nullptr, nullptr, 0);
  add_extension(ca, &context, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(ca, &context, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(ca, &context, NID_subject_key_identifier, "hash");
  sign(ca, impl->key.get());

  std::string key_pem = private_key_to_pem(impl->key.get());
  const WipeOnExit wipe{key_pem};
  const std::string cert_pem = certificate_to_pem(ca);
  if (key_pem.empty() || cert_pem.empty()) fail_openssl("cannot encode the CA as PEM");
  write_key_and_certificate(key_path, key_pem, cert_path, cert_pem);
  return SiteCa(std::move(impl));
}

SiteCa SiteCa::open(const fs::path& data_dir) {
  ERR_clear_error();
  const fs::path dir = data_dir / kPkiDir;
  const fs::path key_path = dir / kCaKeyFile;
  const fs::path cert_path = dir / kCaCertFile;

  auto impl = std::make_unique<Impl>();
  impl->certificate_path = cert_path;
  std::string cert_pem;
  read_file(cert_path, cert_pem);
  impl->certificate = certificate_from_pem(cert_pem);
  if (!impl->certificate) {
    fail_openssl(cert_path.string() + " does not hold a PEM certificate");
  }
  // A leaf certificate put here by mistake would issue certificates nothing accepts.
  if (X509_check_ca(impl->certificate.get()) != 1) {
    throw PkiError(cert_path.string() + " is not a CA certificate (no basicConstraints CA:TRUE)");
  }

  std::string key_pem;
  const WipeOnExit wipe{key_pem};
  read_file(key_path, key_pem);
  impl->key = private_key_from_pem(key_pem);
  if (!impl->key) {
    fail_openssl(key_path.string() + " does not hold an unencrypted PEM private key");
  }
  if (X509_check_private_key(impl->certificate.get(), impl->key.get()) != 1) {
    fail_openssl(key_path.string() + " is not the private key of " + cert_path.string());
  }
  return SiteCa(std::move(impl));
}

IssuedCertificate SiteCa::issue_server(const ServerCertificateSpec& spec) const {
  ERR_clear_error();
  require_name("server name", spec.name);
  require_validity(spec.validity);
  // Chromium and most TLS stacks match the host only against the SAN, so a server
  // certificate without one would be refused by every client.
  if (spec.dns_names.empty() && spec.ip_addresses.empty()) {
    throw PkiError("server certificate " + shown(spec.name) +
                   " needs at least one DNS name or IP address");
  }
  const GeneralNamesPtr names = new_general_names();
  for (const std::string& dns : spec.dns_names) {
    if (!is_valid_dns_name(dns)) {
      throw PkiError("DNS name " + shown(dns) +
                     " is invalid: use dot-separated labels of A-Z a-z 0-9 -");
    }
    add_general_name(names.get(), GEN_DNS, dns);
  }
  for (const std::string& ip : spec.ip_addresses) {
    std::array<unsigned char, 16> address{};
    std::size_t size = 0;
    if (::inet_pton(AF_INET, ip.c_str(), address.data()) == 1) {
      size = 4;
    } else if (::inet_pton(AF_INET6, ip.c_str(), address.data()) == 1) {
      size = 16;
    } else {
      throw PkiError("IP address " + shown(ip) + " is invalid: use IPv4 or IPv6 text");
    }
    add_general_name(names.get(), GEN_IPADD,
                     std::string_view(reinterpret_cast<const char*>(address.data()), size));
  }
  return impl_->issue(spec.name, spec.validity, "serverAuth", names.get());
}

IssuedCertificate SiteCa::issue_device(const DeviceCertificateSpec& spec) const {
  ERR_clear_error();
  require_name("device id", spec.device_id);
  if (spec.user) require_name("user name", *spec.user);
  if (spec.role) require_name("role", *spec.role);
  require_validity(spec.validity);
  const GeneralNamesPtr names = new_general_names();
  if (spec.user) {
    add_general_name(names.get(), GEN_URI, std::string(uri::kUser) + *spec.user);
  }
  return impl_->issue(spec.device_id, spec.validity, "clientAuth", names.get(), spec.role);
}

std::string SiteCa::issue_device_from_request(const std::string& device_id, std::string_view csr_pem,
                                              std::chrono::days validity) const {
  ERR_clear_error();
  require_name("device id", device_id);
  require_validity(validity);
  EvpPkeyPtr key = public_key_from_request(csr_pem);
  const GeneralNamesPtr names = new_general_names();
  return impl_->issue_for(key.get(), device_id, validity, "clientAuth", names.get(), std::nullopt);
}

std::string SiteCa::issue_login(const LoginCertificateSpec& spec, std::string_view csr_pem) const {
  ERR_clear_error();
  require_name("device id", spec.device_id);
  require_name("user name", spec.user);
  for (const std::string& role : spec.roles) require_name("role", role);
  if (spec.modbus_role) require_name("role", *spec.modbus_role);
  if (spec.asset) require_name("asset", *spec.asset);
  if (spec.validity <= std::chrono::seconds{0} || spec.validity > std::chrono::days{7}) {
    throw PkiError("a login certificate lives at most 7 days");
  }
  EvpPkeyPtr key = public_key_from_request(csr_pem);
  const GeneralNamesPtr names = new_general_names();
  add_general_name(names.get(), GEN_URI, std::string(uri::kUser) + spec.user);
  for (const std::string& role : spec.roles) add_general_name(names.get(), GEN_URI, std::string(uri::kRole) + role);
  add_general_name(names.get(), GEN_URI, std::string(uri::kKey) + spec.key_id);
  if (spec.asset) add_general_name(names.get(), GEN_URI, std::string(uri::kAsset) + *spec.asset);
  if (spec.assertion) add_general_name(names.get(), GEN_URI, std::string(uri::kAssertion) + *spec.assertion);
  return impl_->issue_for(key.get(), spec.device_id, spec.validity, "clientAuth", names.get(), spec.modbus_role);
}

std::string SiteCa::certificate_pem() const {
  std::string pem = certificate_to_pem(impl_->certificate.get());
  if (pem.empty()) fail_openssl("cannot encode the CA certificate as PEM");
  return pem;
}

fs::path SiteCa::certificate_path() const { return impl_->certificate_path; }

WrittenFiles write_certificate_files(const IssuedCertificate& issued,
                                     const std::filesystem::path& dir, const std::string& base) {
  require_name("file base name", base);
  if (issued.certificate_pem.empty() || issued.private_key_pem.empty()) {
    throw PkiError("nothing to write for " + shown(base) +
                   ": the certificate or private key PEM is empty");
  }
  WrittenFiles files{dir / (base + ".crt"), dir / (base + ".key")};
  write_key_and_certificate(files.private_key, issued.private_key_pem, files.certificate,
                            issued.certificate_pem);
  return files;
}

}  // namespace conduit::mfa
