#include <catch2/catch.hpp>
#include <array>
#include <nlohmann/json.hpp>

#include "audit/request_log.hpp"

using conduit::audit::LineWriter;

TEST_CASE("an audit line escapes what a certificate could smuggle into it", "[audit]") {
  std::array<char, 256> buffer;
  LineWriter line(buffer);
  const unsigned char bytes[] = {0x00, 0x01, 0xab, 0xff};
  line.raw("{").field("device").string("evil\"},{\"admin\":true\\\n\x01");
  line.field("unit").number(-42).field("big").number(1795309830304846LL);
  line.field("request").hex(bytes).raw("}");
  REQUIRE_FALSE(line.truncated());
  // A JSON parser must see exactly the fields written, with the original text restored.
  auto parsed = nlohmann::json::parse(line.view());
  CHECK(parsed.size() == 4);
  CHECK(parsed["device"] == "evil\"},{\"admin\":true\\\n\x01");
  CHECK(parsed["unit"] == -42);
  CHECK(parsed["big"] == 1795309830304846LL);
  CHECK(parsed["request"] == "0001abff");
}

TEST_CASE("an audit line that does not fit says so instead of overflowing", "[audit]") {
  std::array<char, 16> buffer;
  LineWriter line(buffer);
  line.raw("{").field("summary").string("a summary far longer than sixteen bytes");
  CHECK(line.truncated());
  CHECK(line.view().size() <= buffer.size());
}
