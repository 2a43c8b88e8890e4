// Raw TCP: an authorized, recorded tunnel. After the session decision (session.hpp) the
// gateway connects to the listener's asset and relays bytes both ways until either side
// closes, the idle timeout passes, or the gateway ends the session; both directions are
// recorded as they pass (nothing in an opaque stream can be told to be a write). Logs
// session_open / session_close (proxy/EVENTS.md).
//
// No allocation per relayed read: two fixed buffers live in the session object.
#pragma once

#include <memory>

#include "proxy/gateway/protocol_handler.hpp"

namespace conduit::proxy {

std::unique_ptr<ProtocolHandler> make_tcp_handler();

}  // namespace conduit::proxy
