#include "config/load.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace conduit::config {
namespace {

using nlohmann::json;

// RFC 6901: "~" and "/" inside a key are escaped.
std::string pointer_append(const std::string& base, std::string_view key) {
  std::string out = base + "/";
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string json_quoted(std::string_view text) { return json(std::string(text)).dump(); }

const char* type_name(const json& value) {
  if (value.is_number_unsigned() || value.is_number_integer()) return "integer";
  return value.type_name();
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Reads one JSON object, remembering which keys were used so that finish() can reject
// unknown keys (a misspelt "max_sesions" must not silently fall back to a default).
class ObjectReader {
 public:
  ObjectReader(const json& value, std::string pointer) : value_(value), pointer_(std::move(pointer)) {
    if (!value_.is_object()) {
      throw ConfigError(pointer_, std::string("expected an object, got ") + type_name(value_));
    }
  }

  std::string at(std::string_view key) const { return pointer_append(pointer_, key); }

  const json* find(std::string_view key) {
    known_.insert(std::string(key));
    auto it = value_.find(std::string(key));
    return it == value_.end() ? nullptr : &*it;
  }

  const json& require(std::string_view key) {
    const json* value = find(key);
    if (!value) throw ConfigError(at(key), "missing required field");
    return *value;
  }

  std::string string(std::string_view key, const std::string& fallback) {
    const json* value = find(key);
    return value ? as_string(*value, at(key)) : fallback;
  }

  std::string required_string(std::string_view key) { return as_string(require(key), at(key)); }

  std::string required_name(std::string_view key) {
    std::string name = required_string(key);
    if (!valid_name(name)) {
      throw ConfigError(at(key), json_quoted(name) + " is not a name (1-64 of A-Z a-z 0-9 . _ -)");
    }
    return name;
  }

  std::uint64_t number(std::string_view key, std::uint64_t fallback, std::uint64_t min,
                       std::uint64_t max) {
    const json* value = find(key);
    if (!value) return fallback;
    if (!value->is_number_unsigned() && !(value->is_number_integer() && value->get<std::int64_t>() >= 0)) {
      throw ConfigError(at(key), std::string("expected a non-negative integer, got ") + type_name(*value));
    }
    auto number = value->get<std::uint64_t>();
    if (number < min || number > max) {
      throw ConfigError(at(key), std::to_string(number) + " is out of range " + std::to_string(min) +
                                     ".." + std::to_string(max));
    }
    return number;
  }

  std::vector<std::string> names(std::string_view key) {
    const json& list = require(key);
    if (!list.is_array()) {
      throw ConfigError(at(key), std::string("expected an array, got ") + type_name(list));
    }
    if (list.empty()) throw ConfigError(at(key), "must not be empty (use \"*\" for any)");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string item_pointer = pointer_append(at(key), std::to_string(i));
      std::string name = as_string(list[i], item_pointer);
      if (name != authz::kWildcard && !valid_name(name)) {
        throw ConfigError(item_pointer, json_quoted(name) + " is not a name or \"*\"");
      }
      out.push_back(std::move(name));
    }
    return out;
  }

  void finish() const {
    for (const auto& [key, unused] : value_.items()) {
      if (known_.count(key)) continue;
      std::string expected;
      for (const auto& name : known_) expected += (expected.empty() ? "" : ", ") + name;
      throw ConfigError(at(key), "unknown key (expected one of: " + expected + ")");
    }
  }

 private:
  static std::string as_string(const json& value, const std::string& pointer) {
    if (!value.is_string()) {
      throw ConfigError(pointer, std::string("expected a string, got ") + type_name(value));
    }
    return value.get<std::string>();
  }

  const json& value_;
  std::string pointer_;
  std::set<std::string> known_;
};

const json& require_array(ObjectReader& reader, std::string_view key) {
  const json& list = reader.require(key);
  if (!list.is_array()) {
    throw ConfigError(reader.at(key), std::string("expected an array, got ") + type_name(list));
  }
  return list;
}

Endpoint endpoint(ObjectReader& reader, std::string_view key, bool port_zero_allowed) {
  std::string text = reader.required_string(key);
  auto parsed = parse_endpoint(text);
  if (!parsed) throw ConfigError(reader.at(key), json_quoted(text) + " is not host:port");
  if (parsed->port == 0 && !port_zero_allowed) {
    throw ConfigError(reader.at(key), json_quoted(text) + " has port 0");
  }
  return *parsed;
}

// Remembers the first place each name was seen, to report duplicates with both places.
class UniqueNames {
 public:
  explicit UniqueNames(std::string what) : what_(std::move(what)) {}
  void add(const std::string& name, const std::string& pointer) {
    auto [it, inserted] = first_.emplace(name, pointer);
    if (!inserted) {
      throw ConfigError(pointer, "duplicate " + what_ + " " + json_quoted(name) + " (first at " + it->second + ")");
    }
  }

 private:
  std::string what_;
  std::map<std::string, std::string> first_;
};

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
    if (!config.find_asset(listener.asset)) {
      throw ConfigError(reader.at("asset"), "no asset named " + json_quoted(listener.asset));
    }
    reader.finish();
    listeners.push_back(std::move(listener));
  }
  return listeners;
}

std::vector<authz::Grant> load_grants(ObjectReader& root, const Config& config) {
  const json* value = root.find("grants");
  if (!value) return {};
  if (!value->is_array()) {
    throw ConfigError("/grants", std::string("expected an array, got ") + type_name(*value));
  }
  std::vector<authz::Grant> grants;
  UniqueNames unique("grant id");
  for (std::size_t i = 0; i < value->size(); ++i) {
    ObjectReader reader((*value)[i], "/grants/" + std::to_string(i));
    authz::Grant grant;
    grant.id = reader.required_name("id");
    unique.add(grant.id, reader.at("id"));
    grant.users = reader.names("users");
    grant.devices = reader.names("devices");
    grant.assets = reader.names("assets");
    for (std::size_t a = 0; a < grant.assets.size(); ++a) {
      if (grant.assets[a] != authz::kWildcard && !config.find_asset(grant.assets[a])) {
        throw ConfigError(reader.at("assets") + "/" + std::to_string(a),
                          "no asset named " + json_quoted(grant.assets[a]));
      }
    }
    reader.finish();
    grants.push_back(std::move(grant));
  }
  return grants;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; keep what follows.
std::string parse_error_detail(const std::string& what) {
  auto end = what.find("] ");
  return "invalid JSON: " + (end == std::string::npos ? what : what.substr(end + 2));
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
  config.assets = load_assets(reader);
  config.listeners = load_listeners(reader, config);
  config.grants = load_grants(reader, config);
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
