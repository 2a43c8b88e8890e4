// The fuzz corpora under tests/fuzz/corpus, for the unit tests that replay them through the
// fuzzer's own check in every CI run and regenerate their seeds (see tests/fuzz/README.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#ifndef CONDUIT_FUZZ_CORPUS_DIR
#error "CONDUIT_FUZZ_CORPUS_DIR must name tests/fuzz/corpus"
#endif

namespace conduit::test::corpus {

using Bytes = std::vector<std::uint8_t>;

// The corpus directory of one fuzz target, e.g. corpus::dir("modbus_request").
inline std::filesystem::path dir(std::string_view target) {
  return std::filesystem::path(CONDUIT_FUZZ_CORPUS_DIR) / target;
}

inline Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes (replaces) one corpus file; returns whether the stream took every byte.
inline bool write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out.good();
}
inline bool write_file(const std::filesystem::path& path, const Bytes& bytes) {
  return write_file(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Runs `check` (the fuzz target's bool check_*(std::span<const std::uint8_t>)) on every
// regular file in `directory`, one CHECK per file naming it; returns how many files there were.
template <typename Check>
std::size_t replay(const std::filesystem::path& directory, Check check) {
  REQUIRE(std::filesystem::is_directory(directory));
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (!entry.is_regular_file()) continue;
    const Bytes bytes = read_file(entry.path());
    INFO(entry.path().filename().string() << " (" << bytes.size() << " bytes)");
    CHECK(check(bytes));
    ++files;
  }
  return files;
}

}  // namespace conduit::test::corpus
