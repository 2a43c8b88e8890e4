// The client side of the gateway's auth API (proxy/AUTH_API.md): one HTTPS POST of a
// JSON body with the device's client certificate, the reply's status and body back.
// Used by `conduit login` and by `conduit tunnel --per-session-mfa`. Blocking, with a
// deadline; throws std::runtime_error naming the gateway and what failed.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "proxy/client/client_tls.hpp"

namespace conduit::proxy {

struct ApiReply {
  unsigned status = 0;
  std::string body;
};

ApiReply post_json(const GatewayAddress& gateway, boost::asio::ssl::context& tls, std::string_view target,
                   const std::string& body, std::chrono::seconds timeout = std::chrono::seconds(15));

// The same, throwing std::runtime_error with the gateway's message unless the status is 200.
std::string post_json_ok(const GatewayAddress& gateway, boost::asio::ssl::context& tls, std::string_view target,
                         const std::string& body);

}  // namespace conduit::proxy
