// What the recording exporters (export_pcap.hpp, export_jsonl.hpp) return when a
// recording cannot be exported: the reader stopped on bytes it cannot take (FORMAT.md §6),
// or the file ends before its header. A torn tail after the header is not an error: the
// exporters export what was read and say where the tail tore.
//
// Exporting does not verify: seals and the hash chain are the verifier's job
// (verify_recording), which a caller runs first when it needs proof.
#pragma once

#include <cstdint>
#include <string>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include "audit/recording.hpp"

namespace conduit::audit {

struct ExportError {
  ReadStatus status = ReadStatus::malformed;  // malformed, unsupported_version, or torn before the header
  std::uint64_t record_index = 0;
  std::uint64_t offset = 0;
  std::string message;  // one line naming the record and byte offset
};

template <typename T>
using ExportResult = boost::system::result<T, ExportError>;

// ExportResult::value() on an error throws std::runtime_error with the message
// (boost::system::result finds this overload by argument-dependent lookup).
[[noreturn]] void throw_exception_from_error(const ExportError& error, const boost::source_location& location);

// The reader's stop as an ExportError.
ExportError export_error(const ReadResult& stop);

}  // namespace conduit::audit
