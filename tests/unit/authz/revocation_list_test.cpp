// Revocations and lockdowns (authz/revocation_list.hpp): table-driven, each case asserting
// the exact reason a person would read, or none.
#include "authz/revocation_list.hpp"

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

using namespace conduit::authz;

namespace {

const std::vector<std::string> kOperator = {"Operator"};
const std::vector<std::string> kTwoRoles = {"Engineer", "Maintainer"};
const std::vector<std::string> kNoRoles = {};

// alice on laptop-7 with a login certificate of key 0a0b, serial 5a0c, role Operator.
Holder alice(std::span<const std::string> roles = kOperator) {
  return {.user = "alice", .device = "laptop-7", .key = "0a0b", .serial = "5a0c", .roles = roles};
}

struct Case {
  const char* name;
  RevocationList list;
  Holder holder;
  std::string_view asset;
  std::string_view refusal;  // empty: admitted
};

RevocationList users(std::initializer_list<std::string> ids) {
  RevocationList list;
  list.users = ids;
  return list;
}
RevocationList devices(std::initializer_list<std::string> ids) {
  RevocationList list;
  list.devices = ids;
  return list;
}
RevocationList keys(std::initializer_list<std::string> ids) {
  RevocationList list;
  list.keys = ids;
  return list;
}
RevocationList certificates(std::initializer_list<std::string> ids) {
  RevocationList list;
  list.certificates = ids;
  return list;
}
RevocationList lockdowns(std::vector<LockdownRule> rules) {
  RevocationList list;
  list.lockdowns = std::move(rules);
  return list;
}

void check(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    INFO(c.name << " (asset " << c.asset << ")");
    CHECK(c.list.refusal(c.holder, c.asset) == c.refusal);
  }
}

}  // namespace

TEST_CASE("an empty revocation list admits everyone", "[authz]") {
  const RevocationList list;
  CHECK(list.refusal(alice(), "press-1").empty());
  CHECK(list.refusal(Holder{}, "").empty());
}

TEST_CASE("revoked users, devices, keys and certificates are refused with their reason", "[authz]") {
  check({
      {"user revoked", users({"alice"}), alice(), "press-1", "user revoked"},
      {"another user revoked", users({"bob"}), alice(), "press-1", ""},
      {"device revoked", devices({"laptop-7"}), alice(), "press-1", "device revoked"},
      {"another device revoked", devices({"laptop-77"}), alice(), "press-1", ""},
      {"key revoked", keys({"0a0b"}), alice(), "press-1", "key revoked"},
      {"another key revoked", keys({"0a0b0c"}), alice(), "press-1", ""},
      {"certificate revoked", certificates({"5a0c"}), alice(), "press-1", "certificate revoked"},
      {"another certificate revoked", certificates({"5a0c00"}), alice(), "press-1", ""},
      // Exact matches only: no prefix, no case folding.
      {"user prefix", users({"ali"}), alice(), "press-1", ""},
      {"user case", users({"Alice"}), alice(), "press-1", ""},
  });
}

TEST_CASE("a holder revoked several ways gets the first reason in a fixed order", "[authz]") {
  RevocationList list;
  list.users = {"alice"};
  list.devices = {"laptop-7"};
  list.keys = {"0a0b"};
  list.certificates = {"5a0c"};
  list.lockdowns = {LockdownRule{}};
  CHECK(list.refusal(alice(), "press-1") == "user revoked");
  list.users.clear();
  CHECK(list.refusal(alice(), "press-1") == "device revoked");
  list.devices.clear();
  CHECK(list.refusal(alice(), "press-1") == "key revoked");
  list.keys.clear();
  CHECK(list.refusal(alice(), "press-1") == "certificate revoked");
  list.certificates.clear();
  CHECK(list.refusal(alice(), "press-1") == "lockdown");
}

TEST_CASE("an empty key, user, device or serial never matches, even an empty entry", "[authz]") {
  // A long-lived device certificate has no key; a device certificate may have no user.
  RevocationList list;
  list.users = {""};
  list.devices = {""};
  list.keys = {""};
  list.certificates = {""};
  Holder anonymous;
  anonymous.roles = kNoRoles;
  CHECK(list.refusal(anonymous, "press-1").empty());
  CHECK(list.refusal(alice(), "press-1").empty());
}

TEST_CASE("lockdowns match by role and by asset pattern", "[authz]") {
  const LockdownRule everything{};
  const LockdownRule operators{"Operator", ""};
  const LockdownRule presses{"", "press-*"};
  const LockdownRule press_1{"", "press-1"};
  const LockdownRule star{"", "*"};
  const LockdownRule operators_on_presses{"Operator", "press-*"};
  check({
      {"everything, any holder", lockdowns({everything}), alice(), "press-1", "lockdown"},
      {"everything, no roles", lockdowns({everything}), alice(kNoRoles), "pump-1", "lockdown"},
      {"everything, no asset named", lockdowns({everything}), alice(), "", "lockdown"},
      {"role: a holder of it", lockdowns({operators}), alice(), "pump-1", "lockdown"},
      {"role: a holder of others", lockdowns({operators}), alice(kTwoRoles), "pump-1", ""},
      {"role: a holder of none", lockdowns({operators}), alice(kNoRoles), "pump-1", ""},
      {"role: case matters", lockdowns({LockdownRule{"operator", ""}}), alice(), "pump-1", ""},
      {"pattern press-*: press-1", lockdowns({presses}), alice(), "press-1", "lockdown"},
      {"pattern press-*: press-", lockdowns({presses}), alice(), "press-", "lockdown"},
      {"pattern press-*: pump-1", lockdowns({presses}), alice(), "pump-1", ""},
      {"pattern press-*: press", lockdowns({presses}), alice(), "press", ""},
      {"pattern press-*: a longer name", lockdowns({presses}), alice(), "press-12/line-3", "lockdown"},
      {"exact name: press-1", lockdowns({press_1}), alice(), "press-1", "lockdown"},
      {"exact name: press-10", lockdowns({press_1}), alice(), "press-10", ""},
      {"exact name: press-", lockdowns({press_1}), alice(), "press-", ""},
      {"star: any asset", lockdowns({star}), alice(kNoRoles), "pump-1", "lockdown"},
      {"role and pattern: both", lockdowns({operators_on_presses}), alice(), "press-2", "lockdown"},
      {"role and pattern: role only", lockdowns({operators_on_presses}), alice(), "pump-1", ""},
      {"role and pattern: pattern only", lockdowns({operators_on_presses}), alice(kTwoRoles), "press-2", ""},
      {"any of several rules", lockdowns({operators, presses}), alice(kTwoRoles), "press-2", "lockdown"},
      {"none of several rules", lockdowns({operators, presses}), alice(kTwoRoles), "pump-1", ""},
  });
}
