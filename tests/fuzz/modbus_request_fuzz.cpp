// libFuzzer target for the Modbus/TCP request decoder (and the response decoder on the
// same bytes). The property lives in modbus_request_check.hpp so that the corpus replay
// unit test runs exactly the same check; see tests/fuzz/README.md.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "modbus_request_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!conduit::fuzz::check_modbus_request_stream(std::span<const std::uint8_t>(data, size))) std::abort();
  return 0;
}
