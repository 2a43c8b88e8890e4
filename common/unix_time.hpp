// Wall-clock seconds since the Unix epoch, as the credential store and its callers keep
// times. The libraries take the time as a value; the programs (the gateway's control
// plane, the admin CLI) read the clock here.
#pragma once

#include <chrono>
#include <cstdint>

namespace conduit::common {

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace conduit::common
