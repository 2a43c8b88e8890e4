// Recordings of whole sessions for the export and replay tests, built with the real
// RecordingWriter: a Modbus session (allowed read and write with their responses, a
// denied write answered with exception 01, a note, the close) and a TCP tunnel session
// with a payload larger than one TCP segment.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "audit/recording.hpp"

namespace conduit::audit::test {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::uint64_t kStartWallUs = 1'763'028'000'000'000;  // 2025-11-13 10:00:00 UTC
inline constexpr std::uint64_t kFirstMonotonicUs = 5'000'000'000;     // the gateway's steady clock

inline const AuditKey& fixture_key() {
  static const AuditKey key = [] {
    std::array<std::uint8_t, 32> seed{};
    for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(0xA0 + i);
    return *AuditKey::from_private_bytes(seed);
  }();
  return key;
}

// Payloads as the gateway records them.
inline const Bytes kReadRequest = {
    0x00, 0x01,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x06,  // length
    0x01,        // unit id
    0x03,        // function: read holding registers
    0x00, 0x00,  // start 0
    0x00, 0x02,  // quantity 2
};
inline const Bytes kReadResponse = {
    0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x01,  // MBAP, unit 1
    0x03,                                      // function
    0x04,                                      // byte count
    0x00, 0x2A, 0x00, 0x07,                    // 42, 7
};
inline const Bytes kWriteRequest = {
    0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01,  // MBAP, unit 1
    0x06,                                      // function: write single register
    0x00, 0x64,                                // address 100
    0x04, 0xB0,                                // value 1200
};
inline const Bytes kWriteEcho = kWriteRequest;  // FC 6 answers with the request
inline const Bytes kDeniedWrite = {
    0x00, 0x03, 0x00, 0x00, 0x00, 0x06, 0x01,  // MBAP, unit 1
    0x06,                                      // function: write single register
    0x00, 0x05,                                // address 5
    0x00, 0x07,                                // value 7
};
inline const Bytes kException = {
    0x00, 0x03, 0x00, 0x00, 0x00, 0x03, 0x01,  // MBAP, unit 1
    0x86,                                      // function 6 with the exception bit
    0x01,                                      // illegal function
};

inline DataRecord data_at(std::uint64_t offset_us, Direction direction, RecordedDecision decision,
                          std::string_view rule, std::string_view summary, const Bytes& payload) {
  DataRecord d;
  d.wall_us = kStartWallUs + offset_us;
  d.monotonic_us = kFirstMonotonicUs + offset_us;
  d.direction = direction;
  d.decision = decision;
  d.rule = rule;
  d.summary = summary;
  d.payload = payload;
  return d;
}

inline Header session_header(std::string_view protocol, std::string_view client, std::string_view asset) {
  Header h;
  h.session_id = "gw1-000042";
  h.gateway_id = "gw1";
  h.user = "alice";
  h.device = "laptop-7";
  h.role = "technician";
  h.asset = "press-1";
  h.protocol = protocol;
  h.listener = protocol == "modbus" ? "modbus-502" : "tunnel-8080";
  h.client_address = client;
  h.asset_address = asset;
  h.start_wall_us = kStartWallUs - 500'000;  // the handshake, half a second before the first request
  h.policy_version = "policy#7";
  return h;
}

struct ModbusSession {
  Bytes bytes;
  std::uint64_t close_wall_us = kStartWallUs + 4'000'000;
};

// Records 1..6 data (read, response, write, echo, denied write, exception), 7 a note,
// 8 a seal, 9 the close, 10 a seal.
inline ModbusSession modbus_session(std::string_view client = "10.20.0.7:50312",
                                    std::string_view asset = "10.30.0.5:502") {
  using enum Direction;
  ModbusSession s;
  auto w = RecordingWriter::start(session_header("modbus", client, asset)).value();
  REQUIRE(w.append_data(data_at(0, client_to_asset, RecordedDecision::allow, "technicians-read",
                                "unit 1 fc 3 read holding_registers 0+2", kReadRequest)));
  REQUIRE(w.append_data(data_at(2'000, asset_to_client, RecordedDecision::none, "", "", kReadResponse)));
  REQUIRE(w.append_data(data_at(1'234'000, client_to_asset, RecordedDecision::allow, "technicians-press-1",
                                "unit 1 fc 6 write holding_registers 100+1", kWriteRequest)));
  REQUIRE(w.append_data(data_at(1'236'000, asset_to_client, RecordedDecision::none, "", "", kWriteEcho)));
  REQUIRE(w.append_data(data_at(2'001'000, client_to_asset, RecordedDecision::deny, "default-deny",
                                "unit 1 fc 6 write holding_registers 5+1", kDeniedWrite)));
  REQUIRE(w.append_data(data_at(2'003'000, asset_to_client, RecordedDecision::none, "", "", kException)));
  REQUIRE(w.append_event({kStartWallUs + 3'000'000, kFirstMonotonicUs + 3'000'000, EventKind::note, "policy reloaded"}));
  REQUIRE(w.seal(fixture_key()).value());
  REQUIRE(w.append_event({s.close_wall_us, kFirstMonotonicUs + 4'000'000, EventKind::close, "client closed the connection"}));
  REQUIRE(w.seal(fixture_key()).value());
  w.drain_into(s.bytes);
  return s;
}

struct TcpSession {
  Bytes upload;    // client → asset, 3000 bytes: three segments over IPv4
  Bytes response;  // asset → client
  Bytes bytes;
};

// Records 1 (upload), 2 (response), then the close; no seal.
inline TcpSession tcp_session(std::string_view client = "192.0.2.10:40000", std::string_view asset = "198.51.100.5:8080") {
  TcpSession s;
  s.upload.resize(3000);
  for (std::size_t i = 0; i < s.upload.size(); ++i) s.upload[i] = static_cast<std::uint8_t>(i * 13 + 5);
  const std::string_view ok = "HTTP/1.1 200 OK\r\n\r\n";
  s.response.resize(ok.size());
  for (std::size_t i = 0; i < ok.size(); ++i) s.response[i] = static_cast<std::uint8_t>(ok[i]);
  auto w = RecordingWriter::start(session_header("tcp", client, asset)).value();
  REQUIRE(w.append_data(data_at(100'000, Direction::client_to_asset, RecordedDecision::none, "", "", s.upload)));
  REQUIRE(w.append_data(data_at(150'000, Direction::asset_to_client, RecordedDecision::none, "", "", s.response)));
  REQUIRE(w.append_event({kStartWallUs + 900'000, kFirstMonotonicUs + 900'000, EventKind::close, "asset closed"}));
  w.drain_into(s.bytes);
  return s;
}

// Offsets of every complete record, read from trusted bytes.
inline std::vector<Record> records_of(const Bytes& bytes) {
  std::vector<Record> out;
  RecordingReader reader(bytes);
  Record r;
  while (reader.next(r).status == ReadStatus::ok) out.push_back(r);
  return out;
}

}  // namespace conduit::audit::test
