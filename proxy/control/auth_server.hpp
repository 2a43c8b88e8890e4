// One HTTPS connection to the auth API (proxy/AUTH_API.md): TLS with a required client
// certificate from the site CA (the device), one JSON request, one JSON reply, close.
// Every outcome is an event (auth_* in proxy/EVENTS.md). Runs on the control-plane thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "proxy/control/control_state.hpp"

namespace conduit::proxy {

boost::asio::awaitable<void> serve_auth_connection(boost::asio::ip::tcp::socket socket,
                                                   boost::asio::ssl::context& tls, ControlState& state);

}  // namespace conduit::proxy
