#include <catch2/catch.hpp>
#include <initializer_list>
#include <vector>

#include "authz/policy.hpp"

using namespace conduit::authz;
namespace modbus = conduit::protocols::modbus;

namespace {

constexpr WeekTime kMondayNoon{12 * 60};
constexpr WeekTime kSaturdayNoon{5 * 1440 + 12 * 60};

constexpr ProtocolId kTcp = protocol_of<TcpRules>();
constexpr ProtocolId kModbus = protocol_of<ModbusRules>();

// A grant for raw tunnels (tcp rules) unless rules are given.
Grant session_grant(std::string id, std::vector<std::string> users, std::vector<std::string> devices,
                    std::vector<std::string> assets, std::vector<ProtocolRules> rules = {TcpRules{}}) {
  Grant grant;
  grant.id = std::move(id);
  grant.users = std::move(users);
  grant.devices = std::move(devices);
  grant.assets = std::move(assets);
  grant.rules = std::move(rules);
  return grant;
}

ModbusRules& modbus_rules(Grant& grant) { return std::get<ModbusRules>(grant.rules.at(0)); }

Policy example_policy() {
  Grant by_role = session_grant("operators-line-1", {}, {"group:plant-laptops"}, {"label:line-1"});
  by_role.roles = {"Operator"};
  Grant weekdays = session_grant("supplier-weekdays", {"acme-eng"}, {"acme-laptop-3"}, {"press-*"});
  weekdays.time_windows = {{0x1f, 8 * 60, 17 * 60}};  // Mon-Fri 08:00-17:00
  return Policy(
      {
          session_grant("technicians-press-1", {"alice", "bob"}, {"*"}, {"press-1"}),
          session_grant("supplier-laptop", {"*"}, {"acme-laptop-3"}, {"press-2"}),
          session_grant("admins-anything", {"root-admin"}, {"admin-ws"}, {"*"}),
          by_role,
          weekdays,
      },
      {{"press-1", {"line-1"}}, {"press-2", {"line-2"}}, {"mixer-1", {"line-1"}}},
      {{"plant-laptops", {"laptop-7", "laptop-8"}}});
}

// An ADU from its PDU, unit 1 unless given, transaction id 1.
std::vector<std::uint8_t> adu(std::initializer_list<std::uint8_t> pdu, std::uint8_t unit = 1) {
  // Sized up front: GCC 12 warns falsely (-Warray-bounds) about insert() into a literal.
  std::vector<std::uint8_t> bytes(7 + pdu.size());
  bytes[1] = 0x01;                                        // transaction id 1, protocol id 0
  bytes[5] = static_cast<std::uint8_t>(pdu.size() + 1);  // length
  bytes[6] = unit;
  std::copy(pdu.begin(), pdu.end(), bytes.begin() + 7);
  return bytes;
}

modbus::Request decode(const std::vector<std::uint8_t>& bytes) {
  auto decoded = modbus::decode_request(bytes);
  REQUIRE(decoded.status == modbus::DecodeStatus::ok);
  return decoded.request;
}

SessionGrants grants_for(const Policy& policy, Subject subject, std::string_view asset) {
  SessionDecision result = policy.decide_session(subject, asset, kModbus, kMondayNoon);
  REQUIRE(result.decision.allowed());
  return result.grants;
}

Grant modbus_grant() {
  ModbusRules rules;
  rules.functions.set(3).set(4).set(6).set(16);
  rules.unit_ids.set(1);
  rules.read[static_cast<std::size_t>(modbus::Table::holding_registers)] = {{0, 99}, {200, 209}};
  rules.read[static_cast<std::size_t>(modbus::Table::input_registers)] = {{0, 49}};
  rules.write[static_cast<std::size_t>(modbus::Table::holding_registers)] = {{100, 110}};
  rules.value_bounds = {{modbus::Table::holding_registers, {100, 100}, 0, 1500}};
  return session_grant("tech-press-1", {"alice"}, {"laptop-7"}, {"press-1"}, {rules});
}

}  // namespace

TEST_CASE("session decisions name the grant that allowed them, or default-deny", "[authz]") {
  struct Case {
    Subject subject;
    const char* asset;
    WeekTime now;
    bool allowed;
    const char* rule;
  };
  const Case cases[] = {
      {{"alice", "laptop-7", ""}, "press-1", kMondayNoon, true, "technicians-press-1"},
      {{"bob", "any-device", ""}, "press-1", kMondayNoon, true, "technicians-press-1"},
      {{"alice", "laptop-7", ""}, "press-2", kMondayNoon, false, "default-deny"},        // asset not granted
      {{"carol", "laptop-7", ""}, "press-1", kMondayNoon, false, "default-deny"},        // user not granted
      {{"anyone", "acme-laptop-3", ""}, "press-2", kMondayNoon, true, "supplier-laptop"},  // device-bound grant
      {{"", "acme-laptop-3", ""}, "press-2", kMondayNoon, true, "supplier-laptop"},      // device-only certificate
      {{"anyone", "acme-laptop-4", ""}, "press-2", kMondayNoon, false, "default-deny"},  // other device
      {{"root-admin", "admin-ws", ""}, "press-9", kMondayNoon, true, "admins-anything"},
      {{"root-admin", "laptop-7", ""}, "press-9", kMondayNoon, false, "default-deny"},   // right user, wrong device
      {{"", "laptop-7", ""}, "press-1", kMondayNoon, false, "default-deny"},             // named users need a user
      {{"dave", "laptop-8", "Operator"}, "mixer-1", kMondayNoon, true, "operators-line-1"},  // role, group, label
      {{"dave", "laptop-9", "Operator"}, "mixer-1", kMondayNoon, false, "default-deny"},    // not in the group
      {{"dave", "laptop-8", "Engineer"}, "mixer-1", kMondayNoon, false, "default-deny"},    // other role
      {{"dave", "laptop-8", "Operator"}, "press-2", kMondayNoon, false, "default-deny"},    // other label
      {{"acme-eng", "acme-laptop-3", ""}, "press-7", kMondayNoon, true, "supplier-weekdays"},  // prefix pattern
      {{"acme-eng", "acme-laptop-3", ""}, "press-7", kSaturdayNoon, false, "default-deny"},   // outside window
      {{"acme-eng", "acme-laptop-3", ""}, "mixer-1", kMondayNoon, false, "default-deny"},     // pattern mismatch
  };
  Policy policy = example_policy();
  for (const Case& c : cases) {
    CAPTURE(c.subject.user, c.subject.device, c.subject.role, c.asset, c.now.minute);
    SessionDecision result = policy.decide_session(c.subject, c.asset, kTcp, c.now);
    CHECK(result.decision.allowed() == c.allowed);
    CHECK(result.decision.rule == c.rule);
    CHECK_FALSE(result.decision.reason.empty());
    CHECK(result.grants.empty() == !c.allowed);
  }
}

TEST_CASE("a session outside every time window says so", "[authz]") {
  Policy policy = example_policy();
  SessionDecision result = policy.decide_session({"acme-eng", "acme-laptop-3", ""}, "press-7", kTcp, kSaturdayNoon);
  CHECK(result.decision.reason == "outside the time windows of every grant for this asset");
}

TEST_CASE("a certificate without a device id is denied even by a wildcard grant", "[authz]") {
  Policy policy({session_grant("everything", {"*"}, {"*"}, {"*"})}, {}, {});
  SessionDecision result = policy.decide_session({"alice", "", ""}, "press-1", kTcp, kMondayNoon);
  CHECK_FALSE(result.decision.allowed());
  CHECK(result.decision.rule == kDefaultDenyRule);
  CHECK(result.decision.reason == "certificate names no device");
}

TEST_CASE("a login certificate's extra roles match role grants", "[authz]") {
  Grant by_role = session_grant("operators", {}, {"*"}, {"press-1"});
  by_role.roles = {"Operator"};
  Policy policy({by_role}, {}, {});
  std::vector<std::string> roles{"Viewer", "Operator"};
  CHECK(policy.decide_session({"alice", "laptop-7", "", roles}, "press-1", kTcp, kMondayNoon).decision.allowed());
  CHECK_FALSE(policy.decide_session({"alice", "laptop-7", "Viewer"}, "press-1", kTcp, kMondayNoon).decision.allowed());
}

TEST_CASE("an empty policy denies everything", "[authz]") {
  Policy policy;
  CHECK_FALSE(policy.decide_session({"alice", "laptop-7", ""}, "press-1", kTcp, kMondayNoon).decision.allowed());
}

TEST_CASE("time windows wrap midnight onto the day they start", "[authz]") {
  TimeWindow night{0x01, 22 * 60, 6 * 60};  // Monday 22:00 - Tuesday 06:00
  CHECK(night.contains({22 * 60}));             // Monday 22:00
  CHECK(night.contains({1440 + 5 * 60}));       // Tuesday 05:00
  CHECK_FALSE(night.contains({1440 + 6 * 60}));  // Tuesday 06:00
  CHECK_FALSE(night.contains({21 * 60}));        // Monday 21:00
  CHECK_FALSE(night.contains({5 * 60}));         // Monday 05:00 belongs to Sunday's night
  TimeWindow sunday_night{0x40, 22 * 60, 6 * 60};
  CHECK(sunday_night.contains({5 * 60}));        // ... which wraps the week
}

TEST_CASE("modbus requests are decided against the grant's functions, units, ranges and values", "[authz][modbus]") {
  Policy policy({modbus_grant()}, {}, {});
  SessionGrants grants = grants_for(policy, {"alice", "laptop-7", ""}, "press-1");
  struct Case {
    const char* what;
    std::vector<std::uint8_t> bytes;
    bool allowed;
    const char* reason;
  };
  const Case cases[] = {
      {"read 10 holding registers at 0", adu({0x03, 0x00, 0x00, 0x00, 0x0a}), true, "granted"},
      {"read the last granted register", adu({0x03, 0x00, 0x63, 0x00, 0x01}), true, "granted"},
      {"read across the end of a range", adu({0x03, 0x00, 0x5a, 0x00, 0x0b}), false, "read outside granted addresses"},
      {"read in the second range", adu({0x03, 0x00, 0xc8, 0x00, 0x0a}), true, "granted"},
      {"read spanning the gap between ranges", adu({0x03, 0x00, 0x60, 0x00, 0x6e}), false,
       "read outside granted addresses"},
      {"read input registers", adu({0x04, 0x00, 0x00, 0x00, 0x32}), true, "granted"},
      {"read coils: function not granted", adu({0x01, 0x00, 0x00, 0x00, 0x01}), false, "function code not granted"},
      {"write setpoint within bounds", adu({0x06, 0x00, 0x64, 0x05, 0xdc}), true, "granted"},          // 100 := 1500
      {"write setpoint above bounds", adu({0x06, 0x00, 0x64, 0x05, 0xdd}), false,
       "written value outside granted bounds"},                                                        // 100 := 1501
      {"write unbounded register in range", adu({0x06, 0x00, 0x65, 0xff, 0xff}), true, "granted"},      // 101 := 65535
      {"write outside the write range", adu({0x06, 0x00, 0x00, 0x00, 0x01}), false, "write outside granted addresses"},
      {"write multiple with one value out of bounds",
       adu({0x10, 0x00, 0x63, 0x00, 0x02, 0x04, 0x00, 0x01, 0x07, 0xd0}), false,
       "write outside granted addresses"},  // 99..100: 99 is not writable
      {"write multiple within range and bounds",
       adu({0x10, 0x00, 0x64, 0x00, 0x02, 0x04, 0x00, 0x0a, 0x00, 0x0b}), true, "granted"},
      {"write multiple, bounded value too high",
       adu({0x10, 0x00, 0x64, 0x00, 0x02, 0x04, 0x07, 0xd0, 0x00, 0x0b}), false, "written value outside granted bounds"},
      {"other unit", adu({0x03, 0x00, 0x00, 0x00, 0x0a}, 2), false, "unit id not granted"},
      {"broadcast write", adu({0x06, 0x00, 0x65, 0x00, 0x01}, 0), false, "unit id not granted"},
      {"diagnostics: force listen only", adu({0x08, 0x00, 0x04, 0x00, 0x00}), false, "function code not granted"},
      {"UMAS (FC 90) stop PLC", adu({0x5a, 0x00, 0x41}), false, "function code not granted"},
      {"report server id", adu({0x11}), false, "function code not granted"},
      {"oversized quantity", adu({0x03, 0x00, 0x00, 0x00, 0x7e}), false, "malformed request"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Decision decision = grants.decide_modbus(decode(c.bytes), kMondayNoon);
    CHECK(decision.allowed() == c.allowed);
    CHECK(decision.rule == (c.allowed ? "tech-press-1" : "default-deny"));
    CHECK(decision.reason == c.reason);
  }
}

TEST_CASE("a mask write to a value-bounded register is denied: its result cannot be known", "[authz][modbus]") {
  Grant grant = modbus_grant();
  modbus_rules(grant).functions.set(22);
  Policy policy({grant}, {}, {});
  SessionGrants grants = grants_for(policy, {"alice", "laptop-7", ""}, "press-1");
  auto bounded = decode(adu({0x16, 0x00, 0x64, 0x00, 0xf2, 0x00, 0x25}));    // register 100
  auto unbounded = decode(adu({0x16, 0x00, 0x65, 0x00, 0xf2, 0x00, 0x25}));  // register 101
  CHECK(grants.decide_modbus(bounded, kMondayNoon).reason == "written value outside granted bounds");
  CHECK(grants.decide_modbus(unbounded, kMondayNoon).allowed());
}

TEST_CASE("special function codes are allowed only when a grant names them", "[authz][modbus]") {
  Grant grant = modbus_grant();
  modbus_rules(grant).functions.set(8).set(90);
  Policy policy({grant}, {}, {});
  SessionGrants grants = grants_for(policy, {"alice", "laptop-7", ""}, "press-1");
  CHECK(grants.decide_modbus(decode(adu({0x08, 0x00, 0x00, 0x12, 0x34})), kMondayNoon).allowed());
  CHECK(grants.decide_modbus(decode(adu({0x5a, 0x00, 0x41})), kMondayNoon).allowed());
}

TEST_CASE("a request is allowed if any one grant allows all of it, and denied with the furthest reason", "[authz][modbus]") {
  Grant reader = modbus_grant();
  reader.id = "reader";
  modbus_rules(reader).write = {};
  Grant writer = modbus_grant();
  writer.id = "writer";
  modbus_rules(writer).read = {};
  modbus_rules(writer).functions.reset(3);
  Policy policy({reader, writer}, {}, {});
  SessionGrants grants = grants_for(policy, {"alice", "laptop-7", ""}, "press-1");
  Decision read = grants.decide_modbus(decode(adu({0x03, 0x00, 0x00, 0x00, 0x0a})), kMondayNoon);
  CHECK(read.rule == "reader");
  Decision write = grants.decide_modbus(decode(adu({0x06, 0x00, 0x65, 0x00, 0x01})), kMondayNoon);
  CHECK(write.rule == "writer");
  Decision too_high = grants.decide_modbus(decode(adu({0x06, 0x00, 0x64, 0x07, 0xd0})), kMondayNoon);
  CHECK(too_high.reason == "written value outside granted bounds");
}

TEST_CASE("a grant applies only to assets of a protocol it has rules for", "[authz]") {
  // The reported defect: a grant with only Modbus read rules for "label:line-1" opened a
  // raw TCP session to a tcp asset with that label.
  Grant modbus_reads = modbus_grant();
  modbus_reads.id = "acme-readonly";
  modbus_reads.users = {"acme-eng"};
  modbus_reads.devices = {"*"};
  modbus_reads.assets = {"label:line-1"};
  Grant tunnel = session_grant("tunnel-only", {"alice"}, {"*"}, {"press-1", "hmi-1"});
  Policy policy({modbus_reads, tunnel}, {{"press-1", {"line-1"}}, {"hmi-1", {"line-1"}}}, {});

  SessionDecision raw = policy.decide_session({"acme-eng", "acme-laptop-3", ""}, "hmi-1", kTcp, kMondayNoon);
  CHECK_FALSE(raw.decision.allowed());
  CHECK(raw.decision.rule == kDefaultDenyRule);
  CHECK(raw.decision.reason == "no grant for this asset has rules for its protocol");
  CHECK(raw.grants.empty());
  SessionDecision reads = policy.decide_session({"acme-eng", "acme-laptop-3", ""}, "press-1", kModbus, kMondayNoon);
  CHECK(reads.decision.rule == "acme-readonly");

  // A tcp-only grant opens tunnels, never a Modbus session (where it would allow nothing).
  CHECK(policy.decide_session({"alice", "laptop-7", ""}, "hmi-1", kTcp, kMondayNoon).decision.allowed());
  SessionDecision modbus_session = policy.decide_session({"alice", "laptop-7", ""}, "press-1", kModbus, kMondayNoon);
  CHECK_FALSE(modbus_session.decision.allowed());
  CHECK(modbus_session.decision.reason == "no grant for this asset has rules for its protocol");
}

TEST_CASE("a grant with rules for two protocols applies to assets of both", "[authz]") {
  Grant both = modbus_grant();
  both.rules.push_back(TcpRules{});
  both.assets = {"*"};
  Policy policy({both}, {}, {});
  CHECK(policy.decide_session({"alice", "laptop-7", ""}, "hmi-1", kTcp, kMondayNoon).decision.allowed());
  SessionDecision modbus_session = policy.decide_session({"alice", "laptop-7", ""}, "press-1", kModbus, kMondayNoon);
  REQUIRE(modbus_session.decision.allowed());
  CHECK(modbus_session.grants.decide_modbus(decode(adu({0x03, 0x00, 0x00, 0x00, 0x01})), kMondayNoon).allowed());
}

TEST_CASE("requests are denied once the session's grant window has closed", "[authz][modbus]") {
  Grant grant = modbus_grant();
  grant.time_windows = {{0x7f, 6 * 60, 18 * 60}};
  Policy policy({grant}, {}, {});
  SessionGrants grants = grants_for(policy, {"alice", "laptop-7", ""}, "press-1");
  CHECK(grants.any_time_window());
  auto read = decode(adu({0x03, 0x00, 0x00, 0x00, 0x01}));
  CHECK(grants.decide_modbus(read, {17 * 60 + 59}).allowed());
  CHECK(grants.decide_modbus(read, {18 * 60}).reason == "outside the grant's time windows");
}

TEST_CASE("a grant needing more proof than the certificate carries does not apply", "[authz]") {
  Grant reads = modbus_grant();
  reads.id = "reads-after-login";
  reads.mfa = Mfa::login;
  Grant writes = modbus_grant();
  writes.id = "writes-per-session";
  writes.mfa = Mfa::per_session;
  modbus_rules(writes).write[static_cast<std::size_t>(modbus::Table::holding_registers)] = {{0, 99}};
  Policy policy({reads, writes}, {}, {});

  Subject static_cert{"alice", "laptop-7", ""};
  SessionDecision none = policy.decide_session(static_cert, "press-1", kModbus, kMondayNoon);
  CHECK_FALSE(none.decision.allowed());
  CHECK(none.decision.reason == "grant requires a key touch for this session (per-session MFA)");

  Subject logged_in{"alice", "laptop-7", "", {}, Mfa::login};
  SessionDecision login = policy.decide_session(logged_in, "press-1", kModbus, kMondayNoon);
  REQUIRE(login.decision.allowed());
  CHECK(login.decision.rule == "reads-after-login");
  CHECK_FALSE(login.grants.decide_modbus(decode(adu({0x06, 0x00, 0x05, 0x00, 0x01})), kMondayNoon).allowed());

  Subject touched{"alice", "laptop-7", "", {}, Mfa::per_session};
  SessionDecision session = policy.decide_session(touched, "press-1", kModbus, kMondayNoon);
  REQUIRE(session.decision.allowed());
  Decision write = session.grants.decide_modbus(decode(adu({0x06, 0x00, 0x05, 0x00, 0x01})), kMondayNoon);
  CHECK(write.allowed());
  CHECK(write.rule == "writes-per-session");
}
