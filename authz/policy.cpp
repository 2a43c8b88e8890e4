#include "authz/policy.hpp"

#include <algorithm>

namespace conduit::authz {
namespace {

bool names(const std::vector<std::string>& list, std::string_view value) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& entry) {
    return entry == kWildcard || (!value.empty() && entry == value);
  });
}

}  // namespace

Policy::Policy(std::vector<Grant> grants) : grants_(std::move(grants)) {}

Decision Policy::decide_session(const Subject& subject, std::string_view asset) const {
  // A wildcard must never stand in for a missing identity: no device id, no session.
  if (subject.device.empty()) {
    return {Effect::deny, kDefaultDenyRule, "certificate names no device"};
  }
  for (const Grant& grant : grants_) {
    if (names(grant.assets, asset) && names(grant.devices, subject.device) &&
        names(grant.users, subject.user)) {
      return {Effect::allow, grant.id, "granted"};
    }
  }
  return {Effect::deny, kDefaultDenyRule, "no grant names this user, device and asset"};
}

}  // namespace conduit::authz
