// Loading and validating the configuration file. This is the one place where JSON
// exceptions are caught: every problem becomes a ConfigError whose message names the JSON
// Pointer of the offending value, e.g.
//   config error at /listeners/0/bind: "0.0.0.0:80x" is not host:port
// Start-up code prints what() and exits with status 2.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/model.hpp"

namespace conduit::config {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string pointer, const std::string& detail);
  const std::string& pointer() const { return pointer_; }

 private:
  std::string pointer_;
};

// Reads and validates `file`. `data_dir_override` (from --data-dir) wins over
// gateway.data_dir. Relative TLS paths are resolved against the data directory, and every
// TLS file must be readable.
Config load_file(const std::filesystem::path& file,
                 const std::optional<std::filesystem::path>& data_dir_override);

// The same, from text already in memory (`file` is only used in messages and Config::file).
Config load_text(std::string_view text, const std::filesystem::path& file,
                 const std::optional<std::filesystem::path>& data_dir_override);

// Parses "host:port" / "[v6]:port" with a numeric IP host. Returns nullopt if malformed.
std::optional<Endpoint> parse_endpoint(std::string_view text);

}  // namespace conduit::config
