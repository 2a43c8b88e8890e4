#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "config/load.hpp"

using namespace conduit::config;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr Protocol kModbus = conduit::authz::protocol_of<conduit::authz::ModbusRules>();

// A data directory with readable (dummy) TLS files, so the file checks pass and each test
// changes exactly one thing.
struct DataDir {
  fs::path path;
  DataDir() {
    path = fs::temp_directory_path() / ("conduit-config-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(path / "pki");
    for (const char* name : {"gateway.crt", "gateway.key", "ca.crt"}) std::ofstream(path / "pki" / name) << "x";
  }
  ~DataDir() { fs::remove_all(path); }
};

json valid_config() {
  return json::parse(R"({
    "gateway": { "id": "gw-1" },
    "listeners": [ { "name": "press-1-tunnel", "bind": "127.0.0.1:8502", "asset": "press-1" } ],
    "assets": [ { "name": "press-1", "address": "127.0.0.1:5020" },
                { "name": "press-2", "address": "[::1]:502" } ],
    "grants": [ { "id": "g1", "users": ["alice"], "devices": ["*"], "assets": ["press-1"], "mfa": "none" } ]
  })");
}

Config load(const json& config, const DataDir& dir) { return load_text(config.dump(), "test.json", dir.path); }

std::string error_of(const json& config, const DataDir& dir) {
  try {
    load(config, dir);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("a valid configuration loads into typed values with defaults", "[config]") {
  DataDir dir;
  Config config = load(valid_config(), dir);
  CHECK(config.gateway.id == "gw-1");
  CHECK(config.gateway.data_dir == dir.path);
  CHECK(config.tls.certificate == dir.path / "pki/gateway.crt");
  CHECK(config.tls.min_version == TlsVersion::v1_2);
  CHECK(config.limits.max_sessions == 1024);
  REQUIRE(config.listeners.size() == 1);
  CHECK(config.listeners[0].bind.host == "127.0.0.1");
  CHECK(config.listeners[0].bind.port == 8502);
  CHECK(config.assets[1].address.host == "::1");
  CHECK(config.assets[1].address.to_string() == "[::1]:502");
  REQUIRE(config.grants.size() == 1);
  CHECK(config.grants[0].users == std::vector<std::string>{"alice"});
}

TEST_CASE("the shipped example configuration is valid apart from its TLS files", "[config]") {
  DataDir dir;
  std::ifstream in(fs::path(CONDUIT_EXAMPLES_DIR) / "gateway.json");
  json example = json::parse(in);
  Config config = load(example, dir);
  CHECK(config.gateway.run_as == "conduit");
  CHECK(config.grants.size() == 5);
  CHECK(config.assets[0].protocol() == kModbus);
  CHECK(config.auth.enabled);
  CHECK(config.grants[0].mfa == conduit::authz::Mfa::login);
  CHECK(config.grants[1].mfa == conduit::authz::Mfa::per_session);
}

TEST_CASE("the auth section loads with defaults and grants default to needing a login", "[config]") {
  DataDir dir;
  json config = valid_config();
  config["grants"][0].erase("mfa");
  config["auth"] = {{"listen", "127.0.0.1:0"}, {"rp_id", "conduit.plant.example"}};
  Config loaded = load(config, dir);
  CHECK(loaded.auth.enabled);
  CHECK(loaded.auth.rp_id == "conduit.plant.example");
  CHECK(loaded.auth.certificate_ttl == std::chrono::hours(8));
  CHECK(loaded.auth.challenge_ttl == std::chrono::seconds(60));
  CHECK(loaded.auth.aaguids.empty());
  CHECK(loaded.grants[0].mfa == conduit::authz::Mfa::login);
  CHECK(loaded.gateway.admin_socket == dir.path / "admin.sock");
}

TEST_CASE("FIDO2 settings errors name their JSON path", "[config]") {
  DataDir dir;
  json config = valid_config();
  config["auth"] = {{"listen", "127.0.0.1:8443"}, {"rp_id", "conduit.plant.example"}};

  SECTION("a grant needing a login without an auth section") {
    config.erase("auth");
    config["grants"][0].erase("mfa");
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /grants/0/mfa: needs a FIDO2 login"));
  }
  SECTION("unknown mfa level") {
    config["grants"][0]["mfa"] = "sometimes";
    CHECK(error_of(config, dir) ==
          R"(config error at /grants/0/mfa: "sometimes" is not "none", "login" or "per_session")");
  }
  SECTION("an IP address as relying party id") {
    config["auth"]["rp_id"] = "10.0.0.1";
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /auth/rp_id: \"10.0.0.1\" is not a DNS name"));
  }
  SECTION("a malformed AAGUID") {
    config["auth"]["aaguids"] = {"CB69481E8FF7403993EC0A2729A154A8"};
    CHECK(error_of(config, dir) == "config error at /auth/aaguids/0: expected an AAGUID: 32 lower-case hex digits");
  }
  SECTION("certificate lifetime out of range") {
    config["auth"]["certificate_ttl_s"] = 30;
    CHECK(error_of(config, dir) == "config error at /auth/certificate_ttl_s: 30 is out of range 60..604800");
  }
  SECTION("a boolean that is not one") {
    config["auth"]["require_user_verification"] = "yes";
    CHECK(error_of(config, dir) == "config error at /auth/require_user_verification: expected true or false, got string");
  }
}

TEST_CASE("each class of configuration error names its JSON path", "[config]") {
  DataDir dir;
  json config = valid_config();

  SECTION("unknown key") {
    config["gateway"]["colour"] = "blue";
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /gateway/colour: unknown key"));
  }
  SECTION("unknown top-level key") {
    config["listener"] = json::array();
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /listener: unknown key"));
  }
  SECTION("wrong type") {
    config["limits"] = {{"max_sessions", "100"}};
    CHECK(error_of(config, dir) == "config error at /limits/max_sessions: expected a non-negative integer, got string");
  }
  SECTION("number out of range") {
    config["limits"] = {{"max_sessions", 0}};
    CHECK(error_of(config, dir) == "config error at /limits/max_sessions: 0 is out of range 1..1000000");
  }
  SECTION("missing field") {
    config["listeners"][0].erase("asset");
    CHECK(error_of(config, dir) == "config error at /listeners/0/asset: missing required field");
  }
  SECTION("missing section") {
    config.erase("gateway");
    CHECK(error_of(config, dir) == "config error at /gateway: missing required field");
  }
  SECTION("malformed address") {
    config["listeners"][0]["bind"] = "0.0.0.0:80x";
    CHECK(error_of(config, dir) == R"(config error at /listeners/0/bind: "0.0.0.0:80x" is not host:port)");
  }
  SECTION("host names are not addresses: no DNS needed to run") {
    config["assets"][0]["address"] = "plc.local:502";
    CHECK(error_of(config, dir) == R"(config error at /assets/0/address: "plc.local:502" is not host:port)");
  }
  SECTION("port out of range") {
    config["assets"][0]["address"] = "127.0.0.1:65536";
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /assets/0/address:"));
  }
  SECTION("asset port zero") {
    config["assets"][0]["address"] = "127.0.0.1:0";
    CHECK(error_of(config, dir) == R"(config error at /assets/0/address: "127.0.0.1:0" has port 0)");
  }
  SECTION("unreadable certificate file") {
    config["tls"] = {{"certificate", "/nonexistent/gateway.crt"}};
    CHECK(error_of(config, dir) ==
          R"(config error at /tls/certificate: cannot read "/nonexistent/gateway.crt": No such file or directory)");
  }
  SECTION("relative TLS paths resolve against the data directory") {
    fs::remove(dir.path / "pki/ca.crt");
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /tls/client_ca: cannot read \"" +
                                                        (dir.path / "pki/ca.crt").string()));
  }
  SECTION("duplicate names") {
    config["assets"][1]["name"] = "press-1";
    CHECK(error_of(config, dir) == R"(config error at /assets/1/name: duplicate asset name "press-1" (first at /assets/0/name))");
  }
  SECTION("duplicate grant ids") {
    config["grants"].push_back(config["grants"][0]);
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /grants/1/id: duplicate grant id"));
  }
  SECTION("duplicate listener binds") {
    config["listeners"].push_back({{"name", "other"}, {"bind", "127.0.0.1:8502"}, {"asset", "press-2"}});
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /listeners/1/bind: duplicate listener bind"));
  }
  SECTION("listener refers to an unknown asset") {
    config["listeners"][0]["asset"] = "press-9";
    CHECK(error_of(config, dir) == R"(config error at /listeners/0/asset: no asset named "press-9")");
  }
  SECTION("grant refers to an unknown asset") {
    config["grants"][0]["assets"] = {"press-1", "press-9"};
    CHECK(error_of(config, dir) == R"(config error at /grants/0/assets/1: no asset named "press-9")");
  }
  SECTION("invalid name") {
    config["assets"][0]["name"] = "press 1";
    CHECK_THAT(error_of(config, dir), Catch::StartsWith(R"(config error at /assets/0/name: "press 1" is not a name)"));
  }
  SECTION("an empty device list would grant nothing, so it is refused") {
    config["grants"][0]["devices"] = json::array();
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /grants/0/devices: must not be empty"));
  }
  SECTION("a grant with no users and no roles is refused") {
    config["grants"][0]["users"] = json::array();
    CHECK(error_of(config, dir) == "config error at /grants/0/users: a grant needs users or roles");
  }
  SECTION("bad TLS version") {
    config["tls"] = {{"min_version", "1.1"}};
    CHECK(error_of(config, dir) == R"(config error at /tls/min_version: "1.1" is not "1.2" or "1.3")");
  }
}

TEST_CASE("invalid JSON is reported with line and column", "[config]") {
  DataDir dir;
  try {
    load_text("{\n  \"gateway\": {\n    \"id\": \"gw\",\n  }\n}", "test.json", dir.path);
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("config error at /: invalid JSON: parse error at line 4, column 3"));
  }
}

TEST_CASE("a missing configuration file is a config error naming the file", "[config]") {
  CHECK_THROWS_WITH(load_file("/nonexistent/conduit.json", std::nullopt),
                    R"(config error at /: cannot read "/nonexistent/conduit.json": No such file or directory)");
}

TEST_CASE("endpoints parse IPv4 and bracketed IPv6 and nothing else", "[config]") {
  CHECK(parse_endpoint("127.0.0.1:502")->port == 502);
  CHECK(parse_endpoint("[::1]:802")->host == "::1");
  CHECK_FALSE(parse_endpoint("::1:802"));
  CHECK_FALSE(parse_endpoint("127.0.0.1"));
  CHECK_FALSE(parse_endpoint("127.0.0.1:"));
  CHECK_FALSE(parse_endpoint("127.0.0.1:-1"));
  CHECK_FALSE(parse_endpoint("127.0.0.1:502 "));
  CHECK_FALSE(parse_endpoint("localhost:502"));
}

namespace {

json modbus_config() {
  return json::parse(R"({
    "gateway": { "id": "gw-1" },
    "device_groups": { "plant-laptops": ["laptop-7", "laptop-8"] },
    "listeners": [ { "name": "press-1", "bind": "127.0.0.1:802", "asset": "press-1", "protocol": "modbus" } ],
    "assets": [ { "name": "press-1", "address": "10.0.0.5:502", "kind": "modbus", "labels": ["line-1"],
                  "modbus": { "unit_ids": [1, 2], "max_connections": 4, "request_timeout_ms": 500 } } ],
    "grants": [ { "id": "operators", "mfa": "none", "roles": ["Operator"], "devices": ["group:plant-laptops"],
                  "assets": ["label:line-1"],
                  "time_windows": [ { "days": ["mon-fri"], "from": "06:00", "to": "18:00" } ],
                  "modbus": { "read": { "holding_registers": ["0-99", 200] },
                              "write": { "holding_registers": ["100-110"] },
                              "values": [ { "table": "holding_registers", "addresses": "100", "min": 0, "max": 1500 } ] } } ]
  })");
}

}  // namespace

TEST_CASE("a modbus configuration loads assets, groups, windows and rules", "[config][modbus]") {
  DataDir dir;
  Config config = load(modbus_config(), dir);
  const Asset& asset = config.assets[0];
  CHECK(asset.protocol() == kModbus);
  CHECK(asset.labels == std::vector<std::string>{"line-1"});
  const auto& settings = asset.settings_of<ModbusAssetSettings>();
  CHECK(settings.unit_ids.test(1));
  CHECK(settings.unit_ids.test(2));
  CHECK_FALSE(settings.unit_ids.test(3));
  CHECK(settings.max_connections == 4);
  CHECK(settings.max_in_flight == 1);
  CHECK(settings.request_timeout == std::chrono::milliseconds(500));
  CHECK(config.listeners[0].protocol == kModbus);
  CHECK(config.device_groups.at("plant-laptops").size() == 2);

  const auto& grant = config.grants[0];
  REQUIRE(grant.time_windows.size() == 1);
  CHECK(grant.time_windows[0].days == 0x1f);
  CHECK(grant.time_windows[0].from == 360);
  CHECK(grant.time_windows[0].to == 1080);
  REQUIRE(grant.rules_of<conduit::authz::ModbusRules>());
  const auto& rules = *grant.rules_of<conduit::authz::ModbusRules>();
  auto holding = static_cast<std::size_t>(conduit::protocols::modbus::Table::holding_registers);
  REQUIRE(rules.read[holding].size() == 2);
  CHECK(rules.read[holding][1].first == 200);
  CHECK(rules.read[holding][1].last == 200);
  // Default functions: the public read/write codes of the tables named, nothing else.
  for (unsigned fc : {3u, 6u, 16u, 22u, 23u}) CHECK(rules.functions.test(fc));
  for (unsigned fc : {1u, 2u, 4u, 5u, 7u, 8u, 15u, 17u, 43u, 90u}) CHECK_FALSE(rules.functions.test(fc));
  // Unit 0 (broadcast) is never part of "*".
  CHECK_FALSE(rules.unit_ids.test(0));
  CHECK(rules.unit_ids.test(255));
}

TEST_CASE("modbus configuration errors name their JSON path", "[config][modbus]") {
  DataDir dir;
  json config = modbus_config();
  SECTION("a modbus asset behind a tcp listener would bypass request policy") {
    config["listeners"][0].erase("protocol");
    CHECK(error_of(config, dir) == "config error at /listeners/0/protocol: asset \"press-1\" is of kind \"modbus\"; its listeners must use the same protocol");
  }
  SECTION("modbus settings on a tcp asset") {
    config["assets"][0]["kind"] = "tcp";
    CHECK(error_of(config, dir) == R"(config error at /assets/0/modbus: only for assets of kind "modbus")");
  }
  SECTION("unit id out of range") {
    config["assets"][0]["modbus"]["unit_ids"] = {1, 256};
    CHECK(error_of(config, dir) == "config error at /assets/0/modbus/unit_ids/1: expected a unit id 0..255");
  }
  SECTION("bad address range") {
    config["grants"][0]["modbus"]["read"]["holding_registers"][0] = "99-0";
    CHECK_THAT(error_of(config, dir),
               Catch::StartsWith(R"(config error at /grants/0/modbus/read/holding_registers/0: "99-0" is not an address)"));
  }
  SECTION("unknown table") {
    config["grants"][0]["modbus"]["read"]["registers"] = {"0-1"};
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /grants/0/modbus/read/registers: unknown key"));
  }
  SECTION("writes to a read-only table") {
    config["grants"][0]["modbus"]["write"]["input_registers"] = {"0-1"};
    CHECK(error_of(config, dir) == "config error at /grants/0/modbus/write/input_registers: this table is read-only");
  }
  SECTION("function code out of range") {
    config["grants"][0]["modbus"]["functions"] = {3, 128};
    CHECK(error_of(config, dir) == "config error at /grants/0/modbus/functions/1: expected a function code 1..127");
  }
  SECTION("value bounds inverted") {
    config["grants"][0]["modbus"]["values"][0]["min"] = 2000;
    CHECK(error_of(config, dir) == "config error at /grants/0/modbus/values/0/max: is below min");
  }
  SECTION("bad day") {
    config["grants"][0]["time_windows"][0]["days"] = {"mon-fry"};
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /grants/0/time_windows/0/days: \"mon-fry\" is not a day"));
  }
  SECTION("bad time") {
    config["grants"][0]["time_windows"][0]["to"] = "25:00";
    CHECK(error_of(config, dir) == R"(config error at /grants/0/time_windows/0/to: "25:00" is not a time HH:MM)");
  }
  SECTION("unknown device group") {
    config["grants"][0]["devices"] = {"group:nowhere"};
    CHECK(error_of(config, dir) == R"(config error at /grants/0/devices/0: no device group named "group:nowhere")");
  }
  SECTION("a grant needs a subject") {
    config["grants"][0].erase("roles");
    CHECK(error_of(config, dir) == "config error at /grants/0/users: a grant needs users or roles");
  }
}

TEST_CASE("grants carry one rule set per protocol and apply only to those protocols", "[config]") {
  DataDir dir;
  json config = modbus_config();
  config["assets"].push_back({{"name", "hmi-1"}, {"address", "10.0.0.6:443"}, {"labels", {"line-1"}}});
  SECTION("rules for two protocols") {
    config["grants"][0]["tcp"] = json::object();
    const auto& grant = load(config, dir).grants[0];
    CHECK(grant.rules.size() == 2);
    CHECK(grant.rules_of<conduit::authz::TcpRules>());
    CHECK(grant.rules_of<conduit::authz::ModbusRules>());
  }
  SECTION("a grant naming an asset of a protocol it has no rules for is refused") {
    config["grants"][0]["assets"] = {"press-1", "hmi-1"};
    CHECK(error_of(config, dir) ==
          "config error at /grants/0/assets/1: asset \"hmi-1\" is of kind \"tcp\" but the grant has no \"tcp\" rules; "
          "add them or remove the asset");
  }
  SECTION("tcp rules have nothing inside") {
    config["grants"][0]["tcp"] = {{"read", true}};
    CHECK(error_of(config, dir) == "config error at /grants/0/tcp/read: unknown key (this object takes none)");
  }
  SECTION("a grant without rules is read as tcp rules, and a note says so") {
    config["grants"][0].erase("modbus");
    config["grants"][0]["assets"] = {"hmi-1"};
    Config loaded = load(config, dir);
    CHECK(loaded.grants[0].rules_of<conduit::authz::TcpRules>());
    CHECK_FALSE(loaded.grants[0].rules_of<conduit::authz::ModbusRules>());
    REQUIRE(loaded.notes.size() == 1);
    CHECK_THAT(loaded.notes[0], Catch::StartsWith("/grants/0 has no protocol rules: read as \"tcp\": {}"));
  }
  SECTION("an unknown asset kind lists the protocols") {
    config["assets"][1]["kind"] = "rfb";
    CHECK(error_of(config, dir) == "config error at /assets/1/kind: \"rfb\" is not a protocol (\"tcp\", \"modbus\")");
  }
}
