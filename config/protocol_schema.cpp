#include "config/protocol_schema.hpp"

#include <array>

namespace conduit::config::detail {

namespace {

// In the order of authz::ProtocolRules (checked by model.hpp for AssetSettings, whose
// alternatives the loaders return).
const std::array<const ProtocolSchema*, authz::kProtocolCount> kSchemas{&kTcpSchema, &kModbusSchema};

}  // namespace

const ProtocolSchema& schema_of(Protocol protocol) { return *kSchemas.at(protocol); }

Protocol protocol_named(const std::string& name, const std::string& pointer) {
  if (auto protocol = authz::protocol_named(name)) return *protocol;
  std::string known;
  for (std::string_view each : authz::kProtocolNames) known += (known.empty() ? "\"" : ", \"") + std::string(each) + "\"";
  throw ConfigError(pointer, json_quoted(name) + " is not a protocol (" + known + ")");
}

}  // namespace conduit::config::detail
