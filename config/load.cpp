#include "config/load.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/json_reader.hpp"
#include "config/protocol_schema.hpp"

namespace conduit::config {
namespace {

using nlohmann::json;
using namespace detail;

std::filesystem::path readable_file(ObjectReader& reader, std::string_view key,
                                    const std::string& fallback, const std::filesystem::path& data_dir) {
  std::filesystem::path path = reader.string(key, fallback);
  if (path.empty()) throw ConfigError(reader.at(key), "must not be empty");
  if (path.is_relative()) path = data_dir / path;
  std::ifstream in(path, std::ios::binary);
  if (!in || in.peek() == std::ifstream::traits_type::eof()) {
    std::string why = in ? "file is empty" : std::strerror(errno);
    throw ConfigError(reader.at(key), "cannot read " + json_quoted(path.string()) + ": " + why);
  }
  return path;
}

GatewaySettings load_gateway(const json& root, const std::optional<std::filesystem::path>& override_dir) {
  ObjectReader reader(root, "/gateway");
  GatewaySettings gateway;
  gateway.id = reader.required_name("id");
  gateway.data_dir = reader.string("data_dir", gateway.data_dir.string());
  if (override_dir) gateway.data_dir = *override_dir;
  if (gateway.data_dir.empty()) throw ConfigError(reader.at("data_dir"), "must not be empty");
  gateway.data_dir = std::filesystem::absolute(gateway.data_dir);
  gateway.threads = static_cast<unsigned>(reader.number("threads", 0, 0, 256));
  gateway.run_as = reader.string("run_as", "");
  gateway.admin_socket = reader.string("admin_socket", (gateway.data_dir / "admin.sock").string());
  if (gateway.admin_socket.is_relative()) gateway.admin_socket = gateway.data_dir / gateway.admin_socket;
  reader.finish();
  return gateway;
}

TlsSettings load_tls(const json* value, const std::filesystem::path& data_dir) {
  static const json kEmpty = json::object();
  ObjectReader reader(value ? *value : kEmpty, "/tls");
  TlsSettings tls;
  tls.certificate = readable_file(reader, "certificate", "pki/gateway.crt", data_dir);
  tls.private_key = readable_file(reader, "private_key", "pki/gateway.key", data_dir);
  tls.client_ca = readable_file(reader, "client_ca", "pki/ca.crt", data_dir);
  std::string version = reader.string("min_version", "1.2");
  if (version == "1.2") {
    tls.min_version = TlsVersion::v1_2;
  } else if (version == "1.3") {
    tls.min_version = TlsVersion::v1_3;
  } else {
    throw ConfigError(reader.at("min_version"), json_quoted(version) + " is not \"1.2\" or \"1.3\"");
  }
  reader.finish();
  return tls;
}

Limits load_limits(const json* value) {
  Limits limits;
  if (!value) return limits;
  ObjectReader reader(*value, "/limits");
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  limits.handshake_timeout = milliseconds(reader.number("handshake_timeout_ms", 5000, 100, 600000));
  limits.connect_timeout = milliseconds(reader.number("connect_timeout_ms", 3000, 100, 600000));
  limits.idle_timeout = seconds(reader.number("idle_timeout_s", 900, 1, 7 * 86400));
  limits.drain_timeout = seconds(reader.number("drain_timeout_s", 30, 0, 86400));
  limits.max_sessions = static_cast<unsigned>(reader.number("max_sessions", 1024, 1, 1000000));
  limits.max_unauthenticated = static_cast<unsigned>(reader.number("max_unauthenticated", 64, 1, 100000));
  reader.finish();
  return limits;
}

bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  bool has_letter = false;
  for (char c : name) {
    if (std::isalpha(static_cast<unsigned char>(c))) has_letter = true;
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return has_letter && name.front() != '.' && name.back() != '.';
}

bool is_aaguid(std::string_view text) {
  return text.size() == 32 && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

AuthSettings load_auth(const json* value, const std::filesystem::path& data_dir) {
  AuthSettings auth;
  if (!value) return auth;
  ObjectReader reader(*value, "/auth");
  using std::chrono::seconds;
  auth.enabled = true;
  auth.listen = endpoint(reader, "listen", true);
  auth.rp_id = reader.required_string("rp_id");
  if (!is_dns_name(auth.rp_id)) {
    throw ConfigError(reader.at("rp_id"), json_quoted(auth.rp_id) +
                                              " is not a DNS name (FIDO2 relying party ids are never IP addresses)");
  }
  auth.certificate_ttl = seconds(reader.number("certificate_ttl_s", 8 * 3600, 60, 7 * 86400));
  auth.session_certificate_ttl = seconds(reader.number("session_certificate_ttl_s", 60, 10, 3600));
  auth.challenge_ttl = seconds(reader.number("challenge_ttl_s", 60, 1, 600));
  auth.require_user_verification = reader.boolean("require_user_verification", false);
  auth.modbus_role_extension = reader.boolean("modbus_role_extension", true);
  if (reader.find("aaguids")) {
    const json& list = reader.array("aaguids");
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string pointer = pointer_append(reader.at("aaguids"), std::to_string(i));
      if (!list[i].is_string() || !is_aaguid(list[i].get<std::string>())) {
        throw ConfigError(pointer, "expected an AAGUID: 32 lower-case hex digits");
      }
      auth.aaguids.push_back(list[i].get<std::string>());
    }
  }
  if (reader.find("attestation_roots")) auth.attestation_roots = readable_file(reader, "attestation_roots", "", data_dir);
  reader.finish();
  return auth;
}

RecordingSettings load_recordings(const json* value) {
  RecordingSettings recordings;
  if (!value) return recordings;
  ObjectReader reader(*value, "/recordings");
  recordings.enabled = reader.boolean("enabled", true);
  recordings.seal_interval = std::chrono::milliseconds(reader.number("seal_interval_ms", 2000, 100, 60000));
  recordings.max_age = std::chrono::hours(24 * reader.number("max_age_days", 0, 0, 36500));
  recordings.max_total_bytes = reader.number("max_total_mb", 0, 0, 1ull << 30) * 1024 * 1024;
  reader.finish();
  return recordings;
}

// FNV-1a: stable across builds and platforms, enough to tell policy versions apart.
std::string text_version(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
  char out[32];
  std::snprintf(out, sizeof out, "fnv1a64:%016llx", static_cast<unsigned long long>(hash));
  return out;
}

Protocol protocol(ObjectReader& reader, std::string_view key) {
  return protocol_named(reader.string(key, std::string(authz::protocol_name(kTcp))), reader.at(key));
}

std::vector<Asset> load_assets(ObjectReader& root) {
  const json& list = require_array(root, "assets");
  std::vector<Asset> assets;
  UniqueNames unique("asset name");
  for (std::size_t i = 0; i < list.size(); ++i) {
    ObjectReader reader(list[i], "/assets/" + std::to_string(i));
    Asset asset;
    asset.name = reader.required_name("name");
    unique.add(asset.name, reader.at("name"));
    asset.address = endpoint(reader, "address", false);
    Protocol kind = protocol(reader, "kind");
    asset.labels = reader.names("labels", false);
    // Settings are keyed by protocol name: another protocol's settings are a mistake.
    for (std::size_t other = 0; other < authz::kProtocolCount; ++other) {
      std::string key(authz::protocol_name(static_cast<Protocol>(other)));
      if (other != kind && reader.find(key)) {
        throw ConfigError(reader.at(key), "only for assets of kind " + json_quoted(key));
      }
    }
    std::string key(authz::protocol_name(kind));
    asset.settings = schema_of(kind).load_asset(reader.find(key), reader.at(key));
    reader.finish();
    assets.push_back(std::move(asset));
  }
  return assets;
}

std::vector<Listener> load_listeners(ObjectReader& root, const Config& config) {
  const json& list = require_array(root, "listeners");
  if (list.empty()) throw ConfigError("/listeners", "must not be empty");
  std::vector<Listener> listeners;
  UniqueNames unique_names("listener name");
  UniqueNames unique_binds("listener bind");
  for (std::size_t i = 0; i < list.size(); ++i) {
    ObjectReader reader(list[i], "/listeners/" + std::to_string(i));
    Listener listener;
    listener.name = reader.required_name("name");
    unique_names.add(listener.name, reader.at("name"));
    listener.bind = endpoint(reader, "bind", true);
    if (listener.bind.port != 0) unique_binds.add(listener.bind.to_string(), reader.at("bind"));
    listener.asset = reader.required_string("asset");
    const Asset* asset = config.find_asset(listener.asset);
    if (!asset) throw ConfigError(reader.at("asset"), "no asset named " + json_quoted(listener.asset));
    listener.protocol = protocol(reader, "protocol");
    // An opaque tunnel to a Modbus asset would bypass request-by-request policy.
    if (asset->protocol() != listener.protocol) {
      throw ConfigError(reader.at("protocol"), std::string("asset ") + json_quoted(asset->name) + " is of kind " +
                                                   json_quoted(authz::protocol_name(asset->protocol())) +
                                                   "; its listeners must use the same protocol");
    }
    reader.finish();
    listeners.push_back(std::move(listener));
  }
  return listeners;
}

authz::DeviceGroups load_device_groups(ObjectReader& root) {
  authz::DeviceGroups groups;
  const json* value = root.find("device_groups");
  if (!value) return groups;
  ObjectReader reader(*value, "/device_groups");
  for (const auto& [name, unused] : value->items()) {
    if (!valid_name(name)) throw ConfigError(reader.at(name), json_quoted(name) + " is not a name");
    groups.emplace(name, reader.names(name));
  }
  reader.finish();
  return groups;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; keep what follows.
std::string parse_error_detail(const std::string& what) {
  auto end = what.find("] ");
  return "invalid JSON: " + (end == std::string::npos ? what : what.substr(end + 2));
}

// A grant that needs a FIDO2 login could never admit anyone without the auth API: say so
// rather than deny everything silently.
void check_grants_can_be_met(const Config& config) {
  if (config.auth.enabled) return;
  for (std::size_t i = 0; i < config.grants.size(); ++i) {
    if (config.grants[i].mfa != authz::Mfa::none) {
      throw ConfigError("/grants/" + std::to_string(i) + "/mfa",
                        "needs a FIDO2 login (the default) but there is no \"auth\" section; add one, or set "
                        "\"mfa\": \"none\" to admit long-lived user certificates");
    }
  }
}

}  // namespace

ConfigError::ConfigError(std::string pointer, const std::string& detail)
    : std::runtime_error("config error at " + (pointer.empty() ? std::string("/") : pointer) + ": " + detail),
      pointer_(std::move(pointer)) {}

std::string Endpoint::to_string() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

const Asset* Config::find_asset(const std::string& name) const {
  for (const Asset& asset : assets) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) return std::nullopt;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    in_addr v4{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) return std::nullopt;
  }
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  return Endpoint{std::string(host), static_cast<std::uint16_t>(value)};
}

Config load_text(std::string_view text, const std::filesystem::path& file,
                 const std::optional<std::filesystem::path>& data_dir_override) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError("", parse_error_detail(e.what()));
  }
  ObjectReader reader(root, "");
  Config config;
  config.file = file;
  config.gateway = load_gateway(reader.require("gateway"), data_dir_override);
  config.tls = load_tls(reader.find("tls"), config.gateway.data_dir);
  config.limits = load_limits(reader.find("limits"));
  config.auth = load_auth(reader.find("auth"), config.gateway.data_dir);
  config.recordings = load_recordings(reader.find("recordings"));
  config.version = text_version(text);
  config.assets = load_assets(reader);
  config.listeners = load_listeners(reader, config);
  config.device_groups = load_device_groups(reader);
  config.grants = load_grants(reader.find("grants"), config, config.notes);
  check_grants_can_be_met(config);
  reader.finish();
  return config;
}

Config load_file(const std::filesystem::path& file,
                 const std::optional<std::filesystem::path>& data_dir_override) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError("", "cannot read " + json_quoted(file.string()) + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return load_text(text.str(), file, data_dir_override);
}

}  // namespace conduit::config
