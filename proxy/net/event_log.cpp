#include "proxy/net/event_log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace conduit::proxy {
namespace {

LogFormat g_format = LogFormat::text;

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// Text values are quoted only when needed, so logs stay greppable: device=laptop-7.
void append_text_value(std::string& out, std::string_view text) {
  bool plain = !text.empty() && text.find_first_of(" \"=\t\n\r") == std::string_view::npos;
  if (plain) {
    out += text;
  } else {
    append_json_string(out, text);
  }
}

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

spdlog::level::level_enum spdlog_level(LogLevel level) {
  switch (level) {
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void init_event_log(LogFormat format) {
  g_format = format;
  auto logger = spdlog::stderr_logger_mt("conduit");
  // spdlog writes the timestamp; the message carries our own level names (EVENTS.md says
  // "warn", spdlog says "warning"), the event and its fields.
  logger->set_pattern(format == LogFormat::json ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ",%v})"
                                                : "%Y-%m-%dT%H:%M:%S.%eZ %v",
                      spdlog::pattern_time_type::utc);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void log_event(LogLevel level, std::string_view event, std::span<const LogField> fields) {
  std::string line;
  line.reserve(256);
  if (g_format == LogFormat::json) {
    line += "\"level\":";
    append_json_string(line, level_name(level));
    line += ",\"event\":";
    append_json_string(line, event);
    for (const LogField& field : fields) {
      line += ',';
      append_json_string(line, field.key);
      line += ':';
      if (auto* text = std::get_if<std::string_view>(&field.value)) {
        append_json_string(line, *text);
      } else {
        line += std::to_string(std::get<std::int64_t>(field.value));
      }
    }
  } else {
    line += level_name(level);
    line += ' ';
    line += event;
    for (const LogField& field : fields) {
      line += ' ';
      line += field.key;
      line += '=';
      if (auto* text = std::get_if<std::string_view>(&field.value)) {
        append_text_value(line, *text);
      } else {
        line += std::to_string(std::get<std::int64_t>(field.value));
      }
    }
  }
  spdlog::log(spdlog_level(level), "{}", line);
}

}  // namespace conduit::proxy
