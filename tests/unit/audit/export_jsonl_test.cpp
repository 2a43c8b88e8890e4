// JSON Lines export (audit/export_jsonl.hpp): every line parses, every field of every
// record comes back, a torn tail ends with its own line and a bad record is an error.
#include <catch2/catch.hpp>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/export_jsonl.hpp"
#include "session_fixtures.hpp"

namespace {

using namespace conduit::audit;
using namespace conduit::audit::test;
using nlohmann::json;

std::vector<json> lines_of(const std::string& text) {
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

Bytes unhex(const std::string& text) {
  REQUIRE(text.size() % 2 == 0);
  Bytes out(text.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(std::stoi(text.substr(2 * i, 2), nullptr, 16));
  return out;
}

}  // namespace

TEST_CASE("every record of a modbus session comes back from its JSON line field for field", "[audit][export]") {
  const ModbusSession s = modbus_session();
  const std::vector<Record> records = records_of(s.bytes);
  const std::vector<json> lines = lines_of(export_jsonl(s.bytes).value());
  REQUIRE(lines.size() == records.size());

  for (std::size_t i = 0; i < lines.size(); ++i) {
    const json& j = lines[i];
    const Record& r = records[i];
    INFO("line " << i << ": " << j.dump());
    CHECK(j.at("index") == r.index);
    CHECK(j.at("offset") == r.offset);
    if (const auto* h = std::get_if<Header>(&r.body)) {
      CHECK(j.at("type") == "header");
      CHECK(j.at("session_id") == h->session_id);
      CHECK(j.at("gateway_id") == h->gateway_id);
      CHECK(j.at("user") == h->user);
      CHECK(j.at("device") == h->device);
      CHECK(j.at("role") == h->role);
      CHECK(j.at("asset") == h->asset);
      CHECK(j.at("protocol") == "modbus");
      CHECK(j.at("listener") == h->listener);
      CHECK(j.at("client_address") == "10.20.0.7:50312");
      CHECK(j.at("asset_address") == "10.30.0.5:502");
      CHECK(j.at("start_wall_us") == h->start_wall_us);
      CHECK(j.at("policy_version") == h->policy_version);
    } else if (const auto* d = std::get_if<DataRecord>(&r.body)) {
      CHECK(j.at("type") == "data");
      CHECK(j.at("wall_us") == d->wall_us);
      CHECK(j.at("monotonic_us") == d->monotonic_us);
      CHECK(j.at("direction") == (d->direction == Direction::client_to_asset ? "client_to_asset" : "asset_to_client"));
      CHECK(j.at("decision") == (d->decision == RecordedDecision::allow  ? "allow"
                                 : d->decision == RecordedDecision::deny ? "deny"
                                                                         : "none"));
      CHECK(j.at("rule") == d->rule);
      CHECK(j.at("summary") == d->summary);
      const std::string payload = j.at("payload");
      CHECK(payload.find_first_not_of("0123456789abcdef") == std::string::npos);
      CHECK(unhex(payload) == Bytes(d->payload.begin(), d->payload.end()));
    } else if (const auto* e = std::get_if<EventRecord>(&r.body)) {
      CHECK(j.at("type") == "event");
      CHECK(j.at("wall_us") == e->wall_us);
      CHECK(j.at("monotonic_us") == e->monotonic_us);
      CHECK(j.at("kind") == (e->kind == EventKind::close ? "close" : "note"));
      CHECK(j.at("text") == e->text);
    } else {
      const auto& seal = std::get<SealRecord>(r.body);
      CHECK(j.at("type") == "seal");
      CHECK(j.at("covered_index") == seal.covered_index);
      CHECK(unhex(j.at("head")) == Bytes(seal.head.begin(), seal.head.end()));
      CHECK(unhex(j.at("signature")) == Bytes(seal.signature.begin(), seal.signature.end()));
    }
  }
  // Spot checks against the fixture itself, not only against the reader.
  CHECK(lines[5].at("decision") == "deny");
  CHECK(lines[5].at("rule") == "default-deny");
  CHECK(lines[5].at("payload") == "000300000006010600050007");
  CHECK(lines[9].at("text") == "client closed the connection");
}

TEST_CASE("JSON lines start with index and type and end with a newline each", "[audit][export]") {
  const std::string text = export_jsonl(tcp_session().bytes).value();
  CHECK(text.rfind("{\"index\":0,\"offset\":12,\"type\":\"header\",\"session_id\":\"gw1-000042\",", 0) == 0);
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n' ? 1 : 0;
  CHECK(lines == 4);
}

TEST_CASE("a torn tail ends the JSON lines with its offset", "[audit][export]") {
  const ModbusSession s = modbus_session();
  const std::vector<Record> records = records_of(s.bytes);
  const Bytes torn(s.bytes.begin(), s.bytes.begin() + static_cast<std::ptrdiff_t>(records[3].offset + 5));
  const std::string text = export_jsonl(torn).value();
  const std::vector<json> lines = lines_of(text);
  REQUIRE(lines.size() == 4);
  CHECK(lines[2].at("index") == 2);
  CHECK(lines[3].at("type") == "torn_tail");
  CHECK(lines[3].at("offset") == records[3].offset);
  CHECK(lines[3].at("message").get<std::string>().find("record 3") != std::string::npos);
  const std::string last = "{\"type\":\"torn_tail\",\"offset\":" + std::to_string(records[3].offset) + ",";
  CHECK(text.find(last) != std::string::npos);
}

TEST_CASE("a malformed record is an error, with no lines", "[audit][export]") {
  const ModbusSession s = modbus_session();
  const std::vector<Record> records = records_of(s.bytes);
  Bytes flipped = s.bytes;
  flipped[records[4].offset + 12] ^= 0x40;
  const auto result = export_jsonl(flipped);
  REQUIRE(result.has_error());
  CHECK(result.error().record_index == 4);
  CHECK(result.error().message.find("record 4 at byte " + std::to_string(records[4].offset)) != std::string::npos);

  Bytes version2 = s.bytes;
  version2[8] = 2;
  CHECK(export_jsonl(version2).error().status == ReadStatus::unsupported_version);
}

TEST_CASE("texts that are not UTF-8 are exported with replacement characters instead of failing",
          "[audit][export]") {
  const std::string bad_user = "al\xFF" "ice";
  Header h = session_header("tcp", "", "");
  h.user = bad_user;
  auto w = RecordingWriter::start(h).value();
  Bytes bytes;
  w.drain_into(bytes);
  const std::vector<json> lines = lines_of(export_jsonl(bytes).value());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("user") == "al\xEF\xBF\xBD" "ice");
  CHECK(lines[0].at("client_address") == "");
}
