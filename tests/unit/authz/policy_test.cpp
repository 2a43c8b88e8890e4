#include <catch2/catch.hpp>

#include "authz/policy.hpp"

using namespace conduit::authz;

namespace {

Policy example_policy() {
  return Policy({
      {"technicians-press-1", {"alice", "bob"}, {"*"}, {"press-1"}},
      {"supplier-laptop", {"*"}, {"acme-laptop-3"}, {"press-2"}},
      {"admins-anything", {"root-admin"}, {"admin-ws"}, {"*"}},
  });
}

}  // namespace

TEST_CASE("session decisions name the grant that allowed them, or default-deny", "[authz]") {
  struct Case {
    const char* user;
    const char* device;
    const char* asset;
    bool allowed;
    const char* rule;
  };
  const Case cases[] = {
      {"alice", "laptop-7", "press-1", true, "technicians-press-1"},
      {"bob", "any-device", "press-1", true, "technicians-press-1"},
      {"alice", "laptop-7", "press-2", false, "default-deny"},           // asset not granted
      {"carol", "laptop-7", "press-1", false, "default-deny"},           // user not granted
      {"anyone", "acme-laptop-3", "press-2", true, "supplier-laptop"},   // device-bound grant
      {"", "acme-laptop-3", "press-2", true, "supplier-laptop"},         // device-only certificate
      {"anyone", "acme-laptop-4", "press-2", false, "default-deny"},     // other device
      {"root-admin", "admin-ws", "press-9", true, "admins-anything"},
      {"root-admin", "laptop-7", "press-9", false, "default-deny"},      // right user, wrong device
      {"", "laptop-7", "press-1", false, "default-deny"},                // named users need a user
  };
  Policy policy = example_policy();
  for (const Case& c : cases) {
    CAPTURE(c.user, c.device, c.asset);
    Decision decision = policy.decide_session({c.user, c.device}, c.asset);
    CHECK(decision.allowed() == c.allowed);
    CHECK(decision.rule == c.rule);
    CHECK_FALSE(decision.reason.empty());
  }
}

TEST_CASE("a certificate without a device id is denied even by a wildcard grant", "[authz]") {
  Policy policy({{"everything", {"*"}, {"*"}, {"*"}}});
  Decision decision = policy.decide_session({"alice", ""}, "press-1");
  CHECK_FALSE(decision.allowed());
  CHECK(decision.rule == kDefaultDenyRule);
  CHECK(decision.reason == "certificate names no device");
}

TEST_CASE("an empty policy denies everything", "[authz]") {
  Policy policy;
  CHECK_FALSE(policy.decide_session({"alice", "laptop-7"}, "press-1").allowed());
}
