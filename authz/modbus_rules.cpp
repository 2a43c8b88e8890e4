#include "authz/modbus_rules.hpp"

#include <algorithm>

namespace conduit::authz {
namespace {

namespace modbus = protocols::modbus;

// Ranges are few per table; a linear scan beats anything clever at these sizes.
bool covered(const std::vector<AddressRange>& ranges, std::uint16_t start, std::uint16_t count) {
  std::uint32_t last = std::uint32_t{start} + count - 1;
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const AddressRange& range) { return range.first <= start && last <= range.last; });
}

bool values_within_bounds(const ModbusRules& rules, const modbus::Request& request) {
  const modbus::TableRange& write = request.write;
  for (const ValueBound& bound : rules.value_bounds) {
    if (bound.table != write.table) continue;
    std::uint32_t first = std::max<std::uint32_t>(bound.addresses.first, write.start);
    std::uint32_t last = std::min<std::uint32_t>(bound.addresses.last, std::uint32_t{write.start} + write.count - 1);
    if (first > last) continue;
    // A mask write's result depends on the register's current value, which only the PLC
    // knows, so it cannot be proven within bounds.
    if (request.function == modbus::function::kMaskWriteRegister) return false;
    for (std::uint32_t address = first; address <= last; ++address) {
      std::size_t index = address - write.start;
      std::uint16_t value = write.table == modbus::Table::coils ? request.coil_value(index)
                                                                : request.register_value(index);
      if (value < bound.min || value > bound.max) return false;
    }
  }
  return true;
}

}  // namespace

std::optional<ModbusStage> refuses(const ModbusRules& rules, const modbus::Request& request) noexcept {
  if (!rules.functions.test(request.function)) return ModbusStage::function;
  if (!rules.unit_ids.test(request.mbap.unit_id)) return ModbusStage::unit;
  const modbus::TableRange& read = request.read;
  if (read.active() && read.count > 0 &&
      !covered(rules.read[static_cast<std::size_t>(read.table)], read.start, read.count)) {
    return ModbusStage::read;
  }
  const modbus::TableRange& write = request.write;
  if (write.active() && write.count > 0) {
    if (!covered(rules.write[static_cast<std::size_t>(write.table)], write.start, write.count)) {
      return ModbusStage::write;
    }
    if (!values_within_bounds(rules, request)) return ModbusStage::value;
  }
  return std::nullopt;
}

std::string_view stage_reason(ModbusStage stage) noexcept {
  switch (stage) {
    case ModbusStage::function: return "function code not granted";
    case ModbusStage::unit: return "unit id not granted";
    case ModbusStage::read: return "read outside granted addresses";
    case ModbusStage::write: return "write outside granted addresses";
    case ModbusStage::value: return "written value outside granted bounds";
  }
  return "denied";
}

}  // namespace conduit::authz
