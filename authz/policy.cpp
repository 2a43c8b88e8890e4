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

// How far a grant got before it refused a request: the furthest one explains a deny best.
// The time window comes first; then the Modbus rules' own stages, in their order.
struct Refusal {
  bool time_window = false;
  ModbusStage stage = ModbusStage::function;
  bool operator<(const Refusal& other) const {
    if (time_window != other.time_window) return time_window;
    return stage < other.stage;
  }
  std::string_view reason() const { return time_window ? "outside the grant's time windows" : stage_reason(stage); }
};

// Returns why the grant refuses the request, or nullopt if it allows it.
std::optional<Refusal> check_grant(const Grant& grant, const ModbusRules& rules, const modbus::Request& request,
                                   WeekTime now) {
  if (!in_time(grant, now)) return Refusal{true};
  if (auto stage = refuses(rules, request)) return Refusal{false, *stage};
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
  std::optional<Refusal> furthest;
  for (const Grant* grant : grants_) {
    // Every grant here has rules for the session's protocol; a session of another
    // protocol has none that are Modbus rules, so nothing is allowed.
    const ModbusRules* rules = grant->rules_of<ModbusRules>();
    if (!rules) continue;
    std::optional<Refusal> failed = check_grant(*grant, *rules, request, now);
    if (!failed) return {Effect::allow, grant->id, "granted"};
    if (!furthest || *furthest < *failed) furthest = failed;
  }
  return {Effect::deny, kDefaultDenyRule, furthest ? furthest->reason() : "no grant has Modbus rules for this session"};
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

const ProtocolRules* Grant::rules_for(ProtocolId protocol) const noexcept {
  for (const ProtocolRules& entry : rules) {
    if (entry.index() == protocol) return &entry;
  }
  return nullptr;
}

SessionDecision Policy::decide_session(const Subject& subject, std::string_view asset, ProtocolId protocol,
                                       WeekTime now) const {
  SessionDecision result;
  // A wildcard must never stand in for a missing identity: no device id, no session.
  if (subject.device.empty()) {
    result.decision = {Effect::deny, kDefaultDenyRule, "certificate names no device"};
    return result;
  }
  const Grant* first_in_time = nullptr;
  Mfa missing = Mfa::none;  // the strongest proof a grant wanted and the session lacked
  bool other_protocol = false;  // a grant named everything but has no rules for this protocol
  for (const Grant& grant : grants_) {
    if (!names_asset(grant, asset) || !names_device(grant, subject.device) || !names_subject(grant, subject)) {
      continue;
    }
    if (!grant.rules_for(protocol)) {
      other_protocol = true;
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
  } else if (missing == Mfa::none && other_protocol) {
    result.decision = {Effect::deny, kDefaultDenyRule, "no grant for this asset has rules for its protocol"};
    result.grants = {};
  } else {
    result.decision = {Effect::deny, kDefaultDenyRule, missing_reason(missing)};
    result.grants = {};
  }
  return result;
}

}  // namespace conduit::authz
