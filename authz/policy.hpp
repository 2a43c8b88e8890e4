// Who may open a session to which asset. Pure: no sockets, no TLS, no clocks, no logging.
//
// A Policy is built once from the configured grants and is immutable afterwards, so any
// number of threads may call decide() on a shared Policy without locks. Deny by default:
// a request is allowed only if some grant names (or wildcards) its user, its device and
// its asset; the decision always carries the id of the rule that made it and a reason.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace conduit::authz {

inline constexpr std::string_view kWildcard = "*";
inline constexpr std::string_view kDefaultDenyRule = "default-deny";

struct Grant {
  std::string id;
  std::vector<std::string> users;    // names or "*"; "*" also matches a device-only identity
  std::vector<std::string> devices;  // device ids or "*"
  std::vector<std::string> assets;   // asset names or "*"
};

struct Subject {
  std::string_view user;    // empty when the certificate binds no user
  std::string_view device;
};

enum class Effect { allow, deny };

struct Decision {
  Effect effect = Effect::deny;
  std::string_view rule;    // grant id, or kDefaultDenyRule; points into the Policy
  std::string_view reason;  // static text
  bool allowed() const { return effect == Effect::allow; }
};

class Policy {
 public:
  Policy() = default;
  explicit Policy(std::vector<Grant> grants);

  // May the subject open a session to the asset? Allocation-free.
  Decision decide_session(const Subject& subject, std::string_view asset) const;

  std::size_t grant_count() const { return grants_.size(); }

 private:
  std::vector<Grant> grants_;
};

}  // namespace conduit::authz
