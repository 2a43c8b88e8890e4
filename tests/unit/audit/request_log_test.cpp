#include <catch2/catch.hpp>
#include <array>
#include <fstream>
#include <string>
#include <thread>
#include <nlohmann/json.hpp>

#include "audit/request_log.hpp"
#include "tests/unit/temp_dir.hpp"

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

TEST_CASE("two threads' request logs share one file without splitting a line", "[audit]") {
  conduit::test::TempDir dir;
  conduit::audit::RequestLogFile file(dir.path());
  constexpr int kLines = 5000;
  auto write_lines = [&file](char tag) {
    conduit::audit::RequestLog log(file);
    // Lines of different lengths, so that buffers fill at different points.
    for (int i = 0; i < kLines; ++i) log.append(std::string(1 + i % 300, tag), i);
  };  // the destructor flushes what is left
  std::thread a(write_lines, 'a');
  std::thread b(write_lines, 'b');
  a.join();
  b.join();
  std::ifstream in(dir.path() / "modbus.jsonl");
  std::string line;
  int counts[2] = {0, 0};
  while (std::getline(in, line)) {
    REQUIRE_FALSE(line.empty());
    REQUIRE(line.find_first_not_of(line[0]) == std::string::npos);  // one thread's line, whole
    ++counts[line[0] == 'a' ? 0 : 1];
  }
  CHECK(counts[0] == kLines);
  CHECK(counts[1] == kLines);
}
