// A client session on a `modbus` listener: Modbus/TCP Security (MBAP inside TLS, client
// certificate required; port 802 by convention). Every request is decoded
// (protocols/modbus), decided against the session's grants (authz), recorded (audit), and
// either answered here -- exception 01 for "not authorized" (Modbus/TCP Security R-31),
// 0A for a unit the asset does not serve, 0B when the asset does not answer -- or
// re-encoded from its decoded form and forwarded through the asset's upstream pool.
// Malformed framing or a structurally invalid request ends the session: nothing after it
// can be framed or trusted.
#pragma once

#include <memory>

#include "proxy/gateway/protocol_handler.hpp"

namespace conduit::proxy {

std::unique_ptr<ProtocolHandler> make_modbus_handler();

}  // namespace conduit::proxy
