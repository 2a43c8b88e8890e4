// Wall-clock seconds since the Unix epoch, as the credential store and its callers keep
// times (they take the time as a value; this is where the proxy reads the clock).
#pragma once

#include <chrono>
#include <cstdint>

namespace conduit::proxy {

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace conduit::proxy
