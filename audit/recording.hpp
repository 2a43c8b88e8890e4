// Session recording files: encoder/writer, reader and verifier (audit/FORMAT.md, v1).
//
// One append-only file per session: a preamble, a header record, then data, event and
// seal records, each framed [u32 length][u8 type][body][u32 CRC-32C], little-endian. A
// SHA-256 chain runs over the records and seal records carry the chain head signed with
// the gateway's Ed25519 audit key (audit_key.hpp).
//
// Pure library code: no I/O, no clocks, no threads, no logging. The caller supplies
// timestamps and decides when to seal (every few seconds and at close) and where the
// bytes go (RecordingWriter::drain_into).
//
// Errors:
//  - writer: Result<T> (boost::system::result) with audit::Error for caller mistakes
//    (over-long fields, data after close). A failed call appends nothing.
//  - reader and verifier: untrusted input. They never throw for bad bytes, never read
//    outside the span, and report a status plus a message naming the record index and
//    byte offset. A partially written last record ("torn tail") is reported as such, not
//    as tampering.
//
// Views: Header/DataRecord/EventRecord hold string_views and spans. For the writer they
// point at caller data that only needs to live for the call; for the reader they point
// into the input bytes, which must outlive the records.
//
// Thread-safety: one RecordingWriter or RecordingReader per thread (no internal locks);
// the free functions are thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "audit/audit_key.hpp"

namespace conduit::audit {

// FORMAT.md §1: preamble.
inline constexpr std::array<std::uint8_t, 8> kRecordingMagic = {0x89, 'C', 'N', 'D', 'R', 'E', 'C', 0x0A};
inline constexpr std::uint16_t kRecordingVersion = 1;
inline constexpr std::size_t kPreambleSize = 12;  // magic, u16 version, u16 flags (0)

// FORMAT.md §3: caps. The reader refuses anything larger.
inline constexpr std::size_t kMaxText = 1024;       // each header field, event text
inline constexpr std::size_t kMaxRule = 256;        // rule id of a data record
inline constexpr std::size_t kMaxSummary = 4096;    // decoded summary of a data record
inline constexpr std::size_t kMaxPayload = 65536;   // payload bytes of one data record
// Largest type+body: a data record with every field at its cap.
inline constexpr std::size_t kMaxRecordLength = 1 + 8 + 8 + 1 + 1 + (2 + kMaxRule) + (2 + kMaxSummary) + (4 + kMaxPayload);
inline constexpr std::size_t kFrameOverhead = 4 + 4;  // length field + CRC
inline constexpr std::size_t kDigestSize = 32;

using Digest = std::array<std::uint8_t, kDigestSize>;

enum class RecordType : std::uint8_t { header = 1, data = 2, event = 3, seal = 4 };
enum class Direction : std::uint8_t { client_to_asset = 0, asset_to_client = 1 };
// What the policy said about this record: `none` for bytes that were not evaluated
// (responses, raw tunnel traffic), `allow` / `deny` with the rule that decided.
enum class RecordedDecision : std::uint8_t { none = 0, allow = 1, deny = 2 };
enum class EventKind : std::uint8_t { close = 1, note = 2 };

struct Header {
  std::string_view session_id;  // non-empty
  std::string_view gateway_id;
  std::string_view user;
  std::string_view device;
  std::string_view role;
  std::string_view asset;
  std::string_view protocol;
  std::string_view listener;
  // "IP:port" of each end as the gateway saw it ("[::1]:502" for IPv6); may be empty.
  // Exports (export_pcap.hpp) rebuild the conversation from them.
  std::string_view client_address;
  std::string_view asset_address;
  std::uint64_t start_wall_us = 0;  // µs since the Unix epoch
  std::string_view policy_version;
};

struct DataRecord {
  std::uint64_t wall_us = 0;       // µs since the Unix epoch
  std::uint64_t monotonic_us = 0;  // µs on the gateway's steady clock
  Direction direction = Direction::client_to_asset;
  RecordedDecision decision = RecordedDecision::none;
  std::string_view rule;     // empty when decision is none
  std::string_view summary;  // decoded summary where the protocol is understood; may be empty
  std::span<const std::uint8_t> payload;
};

struct EventRecord {
  std::uint64_t wall_us = 0;
  std::uint64_t monotonic_us = 0;
  EventKind kind = EventKind::note;
  std::string_view text;  // for close: the end reason
};

struct SealRecord {
  std::uint64_t covered_index = 0;  // index of the last record the seal covers
  Digest head{};                    // chain value after that record
  Signature signature{};
};

// --- Encoding (FORMAT.md §2-§4). Each appends one complete frame, or nothing on error.

void encode_preamble(std::vector<std::uint8_t>& out);
Result<void> encode_header(std::vector<std::uint8_t>& out, const Header& header);
Result<void> encode_data(std::vector<std::uint8_t>& out, const DataRecord& record);
Result<void> encode_event(std::vector<std::uint8_t>& out, const EventRecord& record);
void encode_seal(std::vector<std::uint8_t>& out, const SealRecord& record);

// --- Chain and seal (FORMAT.md §5).

// CRC-32C (Castagnoli, reflected 0x82F63B78), as in iSCSI and ext4.
// Uses the SSE4.2 instruction where the CPU has it, else crc32c_portable (a table).
std::uint32_t crc32c(std::span<const std::uint8_t> bytes) noexcept;
std::uint32_t crc32c_portable(std::span<const std::uint8_t> bytes) noexcept;
// chain_0 = SHA-256(preamble || header frame); chain_i = SHA-256(chain_{i-1} || frame_i).
Digest chain_start(std::span<const std::uint8_t> preamble, std::span<const std::uint8_t> header_frame) noexcept;
Digest chain_next(const Digest& previous, std::span<const std::uint8_t> frame) noexcept;
// The bytes a seal signs: "CONDUIT-REC-SEAL-v1" || u16 len || session id || u64 index || head.
std::vector<std::uint8_t> seal_message(std::string_view session_id, std::uint64_t covered_index, const Digest& head);

// --- Writer.

// Keeps the running chain and appends frames to an internal buffer that the caller
// drains (drain_into) and makes durable. Move-only; one thread at a time.
class RecordingWriter {
 public:
  // Appends the preamble and the header record (index 0).
  static Result<RecordingWriter> start(const Header& header);

  // Append one record; returns its index.
  Result<std::uint64_t> append_data(const DataRecord& record);
  // An event of kind close ends the recording: afterwards only seal() is accepted.
  Result<std::uint64_t> append_event(const EventRecord& record);

  // Appends a seal over every record so far. Returns false (and appends nothing) when
  // the last record is already a seal, so a periodic timer may call it freely.
  Result<bool> seal(const AuditKey& key);

  std::span<const std::uint8_t> pending() const noexcept { return buffer_; }
  // Appends the pending bytes to `out` and empties the internal buffer.
  void drain_into(std::vector<std::uint8_t>& out);

  std::uint64_t record_count() const noexcept { return next_index_; }
  std::uint64_t unsealed_records() const noexcept { return next_index_ - sealed_records_; }
  const Digest& chain_head() const noexcept { return chain_; }
  bool closed() const noexcept { return closed_; }

 private:
  RecordingWriter() = default;
  void chain_last_frame(std::size_t frame_start) noexcept;

  std::vector<std::uint8_t> buffer_;
  std::string session_id_;
  Digest chain_{};
  std::uint64_t next_index_ = 0;
  std::uint64_t sealed_records_ = 0;
  bool closed_ = false;
};

// --- Reader.

enum class ReadStatus : std::uint8_t {
  ok,                   // `record` holds the next record
  end,                  // clean end of input at a record boundary
  torn,                 // the input ends inside a record (or the final record's CRC is bad)
  malformed,            // bad magic, bad CRC before the end, bad body, header misplaced
  unsupported_version,  // a Conduit recording of a version this build cannot read
};

struct ReadResult {
  ReadStatus status = ReadStatus::ok;
  std::uint64_t record_index = 0;  // the record being read (ok: the one returned)
  std::uint64_t offset = 0;        // its byte offset in the input
  std::string message;             // empty for ok and end; otherwise names index and offset
};

struct Record {
  std::uint64_t index = 0;
  std::uint64_t offset = 0;
  std::span<const std::uint8_t> frame;  // length field through CRC, as chained
  std::variant<Header, DataRecord, EventRecord, SealRecord> body;

  RecordType type() const noexcept { return static_cast<RecordType>(body.index() + 1); }
};

// A pull parser over bytes already in memory. The first next() checks the preamble and
// returns the header (index 0); later calls return the following records. After any
// status other than ok the same status is returned again.
class RecordingReader {
 public:
  explicit RecordingReader(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}

  ReadResult next(Record& record);

  std::span<const std::uint8_t> preamble() const noexcept { return bytes_.first(bytes_.size() < kPreambleSize ? bytes_.size() : kPreambleSize); }
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  ReadResult fail(ReadStatus status, std::string message);

  std::span<const std::uint8_t> bytes_;
  std::size_t offset_ = 0;
  std::uint64_t index_ = 0;
  bool started_ = false;
  std::optional<ReadResult> stopped_;
};

// --- Verifier (FORMAT.md §6).

struct VerifyResult {
  bool ok = false;                  // header read, and no record contradicts CRC, chain, seals or signatures
  std::uint64_t total_records = 0;  // complete records read before reading stopped (header and seals included)
  std::uint64_t sealed_records = 0; // records 0..n-1 covered by the last valid seal (that seal included)
  bool closed = false;              // a close event is among the sealed records
  bool torn_tail = false;           // the input ends inside a record: a write cut short
  std::uint64_t torn_offset = 0;
  std::optional<std::uint64_t> first_bad_record;  // first record that cannot be trusted
  std::uint64_t bad_offset = 0;
  std::string session_id;
  std::string reason;  // one line a person can read, also when ok

  // Records after the last seal, or a torn write: the end of the session is not proven.
  bool unsealed_tail() const noexcept { return sealed_records < total_records || torn_tail; }
  // Everything sealed, session closed, nothing torn.
  bool complete() const noexcept { return ok && closed && !unsealed_tail(); }
};

// Checks every record. `public_key` is the gateway's audit key (public part suffices).
// When `expected_session_id` is not empty, a file holding another session (two files
// swapped) fails at record 0.
VerifyResult verify_recording(std::span<const std::uint8_t> bytes, const AuditKey& public_key,
                              std::string_view expected_session_id = {});

}  // namespace conduit::audit
