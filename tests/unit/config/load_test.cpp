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
    "grants": [ { "id": "g1", "users": ["alice"], "devices": ["*"], "assets": ["press-1"] } ]
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
  CHECK(config.grants.size() == 2);
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
  SECTION("empty grant list means nothing, so it is refused") {
    config["grants"][0]["users"] = json::array();
    CHECK_THAT(error_of(config, dir), Catch::StartsWith("config error at /grants/0/users: must not be empty"));
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
