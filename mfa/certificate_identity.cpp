#include "mfa/certificate_identity.hpp"
#include "mfa/site_ca.hpp"

#include <algorithm>
#include <memory>
#include <string_view>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/hex.hpp"
#include "common/openssl.hpp"
#include "mfa/certificate_uris.hpp"

namespace conduit::mfa {

using common::GeneralNamesPtr;
using common::OpensslBytesFree;
using common::OpensslFree;

namespace {

std::string_view view_of(const ASN1_STRING* text) {
  const unsigned char* data = ASN1_STRING_get0_data(text);
  const int length = ASN1_STRING_length(text);
  if (data == nullptr || length <= 0) return {};
  return {reinterpret_cast<const char*>(data), static_cast<std::size_t>(length)};
}

// An embedded NUL would make "plc1\0x" read as "plc1" to any C string API downstream.
bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

std::string device_of(const X509* certificate) {
  const X509_NAME* subject = X509_get_subject_name(certificate);
  if (subject == nullptr) return {};
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  // Two CNs make "the" device ambiguous; the site CA never issues such a certificate.
  if (index < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) return {};
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  if (value == nullptr) return {};
  unsigned char* raw = nullptr;
  const int length = ASN1_STRING_to_UTF8(&raw, value);
  const std::unique_ptr<unsigned char, OpensslBytesFree> utf8(raw);
  if (length <= 0 || !utf8) return {};
  const std::string_view device(reinterpret_cast<const char*>(utf8.get()),
                                static_cast<std::size_t>(length));
  return has_nul(device) ? std::string() : std::string(device);
}

// The conduit: SAN URIs (mfa/certificate_uris.hpp). The first of each single-valued kind
// counts; roles accumulate. A value with a NUL or an invalid name is dropped.
void read_uris(const X509* certificate, CertificateIdentity& identity) {
  // Null when there is no SAN, when it does not decode, and when it appears twice.
  const GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return;
  auto take = [](std::string_view uri, std::string_view prefix, std::string& out) {
    if (!uri.starts_with(prefix) || !out.empty()) return false;
    std::string_view value = uri.substr(prefix.size());
    if (!has_nul(value)) out = value;
    return true;
  };
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name == nullptr || name->type != GEN_URI) continue;
    const std::string_view uri = view_of(name->d.uniformResourceIdentifier);
    if (uri.starts_with(uri::kRole)) {
      std::string_view role = uri.substr(uri::kRole.size());
      if (!role.empty() && !has_nul(role)) identity.roles.emplace_back(role);
      continue;
    }
    take(uri, uri::kUser, identity.user) || take(uri, uri::kKey, identity.key) ||
        take(uri, uri::kAsset, identity.session_asset) || take(uri, uri::kAssertion, identity.assertion);
  }
}

// exactly one role extension, whose value is one UTF8String; anything else is no role.
std::string role_of(const X509* certificate) {
  const std::unique_ptr<ASN1_OBJECT, OpensslFree<ASN1_OBJECT_free>> oid(OBJ_txt2obj(kModbusRoleOid, 1));
  if (!oid) return {};
  const int index = X509_get_ext_by_OBJ(certificate, oid.get(), -1);
  if (index < 0 || X509_get_ext_by_OBJ(certificate, oid.get(), index) >= 0) return {};
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(certificate, index));
  const unsigned char* cursor = ASN1_STRING_get0_data(data);
  const std::unique_ptr<ASN1_UTF8STRING, OpensslFree<ASN1_UTF8STRING_free>> role(
      d2i_ASN1_UTF8STRING(nullptr, &cursor, ASN1_STRING_length(data)));
  if (!role || cursor != ASN1_STRING_get0_data(data) + ASN1_STRING_length(data)) return {};
  const std::string_view text = view_of(role.get());
  return has_nul(text) ? std::string() : std::string(text);
}

// Same digits as BN_bn2hex (whole bytes, no leading zero bytes), lower-cased, without
// allocating a BIGNUM.
std::string serial_of(const X509* certificate) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(certificate);
  if (serial == nullptr) return {};
  std::string_view bytes = view_of(serial);
  while (!bytes.empty() && bytes.front() == '\0') bytes.remove_prefix(1);
  if (bytes.empty()) return "0";
  return (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER ? "-" : "") + common::hex_encode(bytes);
}

}  // namespace

CertificateIdentity identity_from_certificate(const X509* certificate) {
  if (certificate == nullptr) return {};
  // Decoding a malformed SAN queues OpenSSL errors; left on this thread's queue they would
  // be misread as the cause of the next failing TLS call on the connection.
  ERR_set_mark();
  CertificateIdentity identity;
  identity.device = device_of(certificate);
  identity.role = role_of(certificate);
  identity.serial = serial_of(certificate);
  read_uris(certificate, identity);
  // A login certificate names its single role twice (URI and Modbus extension): once here.
  if (!identity.role.empty() &&
      std::find(identity.roles.begin(), identity.roles.end(), identity.role) == identity.roles.end()) {
    identity.roles.push_back(identity.role);
  }
  ERR_pop_to_mark();
  return identity;
}

}  // namespace conduit::mfa
