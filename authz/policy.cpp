#include "authz/policy.hpp"

#include <algorithm>

namespace conduit::authz {
namespace {

namespace modbus = protocols::modbus;

bool matches_name(std::string_view pattern, std::string_view value) {
  if (value.empty()) return false;
  if (pattern == kWildcard) return true;
  if (pattern.size() > 1 && pattern.back() == '*') {
    return value.starts_with(pattern.substr(0, pattern.size() - 1));
  }
  return pattern == value;
}

bool names_subject(const Grant& grant, const Subject& subject) {
  for (const std::string& user : grant.users) {
    // "*" also admits a device-only certificate: the device is the identity until FIDO2
    // login binds a user to every session.
    if (user == kWildcard || matches_name(user, subject.user)) return true;
  }
  return std::any_of(grant.roles.begin(), grant.roles.end(), [&](const std::string& role) {
    return matches_name(role, subject.role) ||
           std::any_of(subject.roles.begin(), subject.roles.end(),
                       [&](const std::string& held) { return matches_name(role, held); });
  });
}

bool in_time(const Grant& grant, WeekTime now) {
  if (grant.time_windows.empty()) return true;
  return std::any_of(grant.time_windows.begin(), grant.time_windows.end(),
                     [&](const TimeWindow& window) { return window.contains(now); });
}

// Ranges are few per table; a linear scan beats anything clever at these sizes.
bool covered(const std::vector<AddressRange>& ranges, std::uint16_t start, std::uint16_t count) {
  std::uint32_t last = std::uint32_t{start} + count - 1;
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const AddressRange& range) { return range.first <= start && last <= range.last; });
}

// How far a grant got before it failed: the furthest one explains a deny best.
enum class Stage { time_window, no_rules, function, unit, read, write, value };

std::string_view stage_reason(Stage stage) {
  switch (stage) {
    case Stage::time_window: return "outside the grant's time windows";
    case Stage::no_rules: return "grant has no Modbus rules";
    case Stage::function: return "function code not granted";
    case Stage::unit: return "unit id not granted";
    case Stage::read: return "read outside granted addresses";
    case Stage::write: return "write outside granted addresses";
    case Stage::value: return "written value outside granted bounds";
  }
  return "denied";
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

// Returns the stage at which the grant fails, or nullopt if it allows the request.
std::optional<Stage> check_grant(const Grant& grant, const modbus::Request& request, WeekTime now) {
  if (!in_time(grant, now)) return Stage::time_window;
  if (!grant.modbus) return Stage::no_rules;
  const ModbusRules& rules = *grant.modbus;
  if (!rules.functions.test(request.function)) return Stage::function;
  if (!rules.unit_ids.test(request.mbap.unit_id)) return Stage::unit;
  const modbus::TableRange& read = request.read;
  if (read.active() && read.count > 0 &&
      !covered(rules.read[static_cast<std::size_t>(read.table)], read.start, read.count)) {
    return Stage::read;
  }
  const modbus::TableRange& write = request.write;
  if (write.active() && write.count > 0) {
    if (!covered(rules.write[static_cast<std::size_t>(write.table)], write.start, write.count)) return Stage::write;
    if (!values_within_bounds(rules, request)) return Stage::value;
  }
  return std::nullopt;
}

std::string_view missing_reason(Mfa missing) {
  switch (missing) {
    case Mfa::per_session: return "grant requires a key touch for this session (per-session MFA)";
    case Mfa::login: return "grant requires a FIDO2 login certificate (conduit login)";
    case Mfa::none: break;
  }
  return "no grant names this user, device and asset";
}

}  // namespace

bool TimeWindow::contains(WeekTime now) const noexcept {
  unsigned day = now.minute / 1440;
  unsigned minute = now.minute % 1440;
  if (from <= to) return (days & (1u << day)) && minute >= from && minute < to;
  // Wraps midnight: the evening part belongs to `day`, the morning part to the day before.
  unsigned previous = (day + 6) % 7;
  return ((days & (1u << day)) && minute >= from) || ((days & (1u << previous)) && minute < to);
}

Decision SessionGrants::decide_modbus(const modbus::Request& request, WeekTime now) const noexcept {
  // The proxy closes the connection on these before asking; denied here too so that no
  // caller can forget.
  if (request.anomalies & modbus::kStructuralAnomalies) {
    return {Effect::deny, kDefaultDenyRule, "malformed request"};
  }
  std::optional<Stage> furthest;
  for (const Grant* grant : grants_) {
    std::optional<Stage> failed = check_grant(*grant, request, now);
    if (!failed) return {Effect::allow, grant->id, "granted"};
    if (!furthest || *failed > *furthest) furthest = failed;
  }
  return {Effect::deny, kDefaultDenyRule, furthest ? stage_reason(*furthest) : "no grant applies"};
}

Policy::Policy(std::vector<Grant> grants, std::vector<AssetLabels> assets, DeviceGroups device_groups)
    : grants_(std::move(grants)), device_groups_(std::move(device_groups)) {
  for (AssetLabels& asset : assets) asset_labels_.emplace(std::move(asset.asset), std::move(asset.labels));
}

bool Policy::names_device(const Grant& grant, std::string_view device) const {
  for (const std::string& entry : grant.devices) {
    if (entry.starts_with(kGroupPrefix)) {
      auto group = device_groups_.find(entry.substr(kGroupPrefix.size()));
      if (group != device_groups_.end() &&
          std::find(group->second.begin(), group->second.end(), device) != group->second.end()) {
        return true;
      }
    } else if (matches_name(entry, device)) {
      return true;
    }
  }
  return false;
}

bool Policy::names_asset(const Grant& grant, std::string_view asset) const {
  for (const std::string& entry : grant.assets) {
    if (entry.starts_with(kLabelPrefix)) {
      auto labels = asset_labels_.find(std::string(asset));
      if (labels != asset_labels_.end() &&
          std::find(labels->second.begin(), labels->second.end(), entry.substr(kLabelPrefix.size())) !=
              labels->second.end()) {
        return true;
      }
    } else if (matches_name(entry, asset)) {
      return true;
    }
  }
  return false;
}

SessionDecision Policy::decide_session(const Subject& subject, std::string_view asset, WeekTime now) const {
  SessionDecision result;
  // A wildcard must never stand in for a missing identity: no device id, no session.
  if (subject.device.empty()) {
    result.decision = {Effect::deny, kDefaultDenyRule, "certificate names no device"};
    return result;
  }
  const Grant* first_in_time = nullptr;
  Mfa missing = Mfa::none;  // the strongest proof a grant wanted and the session lacked
  for (const Grant& grant : grants_) {
    if (!names_asset(grant, asset) || !names_device(grant, subject.device) || !names_subject(grant, subject)) {
      continue;
    }
    // A grant that needs a stronger proof than the session has does not apply at all, so
    // no request of this session can ride on it.
    if (grant.mfa > subject.mfa) {
      missing = std::max(missing, grant.mfa);
      continue;
    }
    result.grants.grants_.push_back(&grant);
    result.grants.any_time_window_ |= !grant.time_windows.empty();
    if (!first_in_time && in_time(grant, now)) first_in_time = &grant;
  }
  if (first_in_time) {
    result.decision = {Effect::allow, first_in_time->id, "granted"};
  } else if (!result.grants.empty()) {
    result.decision = {Effect::deny, kDefaultDenyRule, "outside the time windows of every grant for this asset"};
    result.grants = {};
  } else {
    result.decision = {Effect::deny, kDefaultDenyRule, missing_reason(missing)};
    result.grants = {};
  }
  return result;
}

}  // namespace conduit::authz
