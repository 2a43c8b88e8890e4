// Reading JSON into typed values with errors that name their JSON Pointer. Internal to
// config/: the one place that knows nlohmann::json. Every check throws ConfigError.
#pragma once

#include <bitset>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/load.hpp"

namespace conduit::config::detail {

using nlohmann::json;

// RFC 6901: "~" and "/" inside a key are escaped.
inline std::string pointer_append(const std::string& base, std::string_view key) {
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

inline std::string json_quoted(std::string_view text) { return json(std::string(text)).dump(); }

inline const char* type_name(const json& value) {
  if (value.is_number_unsigned() || value.is_number_integer()) return "integer";
  return value.type_name();
}

inline bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A name, "prefix*", "*", or "group:NAME" / "label:NAME" (checked where they apply).
inline bool valid_pattern(std::string_view text) {
  for (std::string_view prefix : {authz::kGroupPrefix, authz::kLabelPrefix}) {
    if (text.starts_with(prefix)) return valid_name(text.substr(prefix.size()));
  }
  if (text == authz::kWildcard) return true;
  if (text.size() > 1 && text.back() == '*') return valid_name(text.substr(0, text.size() - 1));
  return valid_name(text);
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
  const std::string& pointer() const { return pointer_; }

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

  bool boolean(std::string_view key, bool fallback) {
    const json* value = find(key);
    if (!value) return fallback;
    if (!value->is_boolean()) throw ConfigError(at(key), std::string("expected true or false, got ") + type_name(*value));
    return value->get<bool>();
  }

  std::vector<std::string> names(std::string_view key, bool required = true) {
    if (!required && !find(key)) return {};
    const json& list = require(key);
    if (!list.is_array()) {
      throw ConfigError(at(key), std::string("expected an array, got ") + type_name(list));
    }
    // An empty list of who/where would grant nothing, silently: say so. Optional lists
    // (labels, or users when roles are given) may be empty.
    if (list.empty() && required) throw ConfigError(at(key), "must not be empty (use \"*\" for any)");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string item_pointer = pointer_append(at(key), std::to_string(i));
      std::string name = as_string(list[i], item_pointer);
      if (!valid_pattern(name)) {
        throw ConfigError(item_pointer, json_quoted(name) + " is not a name, \"prefix*\" or \"*\"");
      }
      out.push_back(std::move(name));
    }
    return out;
  }

  const json& array(std::string_view key) {
    const json& list = require(key);
    if (!list.is_array()) throw ConfigError(at(key), std::string("expected an array, got ") + type_name(list));
    return list;
  }

  void finish() const {
    for (const auto& [key, unused] : value_.items()) {
      if (known_.count(key)) continue;
      std::string expected;
      for (const auto& name : known_) expected += (expected.empty() ? "" : ", ") + name;
      throw ConfigError(at(key), expected.empty() ? "unknown key (this object takes none)"
                                                  : "unknown key (expected one of: " + expected + ")");
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

inline const json& require_array(ObjectReader& reader, std::string_view key) {
  const json& list = reader.require(key);
  if (!list.is_array()) {
    throw ConfigError(reader.at(key), std::string("expected an array, got ") + type_name(list));
  }
  return list;
}

inline Endpoint endpoint(ObjectReader& reader, std::string_view key, bool port_zero_allowed) {
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

// Unit ids: an array of 0..255, or "*" for 1..255 (never 0, the broadcast address, unless
// listed). Absent: "*".
inline std::bitset<256> unit_ids(ObjectReader& reader, std::string_view key) {
  std::bitset<256> units;
  const json* value = reader.find(key);
  if (!value || (value->is_string() && value->get<std::string>() == authz::kWildcard)) {
    units.set();
    units.reset(0);
    return units;
  }
  if (!value->is_array() || value->empty()) {
    throw ConfigError(reader.at(key), "expected \"*\" or a non-empty array of unit ids 0..255");
  }
  for (std::size_t i = 0; i < value->size(); ++i) {
    const json& unit = (*value)[i];
    if (!unit.is_number_unsigned() || unit.get<unsigned>() > 255) {
      throw ConfigError(pointer_append(reader.at(key), std::to_string(i)), "expected a unit id 0..255");
    }
    units.set(unit.get<unsigned>());
  }
  return units;
}

// Grants (config/load_grants.cpp); assets and device groups must already be loaded.
// Appends to `notes` what a person should know that is not an error.
std::vector<authz::Grant> load_grants(const nlohmann::json* grants, const Config& config,
                                      std::vector<std::string>& notes);

}  // namespace conduit::config::detail
