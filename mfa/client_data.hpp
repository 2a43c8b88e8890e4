// The client data a Conduit client has the FIDO2 key sign (through its SHA-256, the
// clientDataHash), in the spirit of WebAuthn's clientDataJSON: it binds the assertion to
// the challenge, the relying party, the purpose, the asset of a per-session touch, and
// the public key the resulting certificate will carry (so nobody between the client and
// the gateway can swap in their own key). The gateway parses it; it never string-matches.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace conduit::mfa {

struct ClientData {
  std::string type;       // "conduit.login", "conduit.session" or "conduit.enroll"
  std::string challenge;  // base64url, as issued
  std::string rp_id;
  std::string key;        // base64url SHA-256 of the CSR's SubjectPublicKeyInfo (login, session)
  std::string asset;      // session only
};

inline constexpr std::string_view kLoginType = "conduit.login";
inline constexpr std::string_view kSessionType = "conduit.session";
inline constexpr std::string_view kEnrollType = "conduit.enroll";

std::string client_data_json(const ClientData& data);
// nullopt unless it is a JSON object whose known fields are strings.
std::optional<ClientData> parse_client_data(std::string_view json);

// base64url(SHA-256(SubjectPublicKeyInfo DER)) of the key in a PEM CSR; empty if it is not one.
std::string csr_key_digest(std::string_view csr_pem);

}  // namespace conduit::mfa
