// Modbus/TCP ADUs as replay text (used by replay.hpp): function, unit, table, addresses
// and the values read or written, or the exception code and its name.
//
//   request   unit 1 fc 6 write holding_registers 100 = 1200
//             unit 1 fc 16 write holding_registers 100+3 = 1200, 1201, 1202
//             unit 1 fc 15 write coils 16+10 = 10110000 11        (bit i = address start+i)
//             unit 1 fc 3 read holding_registers 0+2
//   response  unit 1 fc 3 read holding_registers = 42, 7
//             unit 1 fc 6 echo holding_registers 100 = 1200
//             exception 01 illegal function
//
// Lists longer than kReplayMaxValues end with "... (+N more)"; the JSONL export has every
// byte. Requests with anomalies end with the codec's anomaly list ("[trailing_bytes]"),
// and bytes after the first ADU with "(+N bytes after the ADU)". Write values appear in
// the text: replay output is for the security team, not for logs (STYLE.md).
//
// Pure, thread-safe. nullopt when the bytes do not frame as a Modbus/TCP ADU (too short,
// protocol id not 0, bad Length): the caller falls back to the recorded summary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace conduit::audit {

inline constexpr std::size_t kReplayMaxValues = 32;  // registers, or groups of 8 coils

std::optional<std::string> describe_modbus_request(std::span<const std::uint8_t> adu);
std::optional<std::string> describe_modbus_response(std::span<const std::uint8_t> adu);

// "illegal function", "gateway path unavailable", ... ; "unknown exception" otherwise.
const char* modbus_exception_name(std::uint8_t code) noexcept;

}  // namespace conduit::audit
