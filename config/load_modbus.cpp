// Modbus in the configuration: an asset's `modbus` settings (its upstream pool) and a
// grant's `modbus` rules (function codes, units, per-table address ranges, value bounds).
#include <algorithm>
#include <charconv>

#include "config/json_reader.hpp"
#include "config/protocol_schema.hpp"

namespace conduit::config::detail {
namespace {

using nlohmann::json;
namespace modbus = protocols::modbus;

AssetSettings load_modbus_asset(const json* value, const std::string& pointer) {
  static const json kDefaults = json::object();
  ObjectReader reader(value ? *value : kDefaults, pointer);
  ModbusAssetSettings settings;
  settings.unit_ids = unit_ids(reader, "unit_ids");
  settings.max_connections = static_cast<unsigned>(reader.number("max_connections", 2, 1, 64));
  settings.max_in_flight = static_cast<unsigned>(reader.number("max_in_flight", 1, 1, 64));
  settings.request_timeout = std::chrono::milliseconds(reader.number("request_timeout_ms", 1000, 10, 600000));
  settings.max_outstanding_per_client =
      static_cast<unsigned>(reader.number("max_outstanding_per_client", 16, 1, 1024));
  reader.finish();
  return settings;
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

authz::ProtocolRules load_modbus_rules(const json& value, const std::string& pointer) {
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

}  // namespace

const ProtocolSchema kModbusSchema{load_modbus_asset, load_modbus_rules};

}  // namespace conduit::config::detail
