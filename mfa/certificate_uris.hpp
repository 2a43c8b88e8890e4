// The SAN URIs that carry Conduit's identity claims in certificates from the site CA.
// site_ca.cpp writes them; certificate_identity.cpp reads them. See mfa/README.md.
#pragma once

#include <string_view>

namespace conduit::mfa::uri {

inline constexpr std::string_view kUser = "conduit:user/";        // the user the certificate speaks for
inline constexpr std::string_view kRole = "conduit:role/";        // one per role the user holds
inline constexpr std::string_view kKey = "conduit:key/";          // hex id of the FIDO2 credential touched
inline constexpr std::string_view kAsset = "conduit:asset/";      // per-session: the one asset it opens
inline constexpr std::string_view kAssertion = "conduit:assertion/";  // per-session: single-use assertion id

}  // namespace conduit::mfa::uri
