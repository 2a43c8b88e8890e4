// Replays the Modbus request fuzz corpus through the fuzzer's own check, so that every
// CI run re-verifies what the fuzzer once found (see tests/fuzz/README.md).
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../../fuzz/modbus_request_check.hpp"

#ifndef CONDUIT_FUZZ_CORPUS_DIR
#error "CONDUIT_FUZZ_CORPUS_DIR must name tests/fuzz/corpus"
#endif

namespace {

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("every file of the modbus request corpus passes the fuzzer's check", "[modbus][fuzz]") {
  const std::filesystem::path dir = std::filesystem::path(CONDUIT_FUZZ_CORPUS_DIR) / "modbus_request";
  REQUIRE(std::filesystem::is_directory(dir));
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::vector<std::uint8_t> bytes = read_file(entry.path());
    INFO(entry.path().filename().string() << " (" << bytes.size() << " bytes)");
    CHECK(conduit::fuzz::check_modbus_request_stream(bytes));
    ++files;
  }
  CHECK(files >= 20);
}
