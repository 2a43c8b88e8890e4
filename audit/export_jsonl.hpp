// Session recording → JSON Lines: one object per record, in file order, for jq, scripts
// and SIEM import (FORMAT.md for the fields).
//
//   {"index":0,"offset":12,"type":"header","session_id":...,"client_address":...,...}
//   {"index":1,"offset":…,"type":"data","wall_us":…,"monotonic_us":…,
//    "direction":"client_to_asset"|"asset_to_client","decision":"none"|"allow"|"deny",
//    "rule":…,"summary":…,"payload":"<lower hex>"}
//   {"index":…,"offset":…,"type":"event","wall_us":…,"monotonic_us":…,"kind":"close"|"note","text":…}
//   {"index":…,"offset":…,"type":"seal","covered_index":…,"head":"<hex>","signature":"<hex>"}
//   {"type":"torn_tail","offset":N,"message":…}     last line, only when the file ends inside a record
//
// Every line ends with '\n'; keys keep the order above. Integers are exact (wall_us
// stays below 2^53 until the year 2255, so JavaScript readers are safe too). Texts are
// meant to be UTF-8 but not validated by the format: bytes that are not UTF-8 are
// replaced by U+FFFD (the payload, in hex, is never altered).
//
// Pure function, thread-safe; exporting does not verify seals (verify_recording does).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "audit/export_error.hpp"

namespace conduit::audit {

// Errors: the recording does not read (bad magic, unsupported version, a malformed
// record, or no complete header); no partial output then. A torn tail ends the output
// with the torn_tail line.
ExportResult<std::string> export_jsonl(std::span<const std::uint8_t> recording);

}  // namespace conduit::audit
