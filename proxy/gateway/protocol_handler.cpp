#include "proxy/gateway/protocol_handler.hpp"

#include <stdexcept>
#include <string>

namespace conduit::proxy {

void HandlerRegistry::add(std::unique_ptr<ProtocolHandler> handler) {
  auto& slot = handlers_.at(handler->protocol());
  if (slot) throw std::logic_error("two handlers for protocol " + std::string(authz::protocol_name(handler->protocol())));
  slot = std::move(handler);
}

const ProtocolHandler* HandlerRegistry::find(authz::ProtocolId protocol) const {
  return protocol < handlers_.size() ? handlers_[protocol].get() : nullptr;
}

const ProtocolHandler& HandlerRegistry::at(authz::ProtocolId protocol) const {
  const ProtocolHandler* handler = find(protocol);
  if (!handler) {
    throw std::runtime_error("this gateway has no handler for protocol " + std::string(authz::protocol_name(protocol)));
  }
  return *handler;
}

}  // namespace conduit::proxy
