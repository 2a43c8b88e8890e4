#include "audit/recording.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include <openssl/evp.h>

namespace conduit::audit {

namespace {

constexpr std::string_view kSealContext = "CONDUIT-REC-SEAL-v1";

// The frame cap is sized for the largest data record; the largest header (11 texts at
// their cap and the start time) must stay under it or the reader would refuse it.
static_assert(1 + 11 * (2 + kMaxText) + 8 <= kMaxRecordLength);

// --- little-endian primitives

void put_u8(std::vector<std::uint8_t>& out, std::uint8_t v) { out.push_back(v); }
void put_u16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}
void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_bytes(std::vector<std::uint8_t>& out, const void* data, std::size_t size) {
  // resize + memcpy rather than insert(): GCC 12 reports false -Warray-bounds on
  // vector::insert of small ranges.
  const std::size_t at = out.size();
  out.resize(at + size);
  if (size != 0) std::memcpy(out.data() + at, data, size);
}
void put_text16(std::vector<std::uint8_t>& out, std::string_view text) {
  put_u16(out, static_cast<std::uint16_t>(text.size()));
  put_bytes(out, text.data(), text.size());
}

std::uint32_t get_u32(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// Bounds-checked cursor over one record body. Every read fails softly (returns false and
// stays failed) instead of reading past the end.
class Cursor {
 public:
  explicit Cursor(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}

  bool u8(std::uint8_t& v) noexcept {
    if (!need(1)) return false;
    v = bytes_[at_++];
    return true;
  }
  bool u16(std::uint16_t& v) noexcept {
    if (!need(2)) return false;
    v = static_cast<std::uint16_t>(bytes_[at_] | bytes_[at_ + 1] << 8);
    at_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) noexcept {
    if (!need(4)) return false;
    v = get_u32(bytes_.data() + at_);
    at_ += 4;
    return true;
  }
  bool u64(std::uint64_t& v) noexcept {
    if (!need(8)) return false;
    v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | bytes_[at_ + static_cast<std::size_t>(i)];
    at_ += 8;
    return true;
  }
  bool bytes(std::size_t n, std::span<const std::uint8_t>& v) noexcept {
    if (!need(n)) return false;
    v = bytes_.subspan(at_, n);
    at_ += n;
    return true;
  }
  bool text16(std::size_t cap, std::string_view& v) noexcept {
    std::uint16_t n = 0;
    std::span<const std::uint8_t> raw;
    if (!u16(n) || n > cap || !bytes(n, raw)) return fail();
    v = std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size());
    return true;
  }
  template <std::size_t N>
  bool array(std::array<std::uint8_t, N>& v) noexcept {
    std::span<const std::uint8_t> raw;
    if (!bytes(N, raw)) return false;
    std::copy(raw.begin(), raw.end(), v.begin());
    return true;
  }
  // The body must be consumed exactly: trailing bytes would be a second, unchecked
  // encoding of the same record.
  bool done() const noexcept { return ok_ && at_ == bytes_.size(); }

 private:
  bool need(std::size_t n) noexcept {
    if (!ok_ || n > bytes_.size() - at_) return fail();
    return true;
  }
  bool fail() noexcept { return ok_ = false; }

  std::span<const std::uint8_t> bytes_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

// Frame helpers: begin writes a placeholder length and the type; end patches the length
// and appends the CRC over type + body.
std::size_t begin_frame(std::vector<std::uint8_t>& out, RecordType type) {
  const std::size_t start = out.size();
  put_u32(out, 0);
  put_u8(out, static_cast<std::uint8_t>(type));
  return start;
}
void end_frame(std::vector<std::uint8_t>& out, std::size_t start) {
  const std::size_t length = out.size() - start - 4;
  for (int i = 0; i < 4; ++i) out[start + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(length >> (8 * i));
  put_u32(out, crc32c(std::span<const std::uint8_t>(out).subspan(start + 4, length)));
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

// One digest context per thread, reused: the chain hashes every record.
EVP_MD_CTX* digest_context() noexcept {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return ctx.get();
}

// Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up again on every
// EVP_DigestInit_ex, which cost about a third of the time per record. Never freed: it
// lives as long as the process, like OpenSSL's own provider tables.
const EVP_MD* sha256() noexcept {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
}

Digest sha256_of_two(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  Digest out{};
  EVP_MD_CTX* ctx = digest_context();
  unsigned int size = 0;
  // SHA-256 through the default provider cannot fail short of memory exhaustion; a
  // failure leaves an all-zero digest, which can never match a real seal.
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, a.data(), a.size()) != 1 || EVP_DigestUpdate(ctx, b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &size) != 1) {
    return Digest{};
  }
  return out;
}

std::array<std::uint32_t, 256> make_crc_table() noexcept {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

std::string where(std::uint64_t index, std::uint64_t offset) {
  return "record " + std::to_string(index) + " at byte " + std::to_string(offset);
}

bool all_zero(std::span<const std::uint8_t> bytes) noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// Decodes type + body (CRC already checked). False on any structural error.
bool decode_body(RecordType type, std::span<const std::uint8_t> body, Record& record, std::string& why) {
  Cursor c(body);
  switch (type) {
    case RecordType::header: {
      Header h;
      if (!c.text16(kMaxText, h.session_id) || !c.text16(kMaxText, h.gateway_id) || !c.text16(kMaxText, h.user) ||
          !c.text16(kMaxText, h.device) || !c.text16(kMaxText, h.role) || !c.text16(kMaxText, h.asset) ||
          !c.text16(kMaxText, h.protocol) || !c.text16(kMaxText, h.listener) ||
          !c.text16(kMaxText, h.client_address) || !c.text16(kMaxText, h.asset_address) || !c.u64(h.start_wall_us) ||
          !c.text16(kMaxText, h.policy_version) || !c.done()) {
        why = "header body does not decode";
        return false;
      }
      if (h.session_id.empty()) {
        why = "header has an empty session id";
        return false;
      }
      record.body = h;
      return true;
    }
    case RecordType::data: {
      DataRecord d;
      std::uint8_t direction = 0;
      std::uint8_t decision = 0;
      std::uint32_t payload_size = 0;
      if (!c.u64(d.wall_us) || !c.u64(d.monotonic_us) || !c.u8(direction) || !c.u8(decision) ||
          !c.text16(kMaxRule, d.rule) || !c.text16(kMaxSummary, d.summary) || !c.u32(payload_size) ||
          payload_size > kMaxPayload || !c.bytes(payload_size, d.payload) || !c.done()) {
        why = "data body does not decode";
        return false;
      }
      if (direction > 1 || decision > 2) {
        why = "data record has an unknown direction or decision";
        return false;
      }
      d.direction = static_cast<Direction>(direction);
      d.decision = static_cast<RecordedDecision>(decision);
      record.body = d;
      return true;
    }
    case RecordType::event: {
      EventRecord e;
      std::uint8_t kind = 0;
      if (!c.u64(e.wall_us) || !c.u64(e.monotonic_us) || !c.u8(kind) || !c.text16(kMaxText, e.text) || !c.done()) {
        why = "event body does not decode";
        return false;
      }
      if (kind != static_cast<std::uint8_t>(EventKind::close) && kind != static_cast<std::uint8_t>(EventKind::note)) {
        why = "event record has an unknown kind";
        return false;
      }
      e.kind = static_cast<EventKind>(kind);
      record.body = e;
      return true;
    }
    case RecordType::seal: {
      SealRecord s;
      if (!c.u64(s.covered_index) || !c.array(s.head) || !c.array(s.signature) || !c.done()) {
        why = "seal body does not decode";
        return false;
      }
      record.body = s;
      return true;
    }
  }
  why = "unknown record type";
  return false;
}

}  // namespace

// --- Encoding

void encode_preamble(std::vector<std::uint8_t>& out) {
  put_bytes(out, kRecordingMagic.data(), kRecordingMagic.size());
  put_u16(out, kRecordingVersion);
  put_u16(out, 0);  // flags, reserved
}

Result<void> encode_header(std::vector<std::uint8_t>& out, const Header& h) {
  if (h.session_id.empty()) return Error::empty_session_id;
  for (std::string_view field : {h.session_id, h.gateway_id, h.user, h.device, h.role, h.asset, h.protocol,
                                 h.listener, h.client_address, h.asset_address, h.policy_version}) {
    if (field.size() > kMaxText) return Error::field_too_long;
  }
  const std::size_t start = begin_frame(out, RecordType::header);
  put_text16(out, h.session_id);
  put_text16(out, h.gateway_id);
  put_text16(out, h.user);
  put_text16(out, h.device);
  put_text16(out, h.role);
  put_text16(out, h.asset);
  put_text16(out, h.protocol);
  put_text16(out, h.listener);
  put_text16(out, h.client_address);
  put_text16(out, h.asset_address);
  put_u64(out, h.start_wall_us);
  put_text16(out, h.policy_version);
  end_frame(out, start);
  return {};
}

Result<void> encode_data(std::vector<std::uint8_t>& out, const DataRecord& d) {
  if (d.rule.size() > kMaxRule || d.summary.size() > kMaxSummary) return Error::field_too_long;
  if (d.payload.size() > kMaxPayload) return Error::payload_too_large;
  out.reserve(out.size() + kFrameOverhead + 1 + 8 + 8 + 2 + 2 + d.rule.size() + 2 + d.summary.size() + 4 +
              d.payload.size());
  const std::size_t start = begin_frame(out, RecordType::data);
  put_u64(out, d.wall_us);
  put_u64(out, d.monotonic_us);
  put_u8(out, static_cast<std::uint8_t>(d.direction));
  put_u8(out, static_cast<std::uint8_t>(d.decision));
  put_text16(out, d.rule);
  put_text16(out, d.summary);
  put_u32(out, static_cast<std::uint32_t>(d.payload.size()));
  put_bytes(out, d.payload.data(), d.payload.size());
  end_frame(out, start);
  return {};
}

Result<void> encode_event(std::vector<std::uint8_t>& out, const EventRecord& e) {
  if (e.text.size() > kMaxText) return Error::field_too_long;
  const std::size_t start = begin_frame(out, RecordType::event);
  put_u64(out, e.wall_us);
  put_u64(out, e.monotonic_us);
  put_u8(out, static_cast<std::uint8_t>(e.kind));
  put_text16(out, e.text);
  end_frame(out, start);
  return {};
}

void encode_seal(std::vector<std::uint8_t>& out, const SealRecord& s) {
  const std::size_t start = begin_frame(out, RecordType::seal);
  put_u64(out, s.covered_index);
  put_bytes(out, s.head.data(), s.head.size());
  put_bytes(out, s.signature.data(), s.signature.size());
  end_frame(out, start);
}

// --- Chain and seal

namespace {

std::uint32_t crc32c_table(std::uint32_t crc, std::span<const std::uint8_t> bytes) noexcept {
  static const std::array<std::uint32_t, 256> table = make_crc_table();
  for (std::uint8_t b : bytes) crc = table[(crc ^ b) & 0xFFu] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// SSE4.2 has a CRC-32C instruction: about 10x faster than the table, which matters
// because every record of every session is checksummed on the data path.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc,
                                                              std::span<const std::uint8_t> bytes) noexcept {
  const std::uint8_t* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);  // little-endian load, as the instruction expects
    c = __builtin_ia32_crc32di(c, word);
  }
  std::uint32_t c32 = static_cast<std::uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = __builtin_ia32_crc32qi(c32, *p);
  return c32;
}
#endif

}  // namespace

std::uint32_t crc32c_portable(std::span<const std::uint8_t> bytes) noexcept {
  return crc32c_table(0xFFFFFFFFu, bytes) ^ 0xFFFFFFFFu;
}

std::uint32_t crc32c(std::span<const std::uint8_t> bytes) noexcept {
#if defined(__x86_64__)
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return crc32c_sse42(0xFFFFFFFFu, bytes) ^ 0xFFFFFFFFu;
#endif
  return crc32c_table(0xFFFFFFFFu, bytes) ^ 0xFFFFFFFFu;
}

Digest chain_start(std::span<const std::uint8_t> preamble, std::span<const std::uint8_t> header_frame) noexcept {
  return sha256_of_two(preamble, header_frame);
}

Digest chain_next(const Digest& previous, std::span<const std::uint8_t> frame) noexcept {
  return sha256_of_two(previous, frame);
}

std::vector<std::uint8_t> seal_message(std::string_view session_id, std::uint64_t covered_index, const Digest& head) {
  std::vector<std::uint8_t> message;
  message.reserve(kSealContext.size() + 2 + session_id.size() + 8 + head.size());
  put_bytes(message, kSealContext.data(), kSealContext.size());
  put_text16(message, session_id.substr(0, kMaxText));
  put_u64(message, covered_index);
  put_bytes(message, head.data(), head.size());
  return message;
}

// --- Writer

Result<RecordingWriter> RecordingWriter::start(const Header& header) {
  RecordingWriter writer;
  encode_preamble(writer.buffer_);
  if (Result<void> r = encode_header(writer.buffer_, header); !r) return r.error();
  const std::span<const std::uint8_t> bytes(writer.buffer_);
  writer.chain_ = chain_start(bytes.first(kPreambleSize), bytes.subspan(kPreambleSize));
  writer.session_id_ = std::string(header.session_id);
  writer.next_index_ = 1;
  return writer;
}

void RecordingWriter::chain_last_frame(std::size_t frame_start) noexcept {
  chain_ = chain_next(chain_, std::span<const std::uint8_t>(buffer_).subspan(frame_start));
  ++next_index_;
}

Result<std::uint64_t> RecordingWriter::append_data(const DataRecord& record) {
  if (closed_) return Error::recording_closed;
  const std::size_t start = buffer_.size();
  if (Result<void> r = encode_data(buffer_, record); !r) return r.error();
  const std::uint64_t index = next_index_;
  chain_last_frame(start);
  return index;
}

Result<std::uint64_t> RecordingWriter::append_event(const EventRecord& record) {
  if (closed_) return Error::recording_closed;
  const std::size_t start = buffer_.size();
  if (Result<void> r = encode_event(buffer_, record); !r) return r.error();
  const std::uint64_t index = next_index_;
  chain_last_frame(start);
  if (record.kind == EventKind::close) closed_ = true;
  return index;
}

Result<bool> RecordingWriter::seal(const AuditKey& key) {
  if (sealed_records_ == next_index_) return false;
  SealRecord s;
  s.covered_index = next_index_ - 1;
  s.head = chain_;
  Result<Signature> signature = key.sign(seal_message(session_id_, s.covered_index, s.head));
  // result<bool> cannot be built from an error_code implicitly (error_code converts to bool).
  if (!signature) return Result<bool>(boost::system::in_place_error, signature.error());
  s.signature = *signature;
  const std::size_t start = buffer_.size();
  encode_seal(buffer_, s);
  chain_last_frame(start);
  sealed_records_ = next_index_;
  return true;
}

void RecordingWriter::drain_into(std::vector<std::uint8_t>& out) {
  if (out.empty()) {
    out.swap(buffer_);
  } else {
    put_bytes(out, buffer_.data(), buffer_.size());
  }
  buffer_.clear();
}

// --- Reader

ReadResult RecordingReader::fail(ReadStatus status, std::string message) {
  ReadResult r{status, index_, offset_, std::move(message)};
  stopped_ = r;
  return r;
}

ReadResult RecordingReader::next(Record& record) {
  if (stopped_) return *stopped_;

  if (!started_) {
    const std::size_t have = std::min(bytes_.size(), kPreambleSize);
    if (bytes_.empty()) return fail(ReadStatus::torn, "empty file: no recording preamble");
    if (!std::equal(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(std::min(have, kRecordingMagic.size())),
                    kRecordingMagic.begin())) {
      return fail(ReadStatus::malformed, "not a Conduit recording: bad magic at byte 0");
    }
    if (have < kPreambleSize) {
      return fail(ReadStatus::torn, "file ends inside the preamble (" + std::to_string(have) + " of " +
                                        std::to_string(kPreambleSize) + " bytes)");
    }
    const unsigned version = bytes_[8] | bytes_[9] << 8;
    const unsigned flags = bytes_[10] | bytes_[11] << 8;
    if (version != kRecordingVersion) {
      return fail(ReadStatus::unsupported_version,
                  "recording format version " + std::to_string(version) + " (this build reads version " +
                      std::to_string(kRecordingVersion) + ")");
    }
    if (flags != 0) return fail(ReadStatus::malformed, "preamble flags " + std::to_string(flags) + " are reserved");
    started_ = true;
    offset_ = kPreambleSize;
  }

  const std::size_t remaining = bytes_.size() - offset_;
  if (remaining == 0) {
    if (index_ == 0) return fail(ReadStatus::torn, "file ends after the preamble: no header record");
    return fail(ReadStatus::end, {});
  }
  const std::span<const std::uint8_t> rest = bytes_.subspan(offset_);
  if (remaining < 4) {
    return fail(ReadStatus::torn, where(index_, offset_) + ": file ends inside the length field (" +
                                      std::to_string(remaining) + " bytes left)");
  }
  const std::uint32_t length = get_u32(rest.data());
  if (length == 0 || length > kMaxRecordLength) {
    // A torn append leaves a prefix of a valid frame, or (after a crash on some file
    // systems) zero-filled blocks; a complete length field over the cap is neither.
    if (all_zero(rest)) {
      return fail(ReadStatus::torn, where(index_, offset_) + ": " + std::to_string(remaining) +
                                        " zero bytes at the end of the file (unwritten blocks)");
    }
    return fail(ReadStatus::malformed, where(index_, offset_) + ": length " + std::to_string(length) +
                                           " is outside 1.." + std::to_string(kMaxRecordLength));
  }
  const std::size_t frame_size = kFrameOverhead + length;
  if (frame_size > remaining) {
    return fail(ReadStatus::torn, where(index_, offset_) + ": declares " + std::to_string(frame_size) +
                                      " bytes but the file ends after " + std::to_string(remaining));
  }
  const std::span<const std::uint8_t> frame = rest.first(frame_size);
  const std::span<const std::uint8_t> typed = frame.subspan(4, length);
  const std::uint32_t stored_crc = get_u32(frame.data() + 4 + length);
  if (crc32c(typed) != stored_crc) {
    if (frame_size == remaining) {
      return fail(ReadStatus::torn, where(index_, offset_) + ": CRC mismatch on the final record (a write cut short)");
    }
    return fail(ReadStatus::malformed, where(index_, offset_) + ": CRC mismatch");
  }
  const std::uint8_t type = typed[0];
  if (type < static_cast<std::uint8_t>(RecordType::header) || type > static_cast<std::uint8_t>(RecordType::seal)) {
    return fail(ReadStatus::malformed, where(index_, offset_) + ": unknown record type " + std::to_string(type));
  }
  if ((index_ == 0) != (type == static_cast<std::uint8_t>(RecordType::header))) {
    return fail(ReadStatus::malformed, where(index_, offset_) + (index_ == 0 ? ": the first record is not a header"
                                                                             : ": a second header record"));
  }
  std::string why;
  if (!decode_body(static_cast<RecordType>(type), typed.subspan(1), record, why)) {
    return fail(ReadStatus::malformed, where(index_, offset_) + ": " + why);
  }
  record.index = index_;
  record.offset = offset_;
  record.frame = frame;
  ReadResult result{ReadStatus::ok, index_, offset_, {}};
  ++index_;
  offset_ += frame_size;
  return result;
}

// --- Verifier

VerifyResult verify_recording(std::span<const std::uint8_t> bytes, const AuditKey& public_key,
                              std::string_view expected_session_id) {
  VerifyResult v;
  RecordingReader reader(bytes);
  Record record;

  const auto tampered = [&v](std::uint64_t first_bad, std::uint64_t offset, std::string reason) {
    v.ok = false;
    v.first_bad_record = first_bad;
    v.bad_offset = offset;
    v.reason = std::move(reason);
    return v;
  };

  ReadResult r = reader.next(record);
  if (r.status != ReadStatus::ok) {
    v.torn_tail = r.status == ReadStatus::torn;
    v.torn_offset = v.torn_tail ? r.offset : 0;
    v.reason = r.message;
    if (r.status == ReadStatus::malformed && r.offset >= kPreambleSize) return tampered(0, r.offset, r.message);
    return v;
  }
  const Header& header = std::get<Header>(record.body);
  v.session_id = std::string(header.session_id);
  if (!expected_session_id.empty() && header.session_id != expected_session_id) {
    return tampered(0, record.offset,
                    "record 0 at byte " + std::to_string(record.offset) + ": the file holds session " +
                        v.session_id + ", expected " + std::string(expected_session_id));
  }
  Digest chain = chain_start(reader.preamble(), record.frame);
  v.total_records = 1;
  bool close_seen = false;

  for (;;) {
    r = reader.next(record);
    if (r.status == ReadStatus::end) break;
    if (r.status == ReadStatus::torn) {
      v.torn_tail = true;
      v.torn_offset = r.offset;
      break;
    }
    if (r.status != ReadStatus::ok) return tampered(r.record_index, r.offset, r.message);

    const std::uint64_t i = record.index;
    if (const auto* seal = std::get_if<SealRecord>(&record.body)) {
      // Seals cover everything before them (the writer never seals part of what it has);
      // what a failing seal proves is that some record since the previous good seal is
      // not what was signed, so the first untrusted record is the one after that seal.
      const std::uint64_t suspect = v.sealed_records;
      const std::string span_text = "records " + std::to_string(suspect) + ".." + std::to_string(i - 1);
      if (seal->covered_index != i - 1) {
        return tampered(suspect, record.offset,
                        where(i, record.offset) + ": seal covers up to record " +
                            std::to_string(seal->covered_index) + " but follows record " + std::to_string(i - 1) +
                            ": records were deleted or inserted among " + span_text);
      }
      if (seal->head != chain) {
        return tampered(suspect, record.offset,
                        where(i, record.offset) + ": chain head does not match the seal: one of " + span_text +
                            " was altered, removed, inserted or reordered");
      }
      if (!public_key.verify(seal_message(v.session_id, seal->covered_index, seal->head), seal->signature)) {
        return tampered(i, record.offset,
                        where(i, record.offset) +
                            ": seal signature does not verify with this audit key (wrong key, or a forged seal)");
      }
      chain = chain_next(chain, record.frame);
      ++v.total_records;
      v.sealed_records = v.total_records;
      v.closed = close_seen;
      continue;
    }
    if (close_seen) {
      return tampered(i, record.offset, where(i, record.offset) + ": record after the close event");
    }
    if (const auto* event = std::get_if<EventRecord>(&record.body); event != nullptr && event->kind == EventKind::close) {
      close_seen = true;
    }
    chain = chain_next(chain, record.frame);
    ++v.total_records;
  }

  v.ok = true;
  v.reason = std::to_string(v.total_records) + " records, " + std::to_string(v.sealed_records) + " sealed";
  if (v.sealed_records < v.total_records) {
    v.reason += "; unsealed tail: records " + std::to_string(v.sealed_records) + ".." +
                std::to_string(v.total_records - 1) + " follow the last seal and are not proven";
  }
  if (v.torn_tail) v.reason += "; torn tail: " + r.message;
  v.reason += v.closed ? "; closed" : "; no sealed close event (session ended abnormally or file cut short)";
  return v;
}

}  // namespace conduit::audit
