// Replays the recording reader fuzz corpus through the fuzzer's own check, so that every
// CI run re-verifies what the fuzzer once found (see tests/fuzz/README.md). A hidden test
// case regenerates the seed part of the corpus.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "../../fuzz/recording_reader_check.hpp"
#include "tests/unit/corpus.hpp"

namespace {

using namespace conduit::audit;
namespace corpus = conduit::test::corpus;
using corpus::Bytes;

// A failed write is not checked here.
void write_file(const std::filesystem::path& path, const Bytes& bytes) { corpus::write_file(path, bytes); }

Header seed_header() {
  Header h;
  h.session_id = "gw1-000001";
  h.gateway_id = "gw1";
  h.user = "alice";
  h.device = "laptop-7";
  h.role = "technician";
  h.asset = "plc-line-3";
  h.protocol = "modbus";
  h.listener = "modbus-502";
  h.client_address = "10.20.0.7:50312";
  h.asset_address = "10.30.0.5:502";
  h.start_wall_us = 1'763'000'000'000'000;
  h.policy_version = "policy-2026-11-01#4";
  return h;
}

DataRecord seed_data(std::uint64_t t, Direction dir, RecordedDecision decision, const Bytes& payload,
                     std::string_view summary) {
  DataRecord d;
  d.wall_us = 1'763'000'000'000'000 + t;
  d.monotonic_us = 5'000'000 + t;
  d.direction = dir;
  d.decision = decision;
  d.rule = decision == RecordedDecision::none ? "" : (decision == RecordedDecision::allow ? "grant-read" : "default-deny");
  d.summary = summary;
  d.payload = payload;
  return d;
}

Bytes take(RecordingWriter& w) {
  Bytes out;
  w.drain_into(out);
  return out;
}

}  // namespace

TEST_CASE("every file of the recording reader corpus passes the fuzzer's check", "[audit][fuzz]") {
  CHECK(corpus::replay(corpus::dir("recording_reader"), conduit::fuzz::check_recording_reader) >= 10);
}

TEST_CASE("the corpus seeds that are whole recordings verify with the fixture key", "[audit][fuzz]") {
  const std::filesystem::path dir = corpus::dir("recording_reader");
  const AuditKey& key = conduit::fuzz::recording_detail::fixture_key();
  for (const char* name : {"closed_small.bin", "two_seals.bin", "header_and_seal.bin"}) {
    INFO(name);
    const VerifyResult v = verify_recording(corpus::read_file(dir / name), key);
    CHECK(v.ok);
    CHECK(v.sealed_records == v.total_records);
  }
  CHECK(verify_recording(corpus::read_file(dir / "closed_small.bin"), key).complete());
}

// Run explicitly: ./conduit_unit_tests "[.generate_recording_corpus]"
TEST_CASE("regenerate the recording reader seed corpus", "[.generate_recording_corpus]") {
  const std::filesystem::path dir = corpus::dir("recording_reader");
  std::filesystem::create_directories(dir);
  const AuditKey& key = conduit::fuzz::recording_detail::fixture_key();
  const Bytes request = {0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x02};
  const Bytes response = {0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x01, 0x03, 0x04, 0x00, 0x2a, 0x00, 0x07};
  const Bytes write = {0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01, 0x06, 0x00, 0x10, 0x00, 0x01};

  // header, seal
  auto w = RecordingWriter::start(seed_header()).value();
  REQUIRE(w.seal(key).value());
  write_file(dir / "header_and_seal.bin", take(w));

  // header, allowed read + response, denied write, close, seal
  w = RecordingWriter::start(seed_header()).value();
  REQUIRE(w.append_data(seed_data(10, Direction::client_to_asset, RecordedDecision::allow, request,
                                  "read holding registers unit 1 0..1")));
  REQUIRE(w.append_data(seed_data(900, Direction::asset_to_client, RecordedDecision::none, response, "")));
  REQUIRE(w.append_data(seed_data(2000, Direction::client_to_asset, RecordedDecision::deny, write,
                                  "write single register unit 1 16 = 1")));
  REQUIRE(w.append_event({1'763'000'000'003'000, 5'003'000, EventKind::close, "client closed"}));
  REQUIRE(w.seal(key).value());
  const Bytes closed_small = take(w);
  write_file(dir / "closed_small.bin", closed_small);
  write_file(dir / "torn_mid_record.bin", Bytes(closed_small.begin(), closed_small.end() - 7));
  Bytes zero_tail = closed_small;
  zero_tail.resize(zero_tail.size() + 24, 0);
  write_file(dir / "zero_filled_tail.bin", zero_tail);
  Bytes bad_crc = closed_small;
  bad_crc[60] ^= 0x01;  // inside the header body
  write_file(dir / "bad_crc_header.bin", bad_crc);

  // two seal intervals with a note and a larger raw tunnel payload
  w = RecordingWriter::start(seed_header()).value();
  REQUIRE(w.append_data(seed_data(10, Direction::client_to_asset, RecordedDecision::allow, request, "")));
  REQUIRE(w.seal(key).value());
  REQUIRE(w.append_event({1'763'000'000'001'000, 5'001'000, EventKind::note, "policy reloaded"}));
  Bytes raw(600);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i * 7);
  REQUIRE(w.append_data(seed_data(1500, Direction::asset_to_client, RecordedDecision::none, raw, "")));
  REQUIRE(w.append_event({1'763'000'000'002'000, 5'002'000, EventKind::close, "revoked"}));
  REQUIRE(w.seal(key).value());
  write_file(dir / "two_seals.bin", take(w));

  // records after the last seal
  w = RecordingWriter::start(seed_header()).value();
  REQUIRE(w.append_data(seed_data(10, Direction::client_to_asset, RecordedDecision::allow, request, "")));
  REQUIRE(w.seal(key).value());
  REQUIRE(w.append_data(seed_data(20, Direction::asset_to_client, RecordedDecision::none, response, "")));
  const Bytes unsealed = take(w);
  write_file(dir / "unsealed_tail.bin", unsealed);

  // preamble only, magic only, header cut inside its length field, another version
  write_file(dir / "preamble_only.bin", Bytes(unsealed.begin(), unsealed.begin() + kPreambleSize));
  write_file(dir / "magic_only.bin", Bytes(kRecordingMagic.begin(), kRecordingMagic.end()));
  write_file(dir / "torn_length_field.bin", Bytes(unsealed.begin(), unsealed.begin() + kPreambleSize + 2));
  Bytes version2(unsealed.begin(), unsealed.end());
  version2[8] = 2;
  write_file(dir / "version_2.bin", version2);
}
