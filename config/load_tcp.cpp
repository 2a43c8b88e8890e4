// Raw TCP in the configuration: assets have nothing beyond their address, and a grant's
// `"tcp": {}` says that it may open an opaque, recorded tunnel (there is nothing finer to
// allow inside one).
#include "config/protocol_schema.hpp"

namespace conduit::config::detail {
namespace {

AssetSettings load_tcp_asset(const json* value, const std::string& pointer) {
  if (value) ObjectReader(*value, pointer).finish();
  return TcpAssetSettings{};
}

authz::ProtocolRules load_tcp_rules(const json& value, const std::string& pointer) {
  ObjectReader(value, pointer).finish();  // {} only: anything inside is a mistake
  return authz::TcpRules{};
}

}  // namespace

const ProtocolSchema kTcpSchema{load_tcp_asset, load_tcp_rules};

}  // namespace conduit::config::detail
