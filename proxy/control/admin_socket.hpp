// One connection to the root-only admin socket (proxy/ADMIN.md): one JSON request line,
// one JSON reply line. Revocations and lockdowns go to the credential store (they
// survive a restart), are published to every I/O thread at once, and end the matching
// live sessions before the reply is sent. Each action is an event (admin_* in EVENTS.md).
// Only root (or the user the gateway started as) may talk to it: SO_PEERCRED is checked.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "proxy/control/control_state.hpp"

namespace conduit::proxy {

boost::asio::awaitable<void> serve_admin_connection(boost::asio::local::stream_protocol::socket socket,
                                                    ControlState& state);

}  // namespace conduit::proxy
