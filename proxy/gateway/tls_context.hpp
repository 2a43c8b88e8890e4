// The gateway's server-side TLS context: TLS 1.2+ with AEAD ciphers only, no compression,
// no renegotiation, no session resumption, and a client certificate from the configured
// CA required on every connection. Built once per configuration (start-up and SIGHUP);
// immutable afterwards and shared by all I/O threads.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "config/model.hpp"

namespace conduit::proxy {

// Throws config::ConfigError naming /tls/<field> if a file does not parse or the key does
// not match the certificate.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const config::TlsSettings& tls);

}  // namespace conduit::proxy
