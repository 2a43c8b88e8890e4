// A readable timeline of a session recording, for `conduit replay` (FORMAT.md for the
// records; Teleport's player for the idea: delays from the recorded monotonic times, a
// speed factor, an injected sleeper).
//
// One line per record, no trailing newline:
//
//   10:00:01.234  +1.234s  →  allow technicians-press-1  unit 1 fc 6 write holding_registers 100 = 1200
//   10:00:01.236  +1.236s  ←  unit 1 fc 6 echo holding_registers 100 = 1200
//   10:00:02.001  +2.001s  →  DENY  default-deny  unit 1 fc 6 write holding_registers 5 = 7
//   10:00:02.003  +2.003s  ←  exception 01 illegal function
//   10:00:02.500  +2.500s  →  29 bytes "GET / HTTP/1.1..Host: plc...."    (another protocol)
//   10:00:03.000  +3.000s  --- note: policy reloaded
//   10:00:04.000  +4.000s  === closed: client closed the connection
//
// The first column is the record's wall time in UTC (time of day, ms; the header block
// has the date), the second the record's monotonic time minus the first record's, so a
// clock step on the gateway does not bend the timeline. → is client to asset, ← asset to
// client. Modbus payloads (header protocol "modbus") are decoded (replay_modbus.hpp),
// falling back to the recorded summary when the bytes do not frame; other protocols show
// the byte count and a printable preview (non-printables as '.'). Seals are omitted
// unless asked for. Every text from the file is made safe for a terminal: control
// characters (C0, DEL, C1) become '.', so a crafted user name or payload cannot send
// escape sequences.
//
// Pure functions, thread-safe; ReplayPacer is one per replay.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "audit/recording.hpp"

namespace conduit::audit {

struct ReplayOptions {
  bool show_seals = false;
  std::size_t preview_bytes = 32;  // payload bytes shown for protocols that are not decoded
};

// The header as a short block (session, user, device, role, asset, protocol, listener,
// addresses, start time in UTC): lines joined by '\n', no trailing newline.
std::string format_header(const Header& header);

// One record as one line; the header record gives format_header(). nullopt for a record
// that is not shown (a seal without show_seals). `first_monotonic_us` is the monotonic
// time of the first data or event record (record_monotonic_us).
std::optional<std::string> format_record(const Record& record, const Header& header,
                                         std::uint64_t first_monotonic_us, const ReplayOptions& options = {});

// A data or event record's monotonic time; nullopt for the header and seals, which have none.
std::optional<std::uint64_t> record_monotonic_us(const Record& record) noexcept;

// --- Pacing (`--speed S`)

// The wait before a record: (current - previous) / speed, at most max_gap, so that an
// idle hour does not stall a replay. Zero when time went backwards, or when speed is not
// a positive number (the caller validates --speed; zero here means "no pacing").
std::chrono::microseconds replay_delay(std::uint64_t previous_us, std::uint64_t current_us, double speed,
                                       std::chrono::microseconds max_gap) noexcept;

using ReplaySleeper = std::function<void(std::chrono::microseconds)>;

class ReplayPacer {
 public:
  static constexpr std::chrono::microseconds kDefaultMaxGap = std::chrono::seconds(5);

  // An empty sleeper means std::this_thread::sleep_for; tests pass one that records.
  explicit ReplayPacer(double speed, std::chrono::microseconds max_gap = kDefaultMaxGap, ReplaySleeper sleep = {});

  // Call before showing each record: sleeps for the delay since the previous record that
  // had a monotonic time, and returns it. The first such record, the header and seals
  // wait nothing.
  std::chrono::microseconds wait_before(const Record& record);

 private:
  double speed_;
  std::chrono::microseconds max_gap_;
  ReplaySleeper sleep_;
  std::optional<std::uint64_t> previous_us_;
};

}  // namespace conduit::audit
