// common/hex: the one lower-case hex of the code base (credential ids, digests, serials,
// recorded payloads).
#include "common/hex.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using conduit::common::hex_decode;
using conduit::common::hex_encode;
using conduit::common::hex_encode_into;
using namespace std::string_literals;

}  // namespace

TEST_CASE("hex round-trips lower case and refuses upper case and odd lengths", "[common][hex]") {
  CHECK(hex_encode("\x00\x01\xab\xff"s) == "0001abff");
  CHECK(hex_decode("0001abff") == std::optional<std::string>("\x00\x01\xab\xff"s));
  CHECK(hex_decode("") == std::optional<std::string>(""));
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte += static_cast<char>(i);
  CHECK(hex_decode(hex_encode(every_byte)) == std::optional<std::string>(every_byte));
  for (const char* text : {"AB", "0001ABFF", "aB", "abc", "a", "0g", "-1", " a", "0x00"}) {
    INFO(text);
    CHECK_FALSE(hex_decode(text).has_value());
  }
}

TEST_CASE("hex encodes the RFC 4648 base16 test vectors in lower case and decodes them back", "[common][hex]") {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},           {"f", "66"},           {"fo", "666f"},           {"foo", "666f6f"},
      {"foob", "666f6f62"}, {"fooba", "666f6f6261"}, {"foobar", "666f6f626172"},
  };
  for (const auto& [bytes, text] : vectors) {
    INFO(bytes);
    CHECK(hex_encode(bytes) == text);
    CHECK(hex_decode(text) == std::optional<std::string>(bytes));
  }
}

TEST_CASE("hex of a byte span is the hex of the same bytes held in a string", "[common][hex]") {
  const std::array<std::uint8_t, 4> digest_start = {0xde, 0xad, 0xbe, 0xef};
  CHECK(hex_encode(digest_start) == "deadbeef");
  CHECK(hex_encode(std::span<const std::uint8_t>(digest_start).first(2)) == "dead");
  CHECK(hex_encode("\xde\xad\xbe\xef"s) == "deadbeef");
  const std::vector<std::uint8_t> empty;
  CHECK(hex_encode(empty).empty());
}

TEST_CASE("hex_encode_into writes exactly twice the bytes and nothing past them", "[common][hex]") {
  const std::uint8_t bytes[] = {0x00, 0x7f, 0xa5};
  std::array<char, 8> buffer;
  buffer.fill('x');
  REQUIRE(hex_encode_into(buffer, bytes));
  CHECK(std::string(buffer.data(), buffer.size()) == "007fa5xx");

  SECTION("an exact fit is enough") {
    std::array<char, 6> exact{};
    REQUIRE(hex_encode_into(exact, bytes));
    CHECK(std::string(exact.data(), exact.size()) == "007fa5");
  }
  SECTION("a buffer one character short is left untouched") {
    std::array<char, 5> short_buffer;
    short_buffer.fill('x');
    CHECK_FALSE(hex_encode_into(short_buffer, bytes));
    CHECK(std::string(short_buffer.data(), short_buffer.size()) == "xxxxx");
  }
  SECTION("no bytes fit anywhere, even in no room") {
    CHECK(hex_encode_into(std::span<char>(), std::span<const std::uint8_t>()));
  }
}

TEST_CASE("hex_decode refuses an odd length and any character that is not lower-case hex", "[common][hex]") {
  for (const std::string& text : {"0"s, "abc"s, "00000"s}) {
    INFO(text);
    CHECK_FALSE(hex_decode(text).has_value());
  }
  // Every byte value in either position of a pair: only 0-9 and a-f are digits.
  for (int c = 0; c < 256; ++c) {
    const char byte = static_cast<char>(c);
    const bool digit = (byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'f');
    INFO("byte " << c);
    CHECK(hex_decode(std::string{byte, '0'}).has_value() == digit);
    CHECK(hex_decode(std::string{'0', byte}).has_value() == digit);
  }
  CHECK_FALSE(hex_decode("\xc3\xa9").has_value());  // non-ASCII
  CHECK_FALSE(hex_decode("00\0\0"s).has_value());   // NUL
}
