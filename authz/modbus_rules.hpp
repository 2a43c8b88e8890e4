// What a grant allows on a Modbus asset, request by request: function codes, unit ids,
// per-table read and write address ranges, and bounds on written values. Pure data plus
// the allocation-free check of one decoded request against it (modbus_rules.cpp).
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocols/modbus/codec.hpp"

namespace conduit::authz {

// Inclusive address range, e.g. 0-99.
struct AddressRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
};

// Writes to these addresses of this table must carry values in [min, max].
struct ValueBound {
  protocols::modbus::Table table = protocols::modbus::Table::holding_registers;
  AddressRange addresses;
  std::uint16_t min = 0;
  std::uint16_t max = 0;
};

inline constexpr std::size_t kTables = 6;  // indexed by protocols::modbus::Table

struct ModbusRules {
  static constexpr std::string_view kProtocol = "modbus";

  // Function codes allowed. Config fills in the public read/write codes of the tables the
  // grant names; diagnostics (7, 8, 11, 12, 17), file records (20, 21), FIFO (24),
  // device identification (43) and every non-public code only when listed explicitly.
  std::bitset<256> functions;
  std::bitset<256> unit_ids;  // unit 0 (broadcast) only when listed explicitly
  std::array<std::vector<AddressRange>, kTables> read;
  std::array<std::vector<AddressRange>, kTables> write;
  std::vector<ValueBound> value_bounds;
};

// How far a grant's rules got before they refused a request: the furthest one explains a
// deny best. Ordered.
enum class ModbusStage { function, unit, read, write, value };

// Why `rules` refuse `request`, or nullopt if they allow all of it. The caller has
// already refused structurally unsound requests (kStructuralAnomalies).
std::optional<ModbusStage> refuses(const ModbusRules& rules, const protocols::modbus::Request& request) noexcept;

std::string_view stage_reason(ModbusStage stage) noexcept;

}  // namespace conduit::authz
