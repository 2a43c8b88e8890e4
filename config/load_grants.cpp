// Grants: who (users or roles) on which devices may reach which assets, when, and with
// which rules for each protocol (config/protocol_schema.hpp).
#include <algorithm>
#include <charconv>

#include "config/json_reader.hpp"
#include "config/protocol_schema.hpp"

namespace conduit::config::detail {
namespace {

using nlohmann::json;

constexpr std::string_view kDayNames[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

std::optional<unsigned> day_index(std::string_view name) {
  for (unsigned i = 0; i < 7; ++i) {
    if (kDayNames[i] == name) return i;
  }
  return std::nullopt;
}

// "mon", or a range "mon-fri" (wrapping allowed: "sat-mon").
std::uint8_t parse_days(const std::string& text, const std::string& pointer) {
  auto dash = text.find('-');
  auto first = day_index(std::string_view(text).substr(0, dash));
  auto last = dash == std::string::npos ? first : day_index(std::string_view(text).substr(dash + 1));
  if (!first || !last) throw ConfigError(pointer, json_quoted(text) + " is not a day (mon..sun) or day range (mon-fri)");
  std::uint8_t days = 0;
  for (unsigned day = *first;; day = (day + 1) % 7) {
    days |= static_cast<std::uint8_t>(1u << day);
    if (day == *last) break;
  }
  return days;
}

// "HH:MM" with 24:00 allowed as an end of day.
std::uint16_t parse_clock(ObjectReader& reader, std::string_view key, const std::string& fallback) {
  std::string text = reader.string(key, fallback);
  unsigned hours = 0;
  unsigned minutes = 0;
  bool ok = text.size() == 5 && text[2] == ':' &&
            std::from_chars(text.data(), text.data() + 2, hours).ec == std::errc() &&
            std::from_chars(text.data() + 3, text.data() + 5, minutes).ec == std::errc() && minutes < 60 &&
            (hours < 24 || (hours == 24 && minutes == 0));
  if (!ok) throw ConfigError(reader.at(key), json_quoted(text) + " is not a time HH:MM");
  return static_cast<std::uint16_t>(hours * 60 + minutes);
}

std::vector<authz::TimeWindow> load_time_windows(ObjectReader& grant) {
  std::vector<authz::TimeWindow> windows;
  if (!grant.find("time_windows")) return windows;
  const json& list = grant.array("time_windows");
  for (std::size_t i = 0; i < list.size(); ++i) {
    ObjectReader reader(list[i], pointer_append(grant.at("time_windows"), std::to_string(i)));
    authz::TimeWindow window;
    window.days = 0;
    for (const std::string& days : reader.names("days")) window.days |= parse_days(days, reader.at("days"));
    window.from = parse_clock(reader, "from", "00:00");
    window.to = parse_clock(reader, "to", "24:00");
    if (window.from == window.to) throw ConfigError(reader.at("to"), "the window is empty (from == to)");
    reader.finish();
    windows.push_back(window);
  }
  return windows;
}

void check_references(const authz::Grant& grant, ObjectReader& reader, const Config& config) {
  for (std::size_t i = 0; i < grant.assets.size(); ++i) {
    const std::string& entry = grant.assets[i];
    bool plain = entry != authz::kWildcard && entry.back() != '*' && !entry.starts_with(authz::kLabelPrefix);
    if (entry.starts_with(authz::kGroupPrefix) || (plain && !config.find_asset(entry))) {
      throw ConfigError(pointer_append(reader.at("assets"), std::to_string(i)), "no asset named " + json_quoted(entry));
    }
  }
  for (std::size_t i = 0; i < grant.devices.size(); ++i) {
    const std::string& entry = grant.devices[i];
    bool unknown_group = entry.starts_with(authz::kGroupPrefix) &&
                         !config.device_groups.count(entry.substr(authz::kGroupPrefix.size()));
    if (unknown_group || entry.starts_with(authz::kLabelPrefix)) {
      throw ConfigError(pointer_append(reader.at("devices"), std::to_string(i)),
                        "no device group named " + json_quoted(entry));
    }
  }
}

// One rule set per protocol, keyed by the protocol's name. A grant without any is in the
// form from before per-protocol rules, when such a grant meant a raw tunnel: it is read
// as `"tcp": {}`, and the configuration's notes say so.
std::vector<authz::ProtocolRules> load_rules(ObjectReader& reader, std::vector<std::string>& notes) {
  std::vector<authz::ProtocolRules> rules;
  for (std::size_t protocol = 0; protocol < authz::kProtocolCount; ++protocol) {
    std::string key(authz::protocol_name(static_cast<Protocol>(protocol)));
    if (const json* value = reader.find(key)) {
      rules.push_back(schema_of(static_cast<Protocol>(protocol)).load_rules(*value, reader.at(key)));
    }
  }
  if (rules.empty()) {
    rules.push_back(authz::TcpRules{});
    notes.push_back(reader.pointer() +
                    " has no protocol rules: read as \"tcp\": {} (raw tunnels only); write that explicitly");
  }
  return rules;
}

// A grant that names an asset outright must have rules for its protocol: otherwise the
// name is a mistake that would silently open nothing (or, before per-protocol rules, a
// raw tunnel the writer never meant).
void check_protocols(const authz::Grant& grant, ObjectReader& reader, const Config& config) {
  for (std::size_t i = 0; i < grant.assets.size(); ++i) {
    const Asset* asset = config.find_asset(grant.assets[i]);
    if (!asset || grant.rules_for(asset->protocol())) continue;
    std::string kind(authz::protocol_name(asset->protocol()));
    throw ConfigError(pointer_append(reader.at("assets"), std::to_string(i)),
                      "asset " + json_quoted(asset->name) + " is of kind " + json_quoted(kind) +
                          " but the grant has no " + json_quoted(kind) + " rules; add them or remove the asset");
  }
}

// Deny by default: a grant that says nothing needs a FIDO2 login certificate.
authz::Mfa load_mfa(ObjectReader& grant) {
  std::string text = grant.string("mfa", "login");
  if (text == "none") return authz::Mfa::none;
  if (text == "login") return authz::Mfa::login;
  if (text == "per_session") return authz::Mfa::per_session;
  throw ConfigError(grant.at("mfa"), json_quoted(text) + " is not \"none\", \"login\" or \"per_session\"");
}

}  // namespace

std::vector<authz::Grant> load_grants(const json* value, const Config& config, std::vector<std::string>& notes) {
  if (!value) return {};
  if (!value->is_array()) throw ConfigError("/grants", std::string("expected an array, got ") + type_name(*value));
  std::vector<authz::Grant> grants;
  UniqueNames unique("grant id");
  for (std::size_t i = 0; i < value->size(); ++i) {
    ObjectReader reader((*value)[i], "/grants/" + std::to_string(i));
    authz::Grant grant;
    grant.id = reader.required_name("id");
    unique.add(grant.id, reader.at("id"));
    grant.users = reader.names("users", false);
    grant.roles = reader.names("roles", false);
    if (grant.users.empty() && grant.roles.empty()) {
      throw ConfigError(reader.at("users"), "a grant needs users or roles");
    }
    grant.devices = reader.names("devices");
    grant.assets = reader.names("assets");
    check_references(grant, reader, config);
    grant.time_windows = load_time_windows(reader);
    grant.rules = load_rules(reader, notes);
    check_protocols(grant, reader, config);
    grant.mfa = load_mfa(reader);
    reader.finish();
    grants.push_back(std::move(grant));
  }
  return grants;
}

}  // namespace conduit::config::detail
