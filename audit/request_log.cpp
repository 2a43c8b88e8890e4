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

RequestLog::RequestLog(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / "modbus.jsonl";
  if (auto made = common::make_private_directory(dir); !made) {
    throw std::runtime_error("cannot open audit log \"" + path.string() + "\": " + made.error().message());
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0 || !(file_ = ::fdopen(fd, "a"))) {
    std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot open audit log \"" + path.string() + "\": " + why);
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
}

RequestLog::~RequestLog() {
  if (file_) std::fclose(file_);
}

void RequestLog::append(std::string_view line) {
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fputc('\n', file_);
}

void RequestLog::flush() {
  std::lock_guard lock(mutex_);
  std::fflush(file_);
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
