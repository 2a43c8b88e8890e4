// Who may do what to which asset. Pure: no sockets, no TLS, no clocks, no logging; the
// caller passes the time in.
//
// A Policy is compiled once from the configured grants, assets and device groups and is
// immutable afterwards, so any number of threads may use a shared Policy without locks.
// Deny by default: a session is allowed only if some grant names (or wildcards) its user
// or role, its device and its asset, inside the grant's time windows; each Modbus request
// is then allowed only if one of those grants allows all of it (function, unit, every
// address read or written, every value written). A grant counts for an asset only if it
// has rules for the asset's protocol (protocol_rules.hpp). Every decision carries the id of the rule
// that made it and a reason a person can read.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "authz/protocol_rules.hpp"
#include "protocols/modbus/codec.hpp"

namespace conduit::authz {

inline constexpr std::string_view kWildcard = "*";
inline constexpr std::string_view kDefaultDenyRule = "default-deny";
inline constexpr std::string_view kGroupPrefix = "group:";  // in Grant::devices
inline constexpr std::string_view kLabelPrefix = "label:";  // in Grant::assets

// Minutes since Monday 00:00, local time of the gateway. The caller computes it.
struct WeekTime {
  std::uint16_t minute = 0;  // 0 .. 7*1440-1
};

// Days and a daily interval [from, to) in minutes since midnight; to < from wraps past
// midnight (a night shift 22:00-06:00 belongs to the day it starts on).
struct TimeWindow {
  std::uint8_t days = 0x7f;  // bit 0 = Monday ... bit 6 = Sunday
  std::uint16_t from = 0;
  std::uint16_t to = 1440;
  bool contains(WeekTime now) const noexcept;
};

// How the user proved who they are, from weakest to strongest. Grants name the least they
// need; the certificate says what the session has (see mfa/README.md):
//   none         a long-lived certificate from `conduit ca issue device --user` (no key touch)
//   login        a short-lived certificate issued after a FIDO2 key touch (`conduit login`)
//   per_session  a certificate minted for this one session to this asset after a fresh touch
enum class Mfa : std::uint8_t { none = 0, login = 1, per_session = 2 };

struct Grant {
  std::string id;
  std::vector<std::string> users;    // names or "*"; "*" also matches a device-only identity
  std::vector<std::string> roles;    // role names (from the certificate's Modbus role)
  std::vector<std::string> devices;  // device ids, "group:NAME" or "*"
  std::vector<std::string> assets;   // asset names, "label:NAME" or "*"
  std::vector<TimeWindow> time_windows;  // empty: always
  // At most one rule set per protocol; the grant applies only to assets of these protocols.
  std::vector<ProtocolRules> rules;
  Mfa mfa = Mfa::none;                   // the least the session must have proven (config default: login)

  const ProtocolRules* rules_for(ProtocolId protocol) const noexcept;
  template <typename Rules>
  const Rules* rules_of() const noexcept {
    const ProtocolRules* found = rules_for(protocol_of<Rules>());
    return found ? std::get_if<Rules>(found) : nullptr;
  }
};

struct AssetLabels {
  std::string asset;
  std::vector<std::string> labels;
};

using DeviceGroups = std::unordered_map<std::string, std::vector<std::string>>;

struct Subject {
  std::string_view user;    // empty when the certificate binds no user
  std::string_view device;
  std::string_view role;    // empty when the certificate carries no role
  std::span<const std::string> roles = {};  // further roles (a login certificate lists the user's roles)
  Mfa mfa = Mfa::none;      // what this session proved
};

enum class Effect { allow, deny };

struct Decision {
  Effect effect = Effect::deny;
  std::string_view rule;    // grant id, or kDefaultDenyRule; points into the Policy
  std::string_view reason;  // static text
  bool allowed() const noexcept { return effect == Effect::allow; }
};

class Policy;

// The grants of one Policy that apply to one subject and asset, found once when a
// session opens; per-request decisions then look only at these. Every one of them has
// rules for the asset's protocol. Holds pointers into the Policy, which must outlive it.
class SessionGrants {
 public:
  // Is this request allowed now? Allocation-free.
  Decision decide_modbus(const protocols::modbus::Request& request, WeekTime now) const noexcept;
  bool empty() const noexcept { return grants_.empty(); }
  bool any_time_window() const noexcept { return any_time_window_; }

 private:
  friend class Policy;
  std::vector<const Grant*> grants_;
  bool any_time_window_ = false;
};

struct SessionDecision {
  Decision decision;
  SessionGrants grants;  // empty unless allowed
};

class Policy {
 public:
  Policy() = default;
  Policy(std::vector<Grant> grants, std::vector<AssetLabels> assets, DeviceGroups device_groups);

  // May the subject open a session to the asset, which speaks `protocol`, now? Only grants
  // with rules for that protocol count.
  SessionDecision decide_session(const Subject& subject, std::string_view asset, ProtocolId protocol,
                                 WeekTime now) const;

  std::size_t grant_count() const noexcept { return grants_.size(); }

 private:
  bool names_device(const Grant& grant, std::string_view device) const;
  bool names_asset(const Grant& grant, std::string_view asset) const;

  std::vector<Grant> grants_;
  std::unordered_map<std::string, std::vector<std::string>> asset_labels_;
  DeviceGroups device_groups_;
};

}  // namespace conduit::authz
