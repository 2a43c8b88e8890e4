#include "authz/revocation_list.hpp"

#include <algorithm>

namespace conduit::authz {
namespace {

bool matches_asset(std::string_view pattern, std::string_view asset) {
  if (pattern.empty() || pattern == "*") return true;
  if (pattern.size() > 1 && pattern.back() == '*') return asset.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == asset;
}

template <typename Set>
bool holds(const Set& set, std::string_view value) {
  return !value.empty() && set.count(std::string(value)) > 0;
}

}  // namespace

std::string_view RevocationList::refusal(const Holder& holder, std::string_view asset) const {
  if (holds(users, holder.user)) return "user revoked";
  if (holds(devices, holder.device)) return "device revoked";
  if (holds(keys, holder.key)) return "key revoked";
  if (holds(certificates, holder.serial)) return "certificate revoked";
  for (const LockdownRule& rule : lockdowns) {
    bool role_matches = rule.role.empty() || std::find(holder.roles.begin(), holder.roles.end(), rule.role) !=
                                                 holder.roles.end();
    if (role_matches && matches_asset(rule.asset_pattern, asset)) return "lockdown";
  }
  return {};
}

}  // namespace conduit::authz
