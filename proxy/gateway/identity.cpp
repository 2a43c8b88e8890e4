#include "proxy/gateway/identity.hpp"

#include "mfa/certificate_identity.hpp"

namespace conduit::proxy {

std::string_view to_string(IdentitySource source) {
  switch (source) {
    case IdentitySource::client_certificate: return "client_certificate";
  }
  return "unknown";
}

Identity identity_from_client_certificate(const X509* certificate, std::string_view asset) {
  mfa::CertificateIdentity read = mfa::identity_from_certificate(certificate);
  Identity identity;
  identity.source = IdentitySource::client_certificate;
  identity.device = std::move(read.device);
  identity.user = std::move(read.user);
  identity.role = std::move(read.role);
  identity.roles = std::move(read.roles);
  identity.mfa = static_cast<authz::Mfa>(read.mfa_level(asset));
  identity.key = std::move(read.key);
  identity.credential = std::move(read.serial);
  // Only a touch for this very asset counts as this session's assertion.
  if (identity.mfa == authz::Mfa::per_session) identity.assertion = std::move(read.assertion);
  return identity;
}

}  // namespace conduit::proxy
