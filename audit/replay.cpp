#include "audit/replay.hpp"

#include <cmath>
#include <cstdio>
#include <thread>

#include "audit/replay_modbus.hpp"
#include "common/hex.hpp"

namespace conduit::audit {

namespace {

constexpr std::uint64_t kUsPerSecond = 1'000'000;
constexpr std::uint64_t kUsPerDay = 86'400 * kUsPerSecond;

// Replay writes to a terminal: C0 controls, DEL and the UTF-8 encodings of C1 controls
// (U+0080..U+009F, which some terminals honour as escape sequences) become '.'.
std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      out += '.';
    } else if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      out += '.';
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string or_dash(std::string_view text) { return text.empty() ? "-" : terminal_safe(text); }

// Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil inverse), valid for
// every u64 µs value, unlike gmtime on a 32-bit or clamped time_t.
void civil_from_days(std::int64_t days, std::int64_t& y, unsigned& m, unsigned& d) {
  days += 719468;
  const std::int64_t era = days / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

// "10:00:01.234" (UTC, milliseconds truncated).
std::string time_of_day(std::uint64_t wall_us) {
  const std::uint64_t in_day = wall_us % kUsPerDay;
  const std::uint64_t s = in_day / kUsPerSecond;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02u:%02u:%02u.%03u", static_cast<unsigned>(s / 3600),
                static_cast<unsigned>(s / 60 % 60), static_cast<unsigned>(s % 60),
                static_cast<unsigned>(in_day % kUsPerSecond / 1000));
  return buf;
}

// "2025-11-13 02:13:20.123456 UTC".
std::string date_time(std::uint64_t wall_us) {
  std::int64_t y = 0;
  unsigned m = 0;
  unsigned d = 0;
  civil_from_days(static_cast<std::int64_t>(wall_us / kUsPerDay), y, m, d);
  const std::uint64_t in_day = wall_us % kUsPerDay;
  const std::uint64_t s = in_day / kUsPerSecond;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02u:%02u:%02u.%06u UTC", static_cast<long long>(y), m, d,
                static_cast<unsigned>(s / 3600), static_cast<unsigned>(s / 60 % 60), static_cast<unsigned>(s % 60),
                static_cast<unsigned>(in_day % kUsPerSecond));
  return buf;
}

// "+1.234s" / "-0.500s": monotonic time since the first record, milliseconds truncated.
std::string since_first(std::uint64_t monotonic_us, std::uint64_t first_us) {
  const bool behind = monotonic_us < first_us;
  const std::uint64_t diff = behind ? first_us - monotonic_us : monotonic_us - first_us;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%llu.%03us", behind ? '-' : '+',
                static_cast<unsigned long long>(diff / kUsPerSecond),
                static_cast<unsigned>(diff % kUsPerSecond / 1000));
  return buf;
}

std::string prefix(std::uint64_t wall_us, std::uint64_t monotonic_us, std::uint64_t first_us) {
  return time_of_day(wall_us) + "  " + since_first(monotonic_us, first_us) + "  ";
}

// `12 bytes "GET / HTTP..."`
std::string preview(std::span<const std::uint8_t> payload, std::size_t limit) {
  std::string out = std::to_string(payload.size()) + (payload.size() == 1 ? " byte" : " bytes");
  if (payload.empty() || limit == 0) return out;
  out += " \"";
  for (std::size_t i = 0; i < payload.size() && i < limit; ++i) {
    const std::uint8_t c = payload[i];
    out += c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '.';
  }
  if (payload.size() > limit) out += "...";
  out += '"';
  return out;
}

// The protocols whose payloads replay can decode, by the header's protocol name; any other
// (a raw tunnel) is shown as bytes.
struct PayloadDecoder {
  std::string_view protocol;
  std::optional<std::string> (*request)(std::span<const std::uint8_t>);
  std::optional<std::string> (*response)(std::span<const std::uint8_t>);
};
constexpr PayloadDecoder kDecoders[] = {
    {"modbus", describe_modbus_request, describe_modbus_response},
};

const PayloadDecoder* decoder_for(std::string_view protocol) {
  for (const PayloadDecoder& decoder : kDecoders) {
    if (decoder.protocol == protocol) return &decoder;
  }
  return nullptr;
}

std::string data_line(const DataRecord& d, const Header& header, const ReplayOptions& options) {
  std::string out = d.direction == Direction::client_to_asset ? "→  " : "←  ";
  if (d.decision == RecordedDecision::allow) {
    out += "allow" + (d.rule.empty() ? std::string() : " " + terminal_safe(d.rule)) + "  ";
  } else if (d.decision == RecordedDecision::deny) {
    out += "DENY" + (d.rule.empty() ? std::string() : "  " + terminal_safe(d.rule)) + "  ";
  }
  if (const PayloadDecoder* decoder = decoder_for(header.protocol)) {
    std::optional<std::string> text =
        d.direction == Direction::client_to_asset ? decoder->request(d.payload) : decoder->response(d.payload);
    if (text) return out + *text;
    if (!d.summary.empty()) return out + terminal_safe(d.summary);
    return out + preview(d.payload, options.preview_bytes);
  }
  out += preview(d.payload, options.preview_bytes);
  if (!d.summary.empty()) out += "  " + terminal_safe(d.summary);
  return out;
}

}  // namespace

std::string format_header(const Header& h) {
  return "session   " + or_dash(h.session_id) + " on gateway " + or_dash(h.gateway_id) + ", policy " +
         or_dash(h.policy_version) + "\n" +
         "user      " + or_dash(h.user) + ", device " + or_dash(h.device) + ", role " + or_dash(h.role) + "\n" +
         "asset     " + or_dash(h.asset) + ", protocol " + or_dash(h.protocol) + ", listener " + or_dash(h.listener) +
         "\n" +
         "client    " + or_dash(h.client_address) + " → asset " + or_dash(h.asset_address) + "\n" +
         "started   " + date_time(h.start_wall_us) + "; times below: UTC, then seconds since the first record";
}

std::optional<std::string> format_record(const Record& record, const Header& header, std::uint64_t first_monotonic_us,
                                         const ReplayOptions& options) {
  if (const auto* h = std::get_if<Header>(&record.body)) return format_header(*h);
  if (const auto* d = std::get_if<DataRecord>(&record.body)) {
    return prefix(d->wall_us, d->monotonic_us, first_monotonic_us) + data_line(*d, header, options);
  }
  if (const auto* e = std::get_if<EventRecord>(&record.body)) {
    return prefix(e->wall_us, e->monotonic_us, first_monotonic_us) +
           (e->kind == EventKind::close ? "=== closed: " : "--- note: ") + terminal_safe(e->text);
  }
  if (!options.show_seals) return std::nullopt;
  const auto& s = std::get<SealRecord>(record.body);
  return "~~~ seal: records 0.." + std::to_string(s.covered_index) + ", chain head " +
         common::hex_encode(std::span<const std::uint8_t>(s.head).first(8)) + "...";
}

std::optional<std::uint64_t> record_monotonic_us(const Record& record) noexcept {
  if (const auto* d = std::get_if<DataRecord>(&record.body)) return d->monotonic_us;
  if (const auto* e = std::get_if<EventRecord>(&record.body)) return e->monotonic_us;
  return std::nullopt;
}

std::chrono::microseconds replay_delay(std::uint64_t previous_us, std::uint64_t current_us, double speed,
                                       std::chrono::microseconds max_gap) noexcept {
  if (!(speed > 0) || current_us <= previous_us || max_gap.count() <= 0) return std::chrono::microseconds(0);
  // In double: a gap of hours divided by a small speed must not overflow before the cap.
  const double scaled = static_cast<double>(current_us - previous_us) / speed;
  if (!(scaled < static_cast<double>(max_gap.count()))) return max_gap;
  return std::chrono::microseconds(static_cast<std::int64_t>(scaled));
}

ReplayPacer::ReplayPacer(double speed, std::chrono::microseconds max_gap, ReplaySleeper sleep)
    : speed_(speed), max_gap_(max_gap), sleep_(std::move(sleep)) {
  if (!sleep_) sleep_ = [](std::chrono::microseconds d) { std::this_thread::sleep_for(d); };
}

std::chrono::microseconds ReplayPacer::wait_before(const Record& record) {
  const std::optional<std::uint64_t> now = record_monotonic_us(record);
  if (!now) return std::chrono::microseconds(0);
  const std::chrono::microseconds delay =
      previous_us_ ? replay_delay(*previous_us_, *now, speed_, max_gap_) : std::chrono::microseconds(0);
  previous_us_ = now;
  if (delay.count() > 0) sleep_(delay);
  return delay;
}

}  // namespace conduit::audit
