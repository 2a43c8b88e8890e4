// Small helpers shared by the proxy's I/O code: endpoint text for log fields, and the TLS
// 1.2 cipher policy that both ends of a Conduit connection use. Header-only, pure,
// thread-safe.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace conduit::proxy {

// "10.0.0.5:802", "[fd00::5]:802": the form config::parse_endpoint reads back.
inline std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

// TLS 1.2 suites: ECDHE key exchange with AEAD only (Modbus/TCP Security R-61/62, 62443
// SR 4.3). TLS 1.3 suites are all AEAD, so OpenSSL's default list stands.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace conduit::proxy
