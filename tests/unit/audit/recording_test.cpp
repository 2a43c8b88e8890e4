// Session recording format (audit/FORMAT.md): writer/reader round trips, exact bytes, and
// each tampering class the verifier must name — byte flips, deleted, reordered and
// swapped records, files swapped between sessions, wrong key — kept apart from the
// non-tampering cases (torn tail, unsealed tail).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "audit/recording.hpp"

namespace {

using namespace conduit::audit;
using Bytes = std::vector<std::uint8_t>;

const AuditKey& test_key() {
  static const AuditKey key = [] {
    std::array<std::uint8_t, 32> seed{};
    for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i + 1);
    return *AuditKey::from_private_bytes(seed);
  }();
  return key;
}

const AuditKey& other_key() {
  static const AuditKey key = *AuditKey::generate();
  return key;
}

Header make_header(std::string_view session_id) {
  Header h;
  h.session_id = session_id;
  h.gateway_id = "gw-plant-1";
  h.user = "alice";
  h.device = "laptop-7";
  h.role = "technician";
  h.asset = "plc-line-3";
  h.protocol = "modbus";
  h.listener = "modbus-502";
  h.client_address = "10.20.0.7:50312";
  h.asset_address = "[fd00:3::10]:502";
  h.start_wall_us = 1'763'000'000'123'456;
  h.policy_version = "sha256:0c1f#12";
  return h;
}

// Deterministic content for data record i: sizes, directions and decisions vary.
struct DataFixture {
  Bytes payload;
  std::string summary;
  std::string rule;
  DataRecord record(std::uint64_t i) const {
    DataRecord d;
    d.wall_us = 1'763'000'000'200'000 + i * 1000;
    d.monotonic_us = 77'000'000 + i * 1000;
    d.direction = i % 2 == 0 ? Direction::client_to_asset : Direction::asset_to_client;
    d.decision = i % 2 == 1 ? RecordedDecision::none : (i % 10 == 4 ? RecordedDecision::deny : RecordedDecision::allow);
    d.rule = rule;
    d.summary = summary;
    d.payload = payload;
    return d;
  }
};

DataFixture fixture(std::uint64_t i) {
  DataFixture f;
  f.payload.resize(12 + (i * 37) % 300);
  for (std::size_t k = 0; k < f.payload.size(); ++k) f.payload[k] = static_cast<std::uint8_t>(i * 31 + k);
  if (i % 2 == 0) f.summary = "read holding registers unit 1 " + std::to_string(i) + "..+2";
  if (i % 2 == 0) f.rule = i % 10 == 4 ? "default-deny" : "grant-" + std::to_string(i % 3);
  return f;
}

struct Built {
  Bytes bytes;
  std::vector<std::uint64_t> seal_indices;
};

// Header, `data` records with a seal every `seal_every`, a close event and a final seal.
Built build(std::string_view session_id, std::uint64_t data, std::uint64_t seal_every, bool close = true) {
  Built b;
  auto writer = RecordingWriter::start(make_header(session_id));
  REQUIRE(writer.has_value());
  RecordingWriter& w = *writer;
  for (std::uint64_t i = 0; i < data; ++i) {
    const DataFixture f = fixture(i);
    REQUIRE(w.append_data(f.record(i)));
    if ((i + 1) % seal_every == 0) {
      b.seal_indices.push_back(w.record_count());
      REQUIRE(w.seal(test_key()).value());
    }
  }
  if (close) {
    REQUIRE(w.append_event({1'763'000'009'000'000, 86'000'000, EventKind::close, "client closed the connection"}));
    b.seal_indices.push_back(w.record_count());
    REQUIRE(w.seal(test_key()).value());
  }
  w.drain_into(b.bytes);
  return b;
}

// Offsets and frames of every complete record, read from trusted bytes.
std::vector<Record> records_of(const Bytes& bytes) {
  std::vector<Record> out;
  RecordingReader reader(bytes);
  Record r;
  while (reader.next(r).status == ReadStatus::ok) out.push_back(r);
  return out;
}

Bytes without(const Bytes& bytes, std::size_t from, std::size_t count) {
  Bytes out(bytes.size() - count);
  std::memcpy(out.data(), bytes.data(), from);
  std::memcpy(out.data() + from, bytes.data() + from + count, bytes.size() - from - count);
  return out;
}

void fix_crc(Bytes& bytes, const Record& record) {
  const std::size_t length = record.frame.size() - kFrameOverhead;
  const std::uint32_t crc = crc32c(std::span<const std::uint8_t>(bytes).subspan(record.offset + 4, length));
  for (int i = 0; i < 4; ++i) bytes[record.offset + 4 + length + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
}

std::uint64_t last_seal_before(const std::vector<std::uint64_t>& seals, std::uint64_t index) {
  std::uint64_t found = 0;
  for (std::uint64_t s : seals) {
    if (s < index) found = s + 1;
  }
  return found;  // first record not covered by a seal before `index`
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("crc32c matches the Castagnoli check value", "[audit][recording]") {
  const std::string_view check = "123456789";
  CHECK(crc32c(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(check.data()), check.size())) ==
        0xE3069283u);
  CHECK(crc32c({}) == 0u);
  CHECK(crc32c_portable(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(check.data()),
                                                      check.size())) == 0xE3069283u);
}

TEST_CASE("the hardware and table crc32c agree at every length and alignment", "[audit][recording]") {
  Bytes data(300);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 167 + 13);
  for (std::size_t start = 0; start < 8; ++start) {
    for (std::size_t n = 0; start + n <= 100; ++n) {
      const auto part = std::span<const std::uint8_t>(data).subspan(start, n);
      REQUIRE(crc32c(part) == crc32c_portable(part));
    }
  }
}

TEST_CASE("an event record is framed little-endian as FORMAT.md shows", "[audit][recording]") {
  Bytes out;
  REQUIRE(encode_event(out, {0x0102030405060708, 0x1122, EventKind::close, "ok"}));
  const Bytes expected_prefix = {
      0x16, 0x00, 0x00, 0x00,                          // length of type + body: 22
      0x03,                                            // type: event
      0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // wall µs
      0x22, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // monotonic µs
      0x01,                                            // kind: close
      0x02, 0x00, 'o', 'k',                            // text
  };
  REQUIRE(out.size() == expected_prefix.size() + 4);
  CHECK(std::equal(expected_prefix.begin(), expected_prefix.end(), out.begin()));
  const std::uint32_t crc = crc32c(std::span<const std::uint8_t>(out).subspan(4, 22));
  CHECK(out[26] == (crc & 0xFF));
  CHECK(out[29] == (crc >> 24));
}

TEST_CASE("a header record is framed with its fields in FORMAT.md order", "[audit][recording]") {
  Header h;
  h.session_id = "s";
  h.gateway_id = "g";
  h.user = "u";
  h.device = "d";
  h.role = "r";
  h.asset = "a";
  h.protocol = "p";
  h.listener = "l";
  h.client_address = "c:1";
  h.asset_address = "[::1]:2";
  h.start_wall_us = 0x0102030405060708;
  h.policy_version = "v";
  Bytes out;
  REQUIRE(encode_header(out, h));
  const Bytes expected_prefix = {
      0x32, 0x00, 0x00, 0x00,                          // length of type + body: 50
      0x01,                                            // type: header
      0x01, 0x00, 's',                                 // session_id
      0x01, 0x00, 'g',                                 // gateway_id
      0x01, 0x00, 'u',                                 // user
      0x01, 0x00, 'd',                                 // device
      0x01, 0x00, 'r',                                 // role
      0x01, 0x00, 'a',                                 // asset
      0x01, 0x00, 'p',                                 // protocol
      0x01, 0x00, 'l',                                 // listener
      0x03, 0x00, 'c', ':', '1',                       // client_address
      0x07, 0x00, '[', ':', ':', '1', ']', ':', '2',   // asset_address
      0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // start_wall_us
      0x01, 0x00, 'v',                                 // policy_version
  };
  REQUIRE(out.size() == expected_prefix.size() + 4);
  CHECK(std::equal(expected_prefix.begin(), expected_prefix.end(), out.begin()));
}

TEST_CASE("a header with empty addresses and one with every field at its cap read back", "[audit][recording]") {
  const std::string longest(kMaxText, 'x');
  Header full;
  for (std::string_view* field : {&full.session_id, &full.gateway_id, &full.user, &full.device, &full.role,
                                  &full.asset, &full.protocol, &full.listener, &full.client_address,
                                  &full.asset_address, &full.policy_version}) {
    *field = longest;
  }
  Header bare = make_header("s-bare");
  bare.client_address = {};
  bare.asset_address = {};
  for (const Header& want : {bare, full}) {
    auto w = RecordingWriter::start(want).value();
    Bytes bytes;
    w.drain_into(bytes);
    RecordingReader reader(bytes);
    Record r;
    REQUIRE(reader.next(r).status == ReadStatus::ok);
    const Header& got = std::get<Header>(r.body);
    CHECK(got.session_id == want.session_id);
    CHECK(got.listener == want.listener);
    CHECK(got.client_address == want.client_address);
    CHECK(got.asset_address == want.asset_address);
    CHECK(got.policy_version == want.policy_version);
    CHECK(reader.next(r).status == ReadStatus::end);
  }
}

TEST_CASE("the file starts with the magic, version 1 and zero flags", "[audit][recording]") {
  const Built b = build("s-1", 0, 1, false);
  REQUIRE(b.bytes.size() > kPreambleSize);
  CHECK(std::equal(kRecordingMagic.begin(), kRecordingMagic.end(), b.bytes.begin()));
  CHECK(b.bytes[8] == 1);
  CHECK(b.bytes[9] == 0);
  CHECK(b.bytes[10] == 0);
  CHECK(b.bytes[11] == 0);
}

TEST_CASE("a header, 1000 data records and their seals read back field for field and verify", "[audit][recording]") {
  const Built b = build("gw-plant-1-000042", 1000, 100);
  RecordingReader reader(b.bytes);
  Record r;

  REQUIRE(reader.next(r).status == ReadStatus::ok);
  REQUIRE(r.type() == RecordType::header);
  const Header& h = std::get<Header>(r.body);
  const Header want = make_header("gw-plant-1-000042");
  CHECK(h.session_id == want.session_id);
  CHECK(h.gateway_id == want.gateway_id);
  CHECK(h.user == want.user);
  CHECK(h.device == want.device);
  CHECK(h.role == want.role);
  CHECK(h.asset == want.asset);
  CHECK(h.protocol == want.protocol);
  CHECK(h.listener == want.listener);
  CHECK(h.client_address == want.client_address);
  CHECK(h.asset_address == want.asset_address);
  CHECK(h.start_wall_us == want.start_wall_us);
  CHECK(h.policy_version == want.policy_version);

  std::uint64_t data = 0;
  std::uint64_t seals = 0;
  std::uint64_t closes = 0;
  std::uint64_t index = 1;
  for (;;) {
    const ReadResult result = reader.next(r);
    if (result.status == ReadStatus::end) break;
    REQUIRE(result.status == ReadStatus::ok);
    REQUIRE(r.index == index++);
    if (const auto* d = std::get_if<DataRecord>(&r.body)) {
      const DataFixture f = fixture(data);
      const DataRecord w = f.record(data);
      INFO("data record " << data);
      REQUIRE(d->wall_us == w.wall_us);
      REQUIRE(d->monotonic_us == w.monotonic_us);
      REQUIRE(d->direction == w.direction);
      REQUIRE(d->decision == w.decision);
      REQUIRE(d->rule == w.rule);
      REQUIRE(d->summary == w.summary);
      REQUIRE(std::equal(d->payload.begin(), d->payload.end(), f.payload.begin(), f.payload.end()));
      ++data;
    } else if (const auto* s = std::get_if<SealRecord>(&r.body)) {
      CHECK(s->covered_index == r.index - 1);
      ++seals;
    } else if (const auto* e = std::get_if<EventRecord>(&r.body)) {
      CHECK(e->kind == EventKind::close);
      CHECK(e->text == "client closed the connection");
      ++closes;
    }
  }
  CHECK(data == 1000);
  CHECK(seals == 11);
  CHECK(closes == 1);

  const VerifyResult v = verify_recording(b.bytes, test_key(), "gw-plant-1-000042");
  CHECK(v.ok);
  CHECK(v.complete());
  CHECK(v.total_records == 1 + 1000 + 11 + 1);
  CHECK(v.sealed_records == v.total_records);
  CHECK_FALSE(v.torn_tail);
  CHECK_FALSE(v.first_bad_record);
  CHECK(v.session_id == "gw-plant-1-000042");
}

TEST_CASE("draining after every record gives the same bytes as draining once", "[audit][recording]") {
  const Built once = build("s-drain", 30, 7);
  auto w = RecordingWriter::start(make_header("s-drain")).value();
  Bytes out;
  w.drain_into(out);
  for (std::uint64_t i = 0; i < 30; ++i) {
    const DataFixture f = fixture(i);
    REQUIRE(w.append_data(f.record(i)));
    w.drain_into(out);
    if ((i + 1) % 7 == 0) REQUIRE(w.seal(test_key()).value());
    w.drain_into(out);
  }
  REQUIRE(w.append_event({1'763'000'009'000'000, 86'000'000, EventKind::close, "client closed the connection"}));
  REQUIRE(w.seal(test_key()).value());
  w.drain_into(out);
  CHECK(w.pending().empty());
  CHECK(out == once.bytes);
}

TEST_CASE("a flipped byte in the header is named as record 0", "[audit][recording][tamper]") {
  Built b = build("s-flip", 200, 50);
  b.bytes[kPreambleSize + 12] ^= 0x20;  // inside the session id / gateway id text
  const VerifyResult v = verify_recording(b.bytes, test_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == 0);
  CHECK(v.bad_offset == kPreambleSize);
  CHECK_FALSE(v.torn_tail);
  CHECK(contains(v.reason, "CRC"));
}

TEST_CASE("a flipped byte in a data record body is named as that record", "[audit][recording][tamper]") {
  Built b = build("s-flip", 200, 50);
  const std::vector<Record> records = records_of(b.bytes);
  const Record target = records[120];
  REQUIRE(target.type() == RecordType::data);
  b.bytes[target.offset + 30] ^= 0x01;
  const VerifyResult v = verify_recording(b.bytes, test_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == 120);
  CHECK(v.bad_offset == target.offset);
  CHECK(contains(v.reason, "record 120 at byte " + std::to_string(target.offset)));
}

TEST_CASE("a flipped byte in a record's CRC is named as that record", "[audit][recording][tamper]") {
  Built b = build("s-flip", 200, 50);
  const std::vector<Record> records = records_of(b.bytes);
  const Record target = records[77];
  b.bytes[target.offset + target.frame.size() - 1] ^= 0x80;
  const VerifyResult v = verify_recording(b.bytes, test_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == 77);
}

TEST_CASE("a flipped byte in a seal signature is named as that seal", "[audit][recording][tamper]") {
  Built b = build("s-flip", 200, 50);
  const std::uint64_t seal = b.seal_indices[1];
  const Record target = records_of(b.bytes)[seal];
  REQUIRE(target.type() == RecordType::seal);
  const std::size_t signature_at = target.offset + 4 + 1 + 8 + 32;

  SECTION("with the CRC left as it was") {
    b.bytes[signature_at + 5] ^= 0x04;
    const VerifyResult v = verify_recording(b.bytes, test_key());
    CHECK_FALSE(v.ok);
    REQUIRE(v.first_bad_record);
    CHECK(*v.first_bad_record == seal);
    CHECK(contains(v.reason, "CRC"));
  }
  SECTION("with the CRC recomputed, so only the signature can tell") {
    b.bytes[signature_at + 5] ^= 0x04;
    fix_crc(b.bytes, target);
    const VerifyResult v = verify_recording(b.bytes, test_key());
    CHECK_FALSE(v.ok);
    REQUIRE(v.first_bad_record);
    CHECK(*v.first_bad_record == seal);
    CHECK(contains(v.reason, "signature"));
    CHECK(v.sealed_records == b.seal_indices[0] + 1);  // the first seal still stands
  }
}

TEST_CASE("an edited data record with a recomputed CRC fails the next seal and names its interval",
          "[audit][recording][tamper]") {
  Built b = build("s-edit", 200, 50);
  const std::vector<Record> records = records_of(b.bytes);
  const Record target = records[130];
  REQUIRE(target.type() == RecordType::data);
  b.bytes[target.offset + target.frame.size() - 5] ^= 0x01;  // last payload byte
  fix_crc(b.bytes, target);
  const VerifyResult v = verify_recording(b.bytes, test_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  // Records 103..152 lie between the seals at 102 and 153: the chain proves one of them changed.
  CHECK(*v.first_bad_record == last_seal_before(b.seal_indices, 130));
  CHECK(*v.first_bad_record <= 130);
  CHECK(v.sealed_records == *v.first_bad_record);
  CHECK(contains(v.reason, "chain head does not match"));
}

TEST_CASE("a record deleted from the middle is detected", "[audit][recording][tamper]") {
  const Built b = build("s-delete", 200, 50);
  const std::vector<Record> records = records_of(b.bytes);
  const Record target = records[100];
  REQUIRE(target.type() == RecordType::data);
  const VerifyResult v = verify_recording(without(b.bytes, target.offset, target.frame.size()), test_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == last_seal_before(b.seal_indices, 100));
  CHECK(contains(v.reason, "deleted or inserted"));
}

TEST_CASE("a deleted seal record is detected", "[audit][recording][tamper]") {
  const Built b = build("s-delete", 200, 50);
  const Record seal = records_of(b.bytes)[b.seal_indices[1]];
  const VerifyResult v = verify_recording(without(b.bytes, seal.offset, seal.frame.size()), test_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == b.seal_indices[0] + 1);
}

TEST_CASE("two records swapped in place are detected", "[audit][recording][tamper]") {
  Built b = build("s-swap", 200, 50);
  const std::vector<Record> records = records_of(b.bytes);
  const Record first = records[60];
  const Record second = records[61];
  Bytes swapped(b.bytes.begin(), b.bytes.begin() + static_cast<std::ptrdiff_t>(first.offset));
  swapped.insert(swapped.end(), second.frame.begin(), second.frame.end());
  swapped.insert(swapped.end(), first.frame.begin(), first.frame.end());
  swapped.insert(swapped.end(), b.bytes.begin() + static_cast<std::ptrdiff_t>(second.offset + second.frame.size()),
                 b.bytes.end());
  REQUIRE(swapped.size() == b.bytes.size());
  const VerifyResult v = verify_recording(swapped, test_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == last_seal_before(b.seal_indices, 60));
  CHECK(contains(v.reason, "reordered"));
}

TEST_CASE("a file cut inside a record reports a torn tail, not tampering, and keeps what came before",
          "[audit][recording][torn]") {
  const Built b = build("s-torn", 200, 50);
  const std::vector<Record> records = records_of(b.bytes);
  const Record cut_at = records[180];
  const Bytes cut(b.bytes.begin(), b.bytes.begin() + static_cast<std::ptrdiff_t>(cut_at.offset + 10));
  const VerifyResult v = verify_recording(cut, test_key());
  CHECK(v.ok);
  CHECK(v.torn_tail);
  CHECK(v.torn_offset == cut_at.offset);
  CHECK_FALSE(v.first_bad_record);
  CHECK(v.total_records == 180);
  CHECK(v.sealed_records == b.seal_indices[2] + 1);
  CHECK_FALSE(v.closed);
  CHECK_FALSE(v.complete());
  CHECK(contains(v.reason, "torn tail"));

  // The reader itself stops at the same place with the same classification.
  RecordingReader reader(cut);
  Record r;
  ReadResult result;
  while ((result = reader.next(r)).status == ReadStatus::ok) {
  }
  CHECK(result.status == ReadStatus::torn);
  CHECK(result.record_index == 180);
  CHECK(result.offset == cut_at.offset);
}

TEST_CASE("a bad CRC on the very last record reads as torn, one earlier as tampering", "[audit][recording][torn]") {
  const Built b = build("s-torn", 20, 5);
  Bytes last_bad = b.bytes;
  last_bad.back() ^= 0xFF;
  CHECK(verify_recording(last_bad, test_key()).torn_tail);
  CHECK_FALSE(verify_recording(last_bad, test_key()).first_bad_record);

  Bytes zero_filled = b.bytes;
  zero_filled.resize(zero_filled.size() + 4096, 0);
  const VerifyResult z = verify_recording(zero_filled, test_key());
  CHECK(z.ok);
  CHECK(z.torn_tail);
  CHECK(z.torn_offset == b.bytes.size());
}

TEST_CASE("a file cut at a record boundary after the last seal reports an unsealed tail", "[audit][recording][torn]") {
  const Built b = build("s-tail", 200, 50);
  const std::vector<Record> records = records_of(b.bytes);
  const std::uint64_t keep = b.seal_indices[2] + 1 + 20;  // 20 records after the third seal
  const Bytes cut(b.bytes.begin(), b.bytes.begin() + static_cast<std::ptrdiff_t>(records[keep].offset));
  const VerifyResult v = verify_recording(cut, test_key());
  CHECK(v.ok);
  CHECK_FALSE(v.torn_tail);
  CHECK_FALSE(v.first_bad_record);
  CHECK(v.total_records == keep);
  CHECK(v.sealed_records == b.seal_indices[2] + 1);
  CHECK(v.unsealed_tail());
  CHECK_FALSE(v.closed);
  CHECK(contains(v.reason, "unsealed tail"));
}

TEST_CASE("every prefix of a recording is a torn or unsealed tail, never tampering", "[audit][recording][torn]") {
  const Built b = build("s-prefix", 6, 2);
  std::uint64_t previous_total = 0;
  for (std::size_t n = 0; n < b.bytes.size(); ++n) {
    const VerifyResult v = verify_recording(std::span<const std::uint8_t>(b.bytes).first(n), test_key());
    INFO("prefix of " << n << " bytes: " << v.reason);
    REQUIRE_FALSE(v.first_bad_record);
    REQUIRE_FALSE(v.complete());
    REQUIRE(v.total_records >= previous_total);
    previous_total = v.total_records;
  }
  CHECK(verify_recording(b.bytes, test_key()).complete());
}

TEST_CASE("another session's header on this file is detected at record 0", "[audit][recording][tamper]") {
  const Built a = build("gw1-000001", 100, 25);
  const Built b = build("gw1-000002", 100, 25);
  const Record header_a = records_of(a.bytes)[0];
  const Record header_b = records_of(b.bytes)[0];
  REQUIRE(header_a.frame.size() == header_b.frame.size());
  Bytes mixed = a.bytes;
  std::copy(header_b.frame.begin(), header_b.frame.end(), mixed.begin() + static_cast<std::ptrdiff_t>(header_a.offset));
  const VerifyResult v = verify_recording(mixed, test_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == 0);
}

TEST_CASE("another session's seals on this file are detected", "[audit][recording][tamper]") {
  const Built a = build("gw1-000001", 100, 25);
  const Built b = build("gw1-000002", 100, 25);
  const std::vector<Record> ra = records_of(a.bytes);
  const std::vector<Record> rb = records_of(b.bytes);
  Bytes mixed = a.bytes;
  for (std::uint64_t s : a.seal_indices) {
    REQUIRE(ra[s].frame.size() == rb[s].frame.size());
    std::copy(rb[s].frame.begin(), rb[s].frame.end(), mixed.begin() + static_cast<std::ptrdiff_t>(ra[s].offset));
  }
  const VerifyResult v = verify_recording(mixed, test_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == 0);
}

TEST_CASE("a whole file of another session fails when the session id is expected", "[audit][recording][tamper]") {
  const Built b = build("gw1-000002", 10, 5);
  CHECK(verify_recording(b.bytes, test_key()).ok);
  const VerifyResult v = verify_recording(b.bytes, test_key(), "gw1-000001");
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == 0);
  CHECK(contains(v.reason, "gw1-000002"));
}

TEST_CASE("a seal moved from another session cannot verify even with a matching chain head",
          "[audit][recording][tamper]") {
  // The signature binds the session id: the same (index, head) signed for session B is
  // not a valid seal for session A.
  const Digest head{};
  const Signature for_b = *test_key().sign(seal_message("session-B", 5, head));
  CHECK(test_key().verify(seal_message("session-B", 5, head), for_b));
  CHECK_FALSE(test_key().verify(seal_message("session-A", 5, head), for_b));
  CHECK_FALSE(test_key().verify(seal_message("session-B", 6, head), for_b));
}

TEST_CASE("a recording checked with another gateway's key fails at the first seal", "[audit][recording][tamper]") {
  const Built b = build("s-key", 40, 10);
  const VerifyResult v = verify_recording(b.bytes, other_key());
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == b.seal_indices[0]);
  CHECK(contains(v.reason, "signature"));
  CHECK(v.sealed_records == 0);
}

TEST_CASE("empty, magic-only, garbage and unknown-version files give clear errors", "[audit][recording]") {
  const Built b = build("s-small", 2, 1);
  struct Case {
    const char* name;
    Bytes bytes;
    const char* reason;
    bool torn;
  };
  Bytes version9 = b.bytes;
  version9[8] = 9;
  Bytes garbage(300);
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<std::uint8_t>(i * 13 + 5);
  Bytes two_headers(b.bytes.begin(), b.bytes.begin() + static_cast<std::ptrdiff_t>(records_of(b.bytes)[1].offset));
  const Record header = records_of(b.bytes)[0];
  two_headers.insert(two_headers.end(), header.frame.begin(), header.frame.end());
  two_headers.push_back(0x00);  // keeps the second header off the final position

  const std::vector<Case> cases = {
      {"empty", {}, "empty file", true},
      {"magic only", Bytes(kRecordingMagic.begin(), kRecordingMagic.end()), "inside the preamble", true},
      {"preamble only", Bytes(b.bytes.begin(), b.bytes.begin() + kPreambleSize), "no header", true},
      {"garbage", garbage, "bad magic", false},
      {"version 9", version9, "version 9", false},
      {"second header", two_headers, "second header", false},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const VerifyResult v = verify_recording(c.bytes, test_key());
    CHECK_FALSE(v.ok);
    CHECK(v.torn_tail == c.torn);
    CHECK(contains(v.reason, c.reason));
    CHECK(v.total_records == 0 + (std::string_view(c.name) == "second header" ? 1u : 0u));
  }
}

TEST_CASE("the reader stays stopped after a bad record and never returns more", "[audit][recording]") {
  Built b = build("s-stop", 10, 5);
  const Record target = records_of(b.bytes)[3];
  b.bytes[target.offset + 8] ^= 0x01;
  RecordingReader reader(b.bytes);
  Record r;
  for (int i = 0; i < 3; ++i) REQUIRE(reader.next(r).status == ReadStatus::ok);
  const ReadResult bad = reader.next(r);
  CHECK(bad.status == ReadStatus::malformed);
  CHECK(bad.record_index == 3);
  CHECK(bad.offset == target.offset);
  CHECK(reader.next(r).status == ReadStatus::malformed);
}

TEST_CASE("a length field over the cap is malformed unless the rest of the file is zeros", "[audit][recording]") {
  const Built b = build("s-len", 3, 3, false);
  Bytes big = b.bytes;
  const std::uint32_t length = static_cast<std::uint32_t>(kMaxRecordLength + 1);
  const Bytes tail = {static_cast<std::uint8_t>(length), static_cast<std::uint8_t>(length >> 8),
                      static_cast<std::uint8_t>(length >> 16), 0x00, 0x02, 0x00};
  big.insert(big.end(), tail.begin(), tail.end());
  const VerifyResult v = verify_recording(big, test_key());
  CHECK_FALSE(v.ok);
  CHECK_FALSE(v.torn_tail);
  REQUIRE(v.first_bad_record);
  CHECK(*v.first_bad_record == records_of(b.bytes).size());
  CHECK(contains(v.reason, "outside 1.."));
}

TEST_CASE("the writer refuses bad input and appends nothing", "[audit][recording]") {
  CHECK(RecordingWriter::start(make_header("")).error() == Error::empty_session_id);
  const std::string long_user(kMaxText + 1, 'u');
  Header h = make_header("s-w");
  h.user = long_user;
  CHECK(RecordingWriter::start(h).error() == Error::field_too_long);
  h = make_header("s-w");
  h.asset_address = long_user;
  CHECK(RecordingWriter::start(h).error() == Error::field_too_long);

  auto w = RecordingWriter::start(make_header("s-w")).value();
  const std::size_t before = w.pending().size();
  const Bytes too_big(kMaxPayload + 1);
  DataRecord d;
  d.payload = too_big;
  CHECK(w.append_data(d).error() == Error::payload_too_large);
  const std::string long_summary(kMaxSummary + 1, 's');
  d.payload = {};
  d.summary = long_summary;
  CHECK(w.append_data(d).error() == Error::field_too_long);
  CHECK(w.pending().size() == before);
  CHECK(w.record_count() == 1);

  const Bytes max_payload(kMaxPayload, 0xAB);
  d.summary = {};
  d.payload = max_payload;
  CHECK(w.append_data(d).value() == 1);

  CHECK(w.seal(test_key()).value());
  CHECK_FALSE(w.seal(test_key()).value());  // nothing new: no second seal
  CHECK(w.append_event({1, 2, EventKind::close, "done"}).value() == 3);
  CHECK(w.closed());
  CHECK(w.append_data(d).error() == Error::recording_closed);
  CHECK(w.append_event({1, 2, EventKind::note, "late"}).error() == Error::recording_closed);
  CHECK(w.seal(test_key()).value());
  CHECK(w.unsealed_records() == 0);

  const AuditKey public_only = *AuditKey::from_public_bytes(test_key().public_bytes());
  auto w2 = RecordingWriter::start(make_header("s-w2")).value();
  CHECK(w2.seal(public_only).error() == Error::key_not_private);

  Bytes out;
  w.drain_into(out);
  const VerifyResult v = verify_recording(out, public_only);
  CHECK(v.complete());
  CHECK(v.total_records == 5);
}
