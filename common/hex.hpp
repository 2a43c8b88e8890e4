// Lower-case hexadecimal (RFC 4648 §8 with the lower-case alphabet), as Conduit writes
// credential ids, AAGUIDs, certificate serials and fingerprints, hash-chain heads and
// recorded payloads in logs, files and CLI output.
//
// Decoding is strict: an even number of the characters 0-9 a-f, nothing else (no upper
// case, no "0x", no spaces), so that each byte string has exactly one spelling and a value
// read back compares equal to the one written. Anything else gives nullopt.
//
// Pure and thread-safe. hex_encode_into never allocates (for fixed buffers on the data
// path); the others allocate only their result.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace conduit::common {

std::string hex_encode(std::span<const std::uint8_t> bytes);
std::string hex_encode(std::string_view bytes);  // bytes held in a std::string

// Writes the 2 * bytes.size() digits at the start of `out` (no NUL) and returns true; if
// `out` is shorter than that, writes nothing and returns false.
bool hex_encode_into(std::span<char> out, std::span<const std::uint8_t> bytes) noexcept;

std::optional<std::string> hex_decode(std::string_view text);

}  // namespace conduit::common
