// Replay timeline (audit/replay.hpp, audit/replay_modbus.hpp): golden lines for each kind
// of record, Modbus decoding with its fallbacks, terminal safety, and pacing with a fake
// sleeper (no real time passes).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "audit/replay.hpp"
#include "audit/replay_modbus.hpp"
#include "session_fixtures.hpp"

namespace {

using namespace conduit::audit;
using namespace conduit::audit::test;
using namespace std::chrono_literals;

// Formats every record of a recording the way `conduit replay` shows it.
std::vector<std::string> timeline(const Bytes& bytes, const ReplayOptions& options = {}) {
  const std::vector<Record> records = records_of(bytes);
  REQUIRE(!records.empty());
  const Header& header = std::get<Header>(records[0].body);
  std::uint64_t first = 0;
  for (const Record& r : records) {
    if (const auto t = record_monotonic_us(r)) {
      first = *t;
      break;
    }
  }
  std::vector<std::string> lines;
  for (const Record& r : records) {
    if (std::optional<std::string> line = format_record(r, header, first, options)) lines.push_back(*line);
  }
  return lines;
}

Record data_record(const DataRecord& d) {
  Record r;
  r.body = d;
  return r;
}

std::string one_line(std::string_view protocol, const DataRecord& d, const ReplayOptions& options = {}) {
  const Header h = session_header(protocol, "", "");
  return format_record(data_record(d), h, kFirstMonotonicUs, options).value();
}

}  // namespace

TEST_CASE("a modbus session replays as one golden line per request, response and event", "[audit][replay]") {
  const std::vector<std::string> lines = timeline(modbus_session().bytes);
  const std::vector<std::string> want = {
      "session   gw1-000042 on gateway gw1, policy policy#7\n"
      "user      alice, device laptop-7, role technician\n"
      "asset     press-1, protocol modbus, listener modbus-502\n"
      "client    10.20.0.7:50312 → asset 10.30.0.5:502\n"
      "started   2025-11-13 09:59:59.500000 UTC; times below: UTC, then seconds since the first record",
      "10:00:00.000  +0.000s  →  allow technicians-read  unit 1 fc 3 read holding_registers 0+2",
      "10:00:00.002  +0.002s  ←  unit 1 fc 3 read holding_registers = 42, 7",
      "10:00:01.234  +1.234s  →  allow technicians-press-1  unit 1 fc 6 write holding_registers 100 = 1200",
      "10:00:01.236  +1.236s  ←  unit 1 fc 6 echo holding_registers 100 = 1200",
      "10:00:02.001  +2.001s  →  DENY  default-deny  unit 1 fc 6 write holding_registers 5 = 7",
      "10:00:02.003  +2.003s  ←  exception 01 illegal function",
      "10:00:03.000  +3.000s  --- note: policy reloaded",
      "10:00:04.000  +4.000s  === closed: client closed the connection",
  };
  CHECK(lines == want);
}

TEST_CASE("seals are shown only when asked for", "[audit][replay]") {
  const Bytes bytes = modbus_session().bytes;
  ReplayOptions options;
  options.show_seals = true;
  const std::vector<std::string> lines = timeline(bytes, options);
  REQUIRE(lines.size() == 11);
  const auto& seal = std::get<SealRecord>(records_of(bytes)[8].body);
  char head[17];
  for (int i = 0; i < 8; ++i) std::snprintf(head + 2 * i, 3, "%02x", seal.head[static_cast<std::size_t>(i)]);
  CHECK(lines[8] == "~~~ seal: records 0..7, chain head " + std::string(head) + "...");
  CHECK(lines[10].rfind("~~~ seal: records 0..9, chain head ", 0) == 0);
}

TEST_CASE("other protocols show the byte count and a printable preview", "[audit][replay]") {
  const std::string_view http = "GET / HTTP/1.1\r\nHost: plc\r\n\r\n";
  const Bytes request(http.begin(), http.end());
  const DataRecord d = data_at(2'500'000, Direction::client_to_asset, RecordedDecision::none, "", "", request);
  CHECK(one_line("tcp", d) == "10:00:02.500  +2.500s  →  29 bytes \"GET / HTTP/1.1..Host: plc....\"");

  ReplayOptions short_preview;
  short_preview.preview_bytes = 10;
  const Bytes twelve(http.begin(), http.begin() + 12);
  CHECK(one_line("tcp", data_at(0, Direction::client_to_asset, RecordedDecision::none, "", "", twelve), short_preview) ==
        "10:00:00.000  +0.000s  →  12 bytes \"GET / HTTP...\"");

  const TcpSession s = tcp_session();
  const std::vector<std::string> lines = timeline(s.bytes);
  REQUIRE(lines.size() == 4);
  CHECK(lines[1].rfind("10:00:00.100  +0.000s  →  3000 bytes \"", 0) == 0);
  CHECK(lines[1].size() == std::string("10:00:00.100  +0.000s  →  3000 bytes \"").size() + 32 + 4);
  CHECK(lines[2] == "10:00:00.150  +0.050s  ←  19 bytes \"HTTP/1.1 200 OK....\"");
  CHECK(lines[3] == "10:00:00.900  +0.800s  === closed: asset closed");
  CHECK(one_line("tcp", data_at(0, Direction::asset_to_client, RecordedDecision::none, "", "", {})) ==
        "10:00:00.000  +0.000s  ←  0 bytes");
}

TEST_CASE("a modbus payload that does not frame falls back to the recorded summary, then to a preview",
          "[audit][replay]") {
  const Bytes bad_protocol_id = {0x00, 0x01, 0x00, 0x05, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x02};
  CHECK(one_line("modbus", data_at(0, Direction::client_to_asset, RecordedDecision::allow, "r1",
                                   "unit 1 fc 3 read holding_registers 0+2", bad_protocol_id)) ==
        "10:00:00.000  +0.000s  →  allow r1  unit 1 fc 3 read holding_registers 0+2");
  const Bytes partial = {0x00, 0x01, 0x00};
  CHECK(one_line("modbus", data_at(0, Direction::asset_to_client, RecordedDecision::none, "", "", partial)) ==
        "10:00:00.000  +0.000s  ←  3 bytes \"...\"");
}

TEST_CASE("the relative column follows the monotonic clock, not a stepped wall clock", "[audit][replay]") {
  DataRecord d = data_at(1'000'000, Direction::client_to_asset, RecordedDecision::deny, "", "", kDeniedWrite);
  d.wall_us = kStartWallUs - 3'600'000'000;  // the gateway's clock was set back an hour
  CHECK(one_line("modbus", d) == "09:00:00.000  +1.000s  →  DENY  unit 1 fc 6 write holding_registers 5 = 7");
  d.monotonic_us = kFirstMonotonicUs - 250'000;
  CHECK(one_line("modbus", d).rfind("09:00:00.000  -0.250s  ", 0) == 0);
}

TEST_CASE("texts from the file cannot send control sequences to the terminal", "[audit][replay]") {
  Record note;
  note.body = EventRecord{kStartWallUs, kFirstMonotonicUs, EventKind::note, "\x1b]0;owned\x07 \xC2\x9B" "2J ok \xC3\xA9"};
  const Header h = session_header("tcp", "", "");
  CHECK(format_record(note, h, kFirstMonotonicUs).value() == "10:00:00.000  +0.000s  --- note: .]0;owned. .2J ok \xC3\xA9");
  Header evil = h;
  evil.user = "mallory\r\nsession   forged";
  const std::string block = format_header(evil);
  CHECK(block.find("mallory..session   forged, device") != std::string::npos);
  CHECK(std::count(block.begin(), block.end(), '\n') == 4);
  CHECK(block.find("client    - → asset -") != std::string::npos);
}

TEST_CASE("modbus requests show function, table, addresses and the values written", "[audit][replay]") {
  const Bytes fc16 = {0x00, 0x07, 0x00, 0x00, 0x00, 0x0D, 0x11,  // MBAP, unit 17
                      0x10,                                      // write multiple registers
                      0x00, 0x64, 0x00, 0x03, 0x06,              // 100, quantity 3, 6 bytes
                      0x04, 0xB0, 0x04, 0xB1, 0x04, 0xB2};       // 1200, 1201, 1202
  CHECK(describe_modbus_request(fc16) == "unit 17 fc 16 write holding_registers 100+3 = 1200, 1201, 1202");
  const Bytes fc15 = {0x00, 0x08, 0x00, 0x00, 0x00, 0x09, 0x01,  // MBAP
                      0x0F,                                      // write multiple coils
                      0x00, 0x10, 0x00, 0x0A, 0x02,              // 16, quantity 10, 2 bytes
                      0x0D, 0x03};                               // 1011 0000, 11
  CHECK(describe_modbus_request(fc15) == "unit 1 fc 15 write coils 16+10 = 10110000 11");
  const Bytes fc5 = {0x00, 0x09, 0x00, 0x00, 0x00, 0x06, 0x01, 0x05, 0x00, 0x03, 0xFF, 0x00};
  CHECK(describe_modbus_request(fc5) == "unit 1 fc 5 write coils 3 = 1");
  const Bytes fc22 = {0x00, 0x0A, 0x00, 0x00, 0x00, 0x08, 0x01, 0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25};
  CHECK(describe_modbus_request(fc22) == "unit 1 fc 22 mask holding_registers 4 and 0x00F2 or 0x0025");
  const Bytes fc23 = {0x00, 0x0B, 0x00, 0x00, 0x00, 0x0F, 0x01,  // MBAP
                      0x17, 0x00, 0x00, 0x00, 0x02,              // read 0+2
                      0x00, 0x0A, 0x00, 0x02, 0x04,              // write 10+2, 4 bytes
                      0x00, 0x05, 0x00, 0x06};                   // 5, 6
  CHECK(describe_modbus_request(fc23) ==
        "unit 1 fc 23 read holding_registers 0+2 write holding_registers 10+2 = 5, 6");
  const Bytes fc8 = {0x00, 0x0C, 0x00, 0x00, 0x00, 0x06, 0x01, 0x08, 0x00, 0x04, 0x00, 0x00};
  CHECK(describe_modbus_request(fc8) == "unit 1 fc 8 sub 4");
}

TEST_CASE("modbus anomalies, truncations and extra bytes are named, not hidden", "[audit][replay]") {
  Bytes trailing = kReadRequest;
  trailing[5] = 0x07;  // length 7: one byte more than FC 3 defines
  trailing.push_back(0xEE);
  CHECK(describe_modbus_request(trailing) == "unit 1 fc 3 read holding_registers 0+2 [trailing_bytes]");
  Bytes two = kReadRequest;
  two.resize(kReadRequest.size() * 2);
  std::copy(kReadRequest.begin(), kReadRequest.end(), two.begin() + static_cast<std::ptrdiff_t>(kReadRequest.size()));
  CHECK(describe_modbus_request(two) == "unit 1 fc 3 read holding_registers 0+2 (+12 bytes after the ADU)");
  const Bytes short16 = {0x00, 0x07, 0x00, 0x00, 0x00, 0x09, 0x01, 0x10, 0x00, 0x64, 0x00, 0x03, 0x06, 0x04, 0xB0};
  CHECK(describe_modbus_request(short16) == "unit 1 fc 16 write holding_registers 100+3 [byte_count_mismatch]");
  const Bytes short_response = {0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x01, 0x03, 0x04, 0x00, 0x2A};
  CHECK(describe_modbus_response(short_response) == "unit 1 fc 3 response, 11 bytes [byte_count_mismatch]");
  CHECK_FALSE(describe_modbus_request(Bytes{0x00, 0x01}));
}

TEST_CASE("modbus responses show the values read and the echoed writes", "[audit][replay]") {
  const Bytes coils = {0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x02, 0x0D, 0x01};
  CHECK(describe_modbus_response(coils) == "unit 1 fc 1 read coils = 10110000 10000000");
  const Bytes input = {0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x01, 0x04, 0x02, 0xFF, 0xFF};
  CHECK(describe_modbus_response(input) == "unit 1 fc 4 read input_registers = 65535");
  const Bytes echo16 = {0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x11, 0x10, 0x00, 0x64, 0x00, 0x03};
  CHECK(describe_modbus_response(echo16) == "unit 17 fc 16 echo holding_registers 100+3");
  const Bytes gateway = {0x00, 0x03, 0x00, 0x00, 0x00, 0x03, 0x09, 0x83, 0x0B};
  CHECK(describe_modbus_response(gateway) == "exception 0B gateway target device failed to respond");
  CHECK(std::string(modbus_exception_name(0x02)) == "illegal data address");
  CHECK(std::string(modbus_exception_name(0x42)) == "unknown exception");
}

TEST_CASE("long value lists are cut after 32 values and say how many more", "[audit][replay]") {
  Bytes response(9 + 2 * 100);
  const std::vector<std::uint8_t> head = {0x00, 0x01, 0x00, 0x00, 0x00, 0xCB, 0x01, 0x03, 0xC8};  // 100 registers
  std::copy(head.begin(), head.end(), response.begin());
  for (std::size_t i = 0; i < 100; ++i) response[9 + 2 * i + 1] = static_cast<std::uint8_t>(i);
  const std::string text = describe_modbus_response(response).value();
  CHECK(text.rfind("unit 1 fc 3 read holding_registers = 0, 1, 2, ", 0) == 0);
  CHECK(text.find(", 31, ... (+68 more)") != std::string::npos);
}

TEST_CASE("pacing divides the recorded gaps by the speed and caps them", "[audit][replay]") {
  CHECK(replay_delay(1'000'000, 2'000'000, 1.0, 5s) == 1s);
  CHECK(replay_delay(1'000'000, 2'000'000, 2.0, 5s) == 500ms);
  CHECK(replay_delay(1'000'000, 2'000'000, 0.5, 5s) == 2s);
  CHECK(replay_delay(0, 3'600'000'000, 1.0, 5s) == 5s);         // an idle hour
  CHECK(replay_delay(0, 3'600'000'000, 1.0, 250ms) == 250ms);   // the cap is configurable
  CHECK(replay_delay(0, UINT64_MAX, 1e-300, 5s) == 5s);        // no overflow before the cap
  CHECK(replay_delay(2'000'000, 1'000'000, 1.0, 5s) == 0us);    // time went backwards
  CHECK(replay_delay(0, 1'000'000, 0.0, 5s) == 0us);            // no pacing
  CHECK(replay_delay(0, 1'000'000, -1.0, 5s) == 0us);
}

TEST_CASE("a paced replay of a session sleeps the scaled gaps through the injected sleeper", "[audit][replay]") {
  const Bytes bytes = modbus_session().bytes;
  std::vector<std::chrono::microseconds> slept;
  ReplayPacer pacer(2.0, 400ms, [&slept](std::chrono::microseconds d) { slept.push_back(d); });
  std::vector<std::chrono::microseconds> delays;
  for (const Record& r : records_of(bytes)) delays.push_back(pacer.wait_before(r));
  // header, 6 data, note, seal, close, seal: gaps halved, those over 0.8 s capped at 400 ms.
  const std::vector<std::chrono::microseconds> want = {0us, 0us, 1ms, 400ms, 1ms, 382500us, 1ms, 400ms, 0us,
                                                       400ms, 0us};
  CHECK(delays == want);
  const std::vector<std::chrono::microseconds> want_slept = {1ms, 400ms, 1ms, 382500us, 1ms, 400ms, 400ms};
  CHECK(slept == want_slept);
}
