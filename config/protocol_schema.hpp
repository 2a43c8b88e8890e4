// How each protocol appears in the configuration file: its asset settings
// (`assets[].<protocol>`) and its grant rules (`grants[].<protocol>`). Internal to config/.
// One schema per protocol, indexed by its authz::ProtocolId (protocol_schema.cpp); the
// loader looks protocols up here and never compares with a particular one.
#pragma once

#include <string>

#include "config/json_reader.hpp"

namespace conduit::config::detail {

struct ProtocolSchema {
  // The asset's settings from `assets[].<protocol>`; `value` is null when the key is absent
  // (defaults). Throws ConfigError naming the JSON path.
  AssetSettings (*load_asset)(const json* value, const std::string& pointer);
  // A grant's rules from `grants[].<protocol>`. Throws ConfigError naming the JSON path.
  authz::ProtocolRules (*load_rules)(const json& value, const std::string& pointer);
};

// Each protocol's schema, defined beside its loader (load_<protocol>.cpp); registered in
// protocol_schema.cpp.
extern const ProtocolSchema kTcpSchema;
extern const ProtocolSchema kModbusSchema;

const ProtocolSchema& schema_of(Protocol protocol);

// The protocol named `name`, or a ConfigError at `pointer` listing the known names.
Protocol protocol_named(const std::string& name, const std::string& pointer);

}  // namespace conduit::config::detail
