// The Modbus request trail: one JSON line per request with its decision and its response
// (or why there is none), appended to <data_dir>/audit/modbus.jsonl for tools that tail
// it. The tamper-evident record of a session is its recording (audit/recorder.hpp); this
// file is a convenience beside it, with the denial reasons and outcomes spelled out.
//
// Off the per-request path's locks: every I/O thread has its own RequestLog, which gathers
// whole lines in a fixed buffer (formatted by the caller into a stack buffer, no
// allocation) and hands them to the shared file with one write(2) when the buffer is full,
// at session close, and with the first line more than a second after the last write. The
// file is opened with O_APPEND, so the kernel puts each write at the end: lines of different
// threads never interleave inside a line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace conduit::audit {

// <dir>/modbus.jsonl, open for appending; shared (read-only) by every thread's RequestLog.
class RequestLogFile {
 public:
  // Creates <dir> (0700) and the file (0600, never through a symlink) if missing. Throws
  // std::runtime_error naming the file if it cannot.
  explicit RequestLogFile(const std::filesystem::path& dir);
  ~RequestLogFile();
  RequestLogFile(const RequestLogFile&) = delete;
  RequestLogFile& operator=(const RequestLogFile&) = delete;

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// One I/O thread's lines. Not thread-safe: one per thread, no lock.
class RequestLog {
 public:
  static constexpr std::size_t kCapacity = 64 * 1024;

  explicit RequestLog(const RequestLogFile& file);
  ~RequestLog();  // flushes
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // One complete line without its newline (at most kCapacity - 1 bytes; longer ones are
  // dropped), at `now_us` (the line's own time stamp). Writes the buffer out first when the
  // line would not fit, and after it when the last write is a second old.
  void append(std::string_view line, std::int64_t now_us);
  void flush();

 private:
  const RequestLogFile& file_;
  std::vector<char> buffer_;  // reserved once
  std::int64_t last_flush_us_ = 0;
};

// Appends JSON fragments into a fixed buffer; once full, further appends are dropped and
// truncated() turns true (the caller still gets a valid prefix it can choose to discard).
class LineWriter {
 public:
  explicit LineWriter(std::span<char> buffer) : buffer_(buffer) {}
  LineWriter& raw(std::string_view text);
  LineWriter& string(std::string_view text);  // quoted and escaped
  LineWriter& number(long long value);
  LineWriter& hex(std::span<const unsigned char> bytes);  // quoted lower-case hex
  LineWriter& field(std::string_view key);                // ,"key": (no comma for the first); key not escaped
  std::string_view view() const { return {buffer_.data(), size_}; }
  bool truncated() const { return truncated_; }

 private:
  std::span<char> buffer_;
  std::size_t size_ = 0;
  bool truncated_ = false;
  bool first_field_ = true;
};

}  // namespace conduit::audit
