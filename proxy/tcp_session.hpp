// One client connection on a generic TCP listener: TLS handshake with a required client
// certificate, identity from that certificate, a session decision from authz, a connection
// to the listener's asset, then a byte relay both ways until either side closes, the idle
// timeout passes, or the gateway ends the session. Logs session_open / session_close
// (proxy/EVENTS.md).
//
// Threading: the session runs entirely on the io_context that owns `client`; all its
// state is confined to that thread. No allocation per relayed read: two fixed buffers
// live in the session object.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "proxy/runtime.hpp"
#include "proxy/session_registry.hpp"

namespace conduit::proxy {

// `state.sessions` and `state.handshaking` must already count this connection; the
// session releases both.
void start_tcp_session(boost::asio::ip::tcp::socket client, std::size_t listener_index,
                       std::shared_ptr<const Snapshot> snapshot, GatewayState& state,
                       SessionRegistry& registry);

}  // namespace conduit::proxy
