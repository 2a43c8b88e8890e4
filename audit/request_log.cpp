#include "audit/request_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "common/hex.hpp"
#include "common/private_file.hpp"

namespace conduit::audit {

RequestLogFile::RequestLogFile(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / "modbus.jsonl";
  auto fail = [&path](const std::string& why) {
    return std::runtime_error("cannot open audit log \"" + path.string() + "\": " + why);
  };
  if (auto made = common::make_private_directory(dir); !made) throw fail(made.error().message());
  if (auto created = common::open_or_create_private_file(path, 0600); !created) throw fail(created.error().message());
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd_ < 0) throw fail(std::strerror(errno));
}

RequestLogFile::~RequestLogFile() {
  if (fd_ >= 0) ::close(fd_);
}

RequestLog::RequestLog(const RequestLogFile& file) : file_(file) { buffer_.reserve(kCapacity); }

RequestLog::~RequestLog() { flush(); }

void RequestLog::append(std::string_view line, std::int64_t now_us) {
  if (line.size() + 1 > kCapacity) return;
  if (buffer_.size() + line.size() + 1 > kCapacity) flush();
  buffer_.insert(buffer_.end(), line.begin(), line.end());
  buffer_.push_back('\n');
  if (now_us - last_flush_us_ >= 1'000'000) {
    flush();
    last_flush_us_ = now_us;
  }
}

void RequestLog::flush() {
  // One write of whole lines: O_APPEND keeps it in one piece at the end of the file. A
  // short write (a full disk) loses the rest of this buffer, never the line structure of
  // what others write after it.
  std::size_t written = 0;
  while (written < buffer_.size()) {
    ssize_t n = ::write(file_.fd(), buffer_.data() + written, buffer_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

LineWriter& LineWriter::raw(std::string_view text) {
  if (size_ + text.size() > buffer_.size()) {
    truncated_ = true;
    return *this;
  }
  std::memcpy(buffer_.data() + size_, text.data(), text.size());
  size_ += text.size();
  return *this;
}

LineWriter& LineWriter::string(std::string_view text) {
  raw("\"");
  // Copies runs of plain characters at once; only quotes, backslashes and control
  // characters are escaped one by one.
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c != '"' && c != '\\' && c >= 0x20) continue;
    raw(text.substr(run, i - run));
    char escaped[7];
    int length = c < 0x20 ? std::snprintf(escaped, sizeof escaped, "\\u%04x", c)
                          : std::snprintf(escaped, sizeof escaped, "\\%c", c);
    raw({escaped, static_cast<std::size_t>(length)});
    run = i + 1;
  }
  raw(text.substr(run));
  return raw("\"");
}

LineWriter& LineWriter::number(long long value) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  return raw({digits, static_cast<std::size_t>(end - digits)});
}

LineWriter& LineWriter::hex(std::span<const unsigned char> bytes) {
  raw("\"");
  if (!common::hex_encode_into(buffer_.subspan(size_), bytes)) {
    truncated_ = true;
    return *this;
  }
  size_ += 2 * bytes.size();
  return raw("\"");
}

LineWriter& LineWriter::field(std::string_view key) {
  // Keys are this program's own identifiers: nothing to escape.
  raw(first_field_ ? "\"" : ",\"");
  first_field_ = false;
  raw(key);
  return raw("\":");
}

}  // namespace conduit::audit
