// Structured event log of the running gateway (events and fields: proxy/EVENTS.md).
// One line per event on stderr, as text (`ts level event key=value ...`) or as one JSON
// object per line. Thread-safe. Never pass secrets as fields.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <variant>

namespace conduit::proxy {

enum class LogFormat { text, json };
enum class LogLevel { info, warn, error };

struct LogField {
  std::string_view key;
  std::variant<std::string_view, std::int64_t> value;

  LogField() : value(std::string_view()) {}
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  template <typename Integer>
    requires std::is_integral_v<Integer>
  LogField(std::string_view k, Integer v) : key(k), value(static_cast<std::int64_t>(v)) {}
};

void init_event_log(LogFormat format);
void log_event(LogLevel level, std::string_view event, std::span<const LogField> fields);
inline void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  log_event(level, event, std::span<const LogField>(fields.begin(), fields.size()));
}

}  // namespace conduit::proxy
