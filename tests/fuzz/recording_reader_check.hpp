// The property the recording reader fuzzer checks, shared with the corpus replay unit test
// so that CI runs exactly what the fuzzer runs
// (tests/unit/audit/recording_corpus_replay_test.cpp).
//
// For any bytes:
//  - the reader walks records back to back: each ok record starts where the previous one
//    ended, lies inside the input, has the next index, and re-encodes (encode_*) to
//    exactly its frame bytes (the encoding is canonical: one record, one byte string);
//  - the walk stops with end exactly at the end of the input, or with torn / malformed /
//    unsupported_version and a message; the stop is sticky;
//  - verify_recording (with the fixture key that signed the seed corpus) agrees with the
//    walk: ok means nothing bad was named and every record was read; sealed <= total;
//    a named first bad record is one the walk reached;
//  - cutting the last byte off a recording that verified without a torn tail gives a torn
//    tail, never tampering;
//  - the exporters (export_pcap, export_jsonl) succeed exactly when the reader read a
//    header and stopped at the end or at a torn tail; the replay formatter formats every
//    record the reader returned (Modbus payloads go through the codec's decoders).
// ASan/UBSan watch for over-reads on the way.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "audit/export_jsonl.hpp"
#include "audit/export_pcap.hpp"
#include "audit/recording.hpp"
#include "audit/replay.hpp"

namespace conduit::fuzz {

// RFC 8032 seed of the key that signs the seed corpus (and the replay test's fixtures).
inline constexpr std::array<std::uint8_t, 32> kRecordingFuzzSeed = {
    0x43, 0x6f, 0x6e, 0x64, 0x75, 0x69, 0x74, 0x20, 0x72, 0x65, 0x63, 0x6f, 0x72, 0x64, 0x69, 0x6e,
    0x67, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x20, 0x6b, 0x65, 0x79, 0x2c, 0x20, 0x76, 0x31, 0x2e, 0x30};

namespace recording_detail {

using namespace conduit::audit;

inline const AuditKey& fixture_key() {
  static const AuditKey key = *AuditKey::from_private_bytes(kRecordingFuzzSeed);
  return key;
}

inline bool reencodes_to_frame(const Record& record) {
  std::vector<std::uint8_t> again;
  bool encoded = true;
  if (const auto* h = std::get_if<Header>(&record.body)) {
    encoded = encode_header(again, *h).has_value();
  } else if (const auto* d = std::get_if<DataRecord>(&record.body)) {
    encoded = encode_data(again, *d).has_value();
  } else if (const auto* e = std::get_if<EventRecord>(&record.body)) {
    encoded = encode_event(again, *e).has_value();
  } else {
    encode_seal(again, std::get<SealRecord>(record.body));
  }
  if (!encoded || again.size() != record.frame.size()) return false;
  for (std::size_t i = 0; i < again.size(); ++i) {
    if (again[i] != record.frame[i]) return false;
  }
  return true;
}

}  // namespace recording_detail

// True when every property above holds for `input`.
inline bool check_recording_reader(std::span<const std::uint8_t> input) {
  using namespace recording_detail;

  RecordingReader reader(input);
  Record record;
  std::uint64_t count = 0;
  std::size_t expected_offset = kPreambleSize;
  ReadResult r;
  Header header;
  std::optional<std::uint64_t> first_monotonic;
  ReplayOptions show_all;
  show_all.show_seals = true;
  for (;;) {
    r = reader.next(record);
    if (r.status != ReadStatus::ok) break;
    if (count == 0) header = std::get<Header>(record.body);
    if (!first_monotonic) first_monotonic = record_monotonic_us(record);
    if (!format_record(record, header, first_monotonic.value_or(0), show_all)) return false;
    if (record.index != count || r.record_index != count || record.offset != expected_offset) return false;
    if (record.frame.size() < kFrameOverhead + 1 || record.frame.data() != input.data() + record.offset) return false;
    if (record.offset + record.frame.size() > input.size()) return false;
    if ((count == 0) != (record.type() == RecordType::header)) return false;
    if (!reencodes_to_frame(record)) return false;
    expected_offset += record.frame.size();
    ++count;
    if (count > input.size() / (kFrameOverhead + 1)) return false;  // every frame is at least 9 bytes
  }
  if (r.status == ReadStatus::end) {
    if (count == 0 || reader.offset() != input.size() || !r.message.empty()) return false;
  } else {
    if (r.message.empty() || r.offset > input.size()) return false;
  }
  // Sticky.
  const ReadResult again = reader.next(record);
  if (again.status != r.status || again.offset != r.offset) return false;

  const VerifyResult v = verify_recording(input, fixture_key());
  if (v.reason.empty()) return false;
  if (v.sealed_records > v.total_records || v.total_records > count) return false;
  if (v.closed && v.sealed_records == 0) return false;
  if (v.ok) {
    if (v.first_bad_record || v.total_records != count) return false;
    if (v.torn_tail != (r.status == ReadStatus::torn)) return false;
  }
  if (v.first_bad_record) {
    if (v.ok || *v.first_bad_record > count) return false;
  }
  if (v.torn_tail && v.first_bad_record) return false;

  const bool exportable = count > 0 && (r.status == ReadStatus::end || r.status == ReadStatus::torn);
  if (export_pcap(input).has_value() != exportable || export_jsonl(input).has_value() != exportable) return false;

  if (v.ok && !v.torn_tail && !input.empty()) {
    const VerifyResult cut = verify_recording(input.first(input.size() - 1), fixture_key());
    if (!cut.torn_tail || cut.first_bad_record) return false;
  }
  return true;
}

}  // namespace conduit::fuzz
