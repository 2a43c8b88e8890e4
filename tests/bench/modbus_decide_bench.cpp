// Micro-benchmark: decode + decide per Modbus request against a policy of 1,000 grants.
// Prints figures; asserts nothing (speed belongs here, not in tests).
//
// Two cases:
//  - typical: 1,000 grants for 1,000 users; the session's grants are found once at session
//    start (as the gateway does), so each request looks only at the subject's own grant.
//  - worst:   1,000 grants that all apply to the subject (wildcards), each for a different
//    address range, and every request is allowed only by the last one.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "authz/policy.hpp"

using namespace conduit;
namespace modbus = protocols::modbus;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kGrants = 1000;
constexpr std::size_t kIterations = 5'000'000;

authz::Grant make_grant(std::size_t i, bool wildcard) {
  authz::Grant grant;
  grant.id = "grant-" + std::to_string(i);
  grant.users = {wildcard ? "*" : "user-" + std::to_string(i)};
  grant.devices = {wildcard ? "*" : "laptop-" + std::to_string(i)};
  grant.assets = {wildcard ? "*" : "plc-" + std::to_string(i % 50)};
  authz::ModbusRules rules;
  rules.functions.set(3).set(6).set(16);
  rules.unit_ids.set(1);
  auto holding = static_cast<std::size_t>(modbus::Table::holding_registers);
  auto first = static_cast<std::uint16_t>((i * 60) % 60000);
  rules.read[holding] = {{first, static_cast<std::uint16_t>(first + 49)}};
  rules.write[holding] = {{static_cast<std::uint16_t>(first + 50), static_cast<std::uint16_t>(first + 59)}};
  rules.value_bounds = {{modbus::Table::holding_registers, {static_cast<std::uint16_t>(first + 50),
                                                            static_cast<std::uint16_t>(first + 50)}, 0, 1500}};
  grant.rules = {rules};
  return grant;
}

// FC 3 read of 10 registers at `start`, transaction id 1, unit 1.
std::vector<std::uint8_t> read_request(std::uint16_t start) {
  return {0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03,
          static_cast<std::uint8_t>(start >> 8), static_cast<std::uint8_t>(start & 0xff), 0x00, 0x0a};
}

void run(const char* name, const authz::Policy& policy, authz::Subject subject, const char* asset,
         std::uint16_t start) {
  auto session = policy.decide_session(subject, asset, authz::protocol_of<authz::ModbusRules>(), {});
  if (!session.decision.allowed()) {
    std::printf("%s: session denied?\n", name);
    return;
  }
  std::vector<std::uint8_t> bytes = read_request(start);
  std::size_t allowed = 0;
  auto begin = Clock::now();
  for (std::size_t i = 0; i < kIterations; ++i) {
    bytes[1] = static_cast<std::uint8_t>(i);  // defeat hoisting
    modbus::RequestDecode decoded = modbus::decode_request(bytes);
    allowed += session.grants.decide_modbus(decoded.request, {}).allowed();
  }
  double ns = std::chrono::duration<double, std::nano>(Clock::now() - begin).count() / kIterations;
  std::printf("%-8s decode+decide: %7.1f ns/request  (grants in policy: %zu, allowed: %zu/%zu)\n", name, ns,
              policy.grant_count(), allowed, kIterations);
}

}  // namespace

int main() {
  std::vector<authz::Grant> typical;
  std::vector<authz::Grant> worst;
  for (std::size_t i = 0; i < kGrants; ++i) {
    typical.push_back(make_grant(i, false));
    worst.push_back(make_grant(i, true));
  }
  authz::Policy typical_policy(std::move(typical), {}, {});
  authz::Policy worst_policy(std::move(worst), {}, {});
  std::uint16_t last_range = static_cast<std::uint16_t>(((kGrants - 1) * 60) % 60000);
  run("typical", typical_policy, {"user-777", "laptop-777", ""}, "plc-27", static_cast<std::uint16_t>(777 * 60));
  run("worst", worst_policy, {"anyone", "any-laptop", ""}, "plc-1", last_range);
  std::printf("target: < 300 ns/request with 1,000 grants\n");
}
