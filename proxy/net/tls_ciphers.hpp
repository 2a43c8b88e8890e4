// Small constants shared by the proxy's I/O code. Endpoint text lives in
// proxy/net_text.hpp.
#pragma once

namespace conduit::proxy {

// TLS 1.2 suites: ECDHE key exchange with AEAD only (Modbus/TCP Security R-61/62, 62443
// SR 4.3). TLS 1.3 suites are all AEAD, so OpenSSL's default list stands. Used by both
// ends of a Conduit connection: the gateway (server) and `conduit tunnel` (client).
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace conduit::proxy
