// Grants: who (users or roles) on which devices may reach which assets, when, and for
// Modbus assets exactly which functions, units, addresses and values.
#include <algorithm>
#include <charconv>

#include "config/json_reader.hpp"

namespace conduit::config::detail {
namespace {

using nlohmann::json;
namespace modbus = protocols::modbus;

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

// "0-99", "100", or a number: protocol addresses (0-based), inclusive.
authz::AddressRange parse_range(const json& value, const std::string& pointer) {
  if (value.is_number_unsigned() && value.get<std::uint64_t>() <= 65535) {
    auto address = value.get<std::uint16_t>();
    return {address, address};
  }
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    auto dash = text.find('-');
    unsigned first = 0;
    unsigned last = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    const char* split = dash == std::string::npos ? end : text.data() + dash;
    auto a = std::from_chars(begin, split, first);
    bool ok = a.ec == std::errc() && a.ptr == split;
    if (dash == std::string::npos) {
      last = first;
    } else {
      auto b = std::from_chars(split + 1, end, last);
      ok = ok && b.ec == std::errc() && b.ptr == end;
    }
    if (ok && first <= last && last <= 65535) {
      return {static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last)};
    }
  }
  throw ConfigError(pointer, value.dump() + " is not an address or range \"first-last\" within 0..65535");
}

struct TableName {
  std::string_view name;
  modbus::Table table;
};
constexpr TableName kTableNames[] = {
    {"coils", modbus::Table::coils},
    {"discrete_inputs", modbus::Table::discrete_inputs},
    {"input_registers", modbus::Table::input_registers},
    {"holding_registers", modbus::Table::holding_registers},
};

modbus::Table table_named(const std::string& name, const std::string& pointer) {
  for (const TableName& entry : kTableNames) {
    if (entry.name == name) return entry.table;
  }
  throw ConfigError(pointer, json_quoted(name) +
                                 " is not a table (coils, discrete_inputs, input_registers, holding_registers)");
}

// {"holding_registers": ["0-99", 200], ...}: sorted by first address.
std::array<std::vector<authz::AddressRange>, authz::kTables> load_table_ranges(const json* value,
                                                                              const std::string& pointer) {
  std::array<std::vector<authz::AddressRange>, authz::kTables> ranges;
  if (!value) return ranges;
  ObjectReader reader(*value, pointer);
  for (const TableName& entry : kTableNames) {
    if (!reader.find(entry.name)) continue;
    const json& list = reader.array(entry.name);
    auto& table = ranges[static_cast<std::size_t>(entry.table)];
    for (std::size_t i = 0; i < list.size(); ++i) {
      table.push_back(parse_range(list[i], pointer_append(reader.at(entry.name), std::to_string(i))));
    }
    std::sort(table.begin(), table.end(), [](auto& a, auto& b) { return a.first < b.first; });
  }
  reader.finish();
  return ranges;
}

std::vector<authz::ValueBound> load_value_bounds(ObjectReader& rules) {
  std::vector<authz::ValueBound> bounds;
  if (!rules.find("values")) return bounds;
  const json& list = rules.array("values");
  for (std::size_t i = 0; i < list.size(); ++i) {
    ObjectReader reader(list[i], pointer_append(rules.at("values"), std::to_string(i)));
    authz::ValueBound bound;
    bound.table = table_named(reader.required_string("table"), reader.at("table"));
    if (bound.table != modbus::Table::holding_registers && bound.table != modbus::Table::coils) {
      throw ConfigError(reader.at("table"), "only holding_registers and coils can be written");
    }
    bound.addresses = parse_range(reader.require("addresses"), reader.at("addresses"));
    bound.min = static_cast<std::uint16_t>(reader.number("min", 0, 0, 65535));
    bound.max = static_cast<std::uint16_t>(reader.number("max", 65535, 0, 65535));
    if (bound.min > bound.max) throw ConfigError(reader.at("max"), "is below min");
    reader.finish();
    bounds.push_back(bound);
  }
  return bounds;
}

// Without an explicit list, the public read/write codes of the tables the grant names.
// Diagnostics, identification, file records, FIFO and non-public codes need listing.
std::bitset<256> default_functions(const authz::ModbusRules& rules) {
  auto named = [](const auto& ranges, modbus::Table table) { return !ranges[static_cast<std::size_t>(table)].empty(); };
  namespace fc = modbus::function;
  std::bitset<256> functions;
  if (named(rules.read, modbus::Table::coils)) functions.set(fc::kReadCoils);
  if (named(rules.read, modbus::Table::discrete_inputs)) functions.set(fc::kReadDiscreteInputs);
  if (named(rules.read, modbus::Table::holding_registers)) functions.set(fc::kReadHoldingRegisters);
  if (named(rules.read, modbus::Table::input_registers)) functions.set(fc::kReadInputRegisters);
  if (named(rules.write, modbus::Table::coils)) {
    functions.set(fc::kWriteSingleCoil);
    functions.set(fc::kWriteMultipleCoils);
  }
  if (named(rules.write, modbus::Table::holding_registers)) {
    functions.set(fc::kWriteSingleRegister);
    functions.set(fc::kWriteMultipleRegisters);
    functions.set(fc::kMaskWriteRegister);
    if (named(rules.read, modbus::Table::holding_registers)) functions.set(fc::kReadWriteMultipleRegisters);
  }
  return functions;
}

authz::ModbusRules load_modbus_rules(const json& value, const std::string& pointer) {
  ObjectReader reader(value, pointer);
  authz::ModbusRules rules;
  rules.unit_ids = unit_ids(reader, "unit_ids");
  rules.read = load_table_ranges(reader.find("read"), reader.at("read"));
  rules.write = load_table_ranges(reader.find("write"), reader.at("write"));
  for (auto table : {modbus::Table::discrete_inputs, modbus::Table::input_registers}) {
    if (!rules.write[static_cast<std::size_t>(table)].empty()) {
      throw ConfigError(pointer_append(reader.at("write"), modbus::table_name(table)), "this table is read-only");
    }
  }
  rules.value_bounds = load_value_bounds(reader);
  if (reader.find("functions")) {
    const json& list = reader.array("functions");
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_number_unsigned() || list[i].get<unsigned>() < 1 || list[i].get<unsigned>() > 127) {
        throw ConfigError(pointer_append(reader.at("functions"), std::to_string(i)), "expected a function code 1..127");
      }
      rules.functions.set(list[i].get<unsigned>());
    }
  } else {
    rules.functions = default_functions(rules);
  }
  reader.finish();
  return rules;
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

// Deny by default: a grant that says nothing needs a FIDO2 login certificate.
authz::Mfa load_mfa(ObjectReader& grant) {
  std::string text = grant.string("mfa", "login");
  if (text == "none") return authz::Mfa::none;
  if (text == "login") return authz::Mfa::login;
  if (text == "per_session") return authz::Mfa::per_session;
  throw ConfigError(grant.at("mfa"), json_quoted(text) + " is not \"none\", \"login\" or \"per_session\"");
}

}  // namespace

std::vector<authz::Grant> load_grants(const json* value, const Config& config) {
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
    if (const json* rules = reader.find("modbus")) grant.modbus = load_modbus_rules(*rules, reader.at("modbus"));
    grant.mfa = load_mfa(reader);
    reader.finish();
    grants.push_back(std::move(grant));
  }
  return grants;
}

}  // namespace conduit::config::detail
