// The gateway's configuration as typed values, after validation (config/load.hpp).
// Plain data: no runtime state, no I/O. Field meanings are documented in config/README.md.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "authz/policy.hpp"

namespace conduit::config {

// A validated "host:port". `host` is a numeric IPv4/IPv6 address or a DNS name.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

struct GatewaySettings {
  std::string id;
  std::filesystem::path data_dir = "/var/lib/conduit";
  unsigned threads = 0;  // 0: one per core
  std::string run_as;    // empty: keep the starting user
  std::filesystem::path admin_socket;  // root-only control socket; default <data_dir>/admin.sock
};

enum class TlsVersion { v1_2, v1_3 };

struct TlsSettings {
  std::filesystem::path certificate;  // absolute after loading
  std::filesystem::path private_key;
  std::filesystem::path client_ca;
  TlsVersion min_version = TlsVersion::v1_2;
};

struct Limits {
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::seconds idle_timeout{900};
  std::chrono::seconds drain_timeout{30};
  unsigned max_sessions = 1024;
  unsigned max_unauthenticated = 64;
};

// FIDO2 login (mfa/README.md). Absent from the file: no auth API; only grants with
// "mfa": "none" can then admit anyone.
struct AuthSettings {
  bool enabled = false;
  Endpoint listen;                        // HTTPS auth API; clients present device certificates
  std::string rp_id;                      // FIDO2 relying party id (a DNS name, never an IP)
  std::chrono::seconds certificate_ttl{8 * 3600};      // login certificates
  std::chrono::seconds session_certificate_ttl{60};    // per-session certificates: time to connect
  std::chrono::seconds challenge_ttl{60};
  bool require_user_verification = false; // PIN/biometric on the key, not only a touch
  std::vector<std::string> aaguids;       // lower-case hex, 32 digits; empty: any model
  std::filesystem::path attestation_roots;  // PEM; empty: attestation certificates not chained
  bool modbus_role_extension = true;      // put the user's (single) role in the Modbus/TCP Security extension
};

// Session recordings (audit/FORMAT.md, audit/recorder.hpp) under <data_dir>/recordings.
struct RecordingSettings {
  bool enabled = true;                        // false: measurements only; logged as a warning
  std::chrono::milliseconds seal_interval{2000};
  std::chrono::hours max_age{0};              // 0: keep regardless of age
  std::uint64_t max_total_bytes = 0;          // 0: no size cap
};

// A protocol, as authz numbers them (authz/protocol_rules.hpp): "tcp", "modbus", ...
using Protocol = authz::ProtocolId;
inline constexpr Protocol kTcp = authz::protocol_of<authz::TcpRules>();

struct Listener {
  std::string name;
  Endpoint bind;
  std::string asset;
  Protocol protocol = kTcp;  // always the asset's protocol
};

// A raw TCP asset has nothing to configure beyond its address.
struct TcpAssetSettings {
  static constexpr std::string_view kProtocol = "tcp";
};

// How the gateway talks to a Modbus asset: real PLCs accept few connections and often
// one request at a time, so many client sessions share a small pool.
struct ModbusAssetSettings {
  static constexpr std::string_view kProtocol = "modbus";
  std::bitset<256> unit_ids;                 // others are answered with exception 0A
  unsigned max_connections = 2;              // upstream connections in the pool
  unsigned max_in_flight = 1;                // requests outstanding per upstream connection
  std::chrono::milliseconds request_timeout{1000};  // answered with exception 0B after this
  unsigned max_outstanding_per_client = 16;  // flood protection per client session
};

// An asset's protocol settings: one type per protocol, in the order of authz::ProtocolRules,
// so that the settings' index is the asset's protocol.
using AssetSettings = std::variant<TcpAssetSettings, ModbusAssetSettings>;
static_assert([]<std::size_t... I>(std::index_sequence<I...>) {
  return std::variant_size_v<AssetSettings> == authz::kProtocolCount &&
         ((std::variant_alternative_t<I, AssetSettings>::kProtocol == authz::kProtocolNames[I]) && ...);
}(std::make_index_sequence<authz::kProtocolCount>()), "AssetSettings must list the protocols of authz::ProtocolRules in order");

struct Asset {
  std::string name;
  Endpoint address;
  std::vector<std::string> labels;
  AssetSettings settings;  // its index is the asset's protocol

  Protocol protocol() const { return static_cast<Protocol>(settings.index()); }
  // The settings of the asset's protocol; throws std::bad_variant_access for another.
  template <typename Settings>
  const Settings& settings_of() const {
    return std::get<Settings>(settings);
  }
};

struct Config {
  std::filesystem::path file;
  std::string version;  // digest of the file's text: names the policy in recordings
  GatewaySettings gateway;
  TlsSettings tls;
  Limits limits;
  AuthSettings auth;
  RecordingSettings recordings;
  std::vector<Listener> listeners;
  std::vector<Asset> assets;
  std::vector<authz::Grant> grants;
  authz::DeviceGroups device_groups;
  // Things a person should know that are not errors (e.g. a grant in an older form);
  // `check-config` prints them, `serve` logs them.
  std::vector<std::string> notes;

  const Asset* find_asset(const std::string& name) const;
};

}  // namespace conduit::config
