// The interim Modbus audit trail: one JSON line per request with its decision and its
// response (or why there is none), appended to <data_dir>/audit/modbus.jsonl. The
// tamper-evident session recorder (issue 5) replaces this file; the line has the fields
// that recorder needs, so the call sites stay.
//
// Thread-safe. Formatting happens into a caller-provided fixed buffer (no allocation per
// request); lines are buffered and written by flush() (called at session close and
// periodically), so a request costs no system call.
#pragma once

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <span>
#include <string_view>

namespace conduit::audit {

class RequestLog {
 public:
  // Creates <dir> (0700) and opens <dir>/modbus.jsonl for appending (0600). Throws
  // std::runtime_error naming the file if it cannot.
  explicit RequestLog(const std::filesystem::path& dir);
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  void append(std::string_view line);  // one complete line without the trailing newline
  void flush();

 private:
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
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
