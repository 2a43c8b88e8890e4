// The protocols Conduit understands, and what a grant allows on each. A grant carries one
// rule set per protocol it is meant for; it applies to an asset only when it has rules for
// that asset's protocol, so a grant written for Modbus reads can never open a raw tunnel
// to a `tcp` asset that happens to carry the same label.
//
// ProtocolRules is the one list of protocols: a protocol's id is its index here, and its
// name (as in the configuration, recordings and logs) is its rules type's kProtocol.
// Adding a protocol adds its rules type here; config/, the gateway's handler registry and
// the recorder look protocols up by id or name and never compare with a particular one.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>

#include "authz/modbus_rules.hpp"

namespace conduit::authz {

// An opaque, recorded tunnel: opening the session is the whole permission.
struct TcpRules {
  static constexpr std::string_view kProtocol = "tcp";
};

using ProtocolRules = std::variant<TcpRules, ModbusRules>;
using ProtocolId = std::uint8_t;
inline constexpr std::size_t kProtocolCount = std::variant_size_v<ProtocolRules>;

// The id of the protocol whose rules are `Rules`.
template <typename Rules, std::size_t I = 0>
constexpr ProtocolId protocol_of() {
  static_assert(I < kProtocolCount, "not a member of ProtocolRules");
  if constexpr (std::is_same_v<Rules, std::variant_alternative_t<I, ProtocolRules>>) {
    return static_cast<ProtocolId>(I);
  } else {
    return protocol_of<Rules, I + 1>();
  }
}

inline constexpr auto kProtocolNames = []<std::size_t... I>(std::index_sequence<I...>) {
  return std::array<std::string_view, kProtocolCount>{std::variant_alternative_t<I, ProtocolRules>::kProtocol...};
}(std::make_index_sequence<kProtocolCount>());

constexpr std::string_view protocol_name(ProtocolId id) { return id < kProtocolCount ? kProtocolNames[id] : "unknown"; }

constexpr std::optional<ProtocolId> protocol_named(std::string_view name) {
  for (std::size_t i = 0; i < kProtocolCount; ++i) {
    if (kProtocolNames[i] == name) return static_cast<ProtocolId>(i);
  }
  return std::nullopt;
}

}  // namespace conduit::authz
