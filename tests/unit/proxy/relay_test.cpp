// proxy/net/relay.hpp's relay_one_way between Beast's in-process test streams: `from` is
// what the relay reads (its input appended by the test), `to` is connected to `sink`,
// which collects what the relay writes. Every test ends on its own; run_for() only bounds
// a broken one.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <catch2/catch.hpp>
#include <array>
#include <chrono>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "proxy/net/relay.hpp"

namespace asio = boost::asio;
namespace test = boost::beast::test;
using namespace conduit::proxy;
using namespace std::chrono_literals;

namespace {

const std::string kText = "the quick brown fox jumps over the lazy dog";  // 43 bytes

struct Relay {
  Relay() { to.connect(*sink); }

  // Relays with an 8-byte buffer, so kText takes six chunks.
  template <typename OnData, typename KeepGoing>
  std::optional<RelayEnd> run(OnData on_data, KeepGoing keep_going) {
    std::optional<RelayEnd> end;
    asio::co_spawn(context, relay_one_way(from, to, std::span<char>(buffer), relayed, on_data, keep_going),
                   [&end](std::exception_ptr escaped, RelayEnd result) {
                     CHECK_FALSE(escaped);
                     end = result;
                   });
    context.run_for(10s);
    return end;
  }

  std::optional<RelayEnd> run() {
    return run([this](std::span<const char> chunk) {
      chunks.emplace_back(chunk.begin(), chunk.end());
      return true;
    }, [] { return true; });
  }

  asio::io_context context{1};
  test::stream from{context};
  test::stream to{context};
  std::optional<test::stream> sink{std::in_place, context};
  std::array<char, 8> buffer{};
  std::uint64_t relayed = 0;
  std::vector<std::string> chunks;
};

}  // namespace

TEST_CASE("relay_one_way delivers every byte in order across several chunks and counts them", "[proxy][relay]") {
  Relay r;
  r.from.append(kText);
  r.from.close_remote();  // eof once the text is read
  auto end = r.run();
  REQUIRE(end);
  CHECK(r.sink->str() == kText);
  CHECK(r.relayed == kText.size());
  CHECK(r.chunks.size() == 6);
  std::string seen;
  for (const std::string& chunk : r.chunks) seen += chunk;
  CHECK(seen == kText);
  CHECK(end->side == RelayEnd::Side::read);
  CHECK(end->error == asio::error::eof);
}

TEST_CASE("relay_one_way stops before writing a chunk that on_data refuses", "[proxy][relay]") {
  Relay r;
  r.from.append(kText);
  int seen = 0;
  auto end = r.run([&seen](std::span<const char>) { return ++seen < 2; }, [] { return true; });
  REQUIRE(end);
  CHECK(end->side == RelayEnd::Side::stopped);
  CHECK_FALSE(end->error);
  CHECK(seen == 2);
  CHECK(r.sink->str() == kText.substr(0, 8));  // the first chunk only
  CHECK(r.relayed == 8);
}

TEST_CASE("relay_one_way ends on the read side with eof when the reading stream closes", "[proxy][relay]") {
  Relay r;
  r.from.close_remote();
  auto end = r.run();
  REQUIRE(end);
  CHECK(end->side == RelayEnd::Side::read);
  CHECK(end->error == asio::error::eof);
  CHECK(is_stream_close(end->error));
  CHECK(r.chunks.empty());
  CHECK(r.relayed == 0);
}

TEST_CASE("relay_one_way ends on the write side when the peer it writes to is gone", "[proxy][relay]") {
  Relay r;
  r.sink.reset();
  r.from.append(kText);
  auto end = r.run();
  REQUIRE(end);
  CHECK(end->side == RelayEnd::Side::write);
  CHECK(end->error == asio::error::connection_reset);
  CHECK(r.chunks.size() == 1);  // read and seen, never written
  CHECK(r.relayed == 0);
}

TEST_CASE("relay_one_way ends on the write side when a write fails after others succeeded", "[proxy][relay]") {
  asio::io_context context{1};
  test::fail_count second_write_fails(2);
  test::stream from(context);
  test::stream to(context, second_write_fails);
  test::stream sink(context);
  to.connect(sink);
  from.append(kText);
  std::array<char, 8> buffer{};
  std::uint64_t relayed = 0;
  std::optional<RelayEnd> end;
  asio::co_spawn(context, relay_one_way(from, to, std::span<char>(buffer), relayed,
                                        [](std::span<const char>) { return true; }, [] { return true; }),
                 [&end](std::exception_ptr escaped, RelayEnd result) {
                   CHECK_FALSE(escaped);
                   end = result;
                 });
  context.run_for(10s);
  REQUIRE(end);
  CHECK(end->side == RelayEnd::Side::write);
  CHECK(end->error == test::error::test_failure);
  CHECK(relayed == 8);
  CHECK(sink.str() == kText.substr(0, 8));
}

TEST_CASE("relay_one_way stops before reading once keep_going says no", "[proxy][relay]") {
  Relay r;
  r.from.append(kText);
  SECTION("from the start") {
    auto end = r.run([](std::span<const char>) { return true; }, [] { return false; });
    REQUIRE(end);
    CHECK(end->side == RelayEnd::Side::stopped);
    CHECK_FALSE(end->error);
    CHECK(r.from.nread() == 0);
    CHECK(r.relayed == 0);
  }
  SECTION("after the first chunk") {
    int asked = 0;
    auto end = r.run([](std::span<const char>) { return true; }, [&asked] { return ++asked < 2; });
    REQUIRE(end);
    CHECK(end->side == RelayEnd::Side::stopped);
    CHECK(r.from.nread() == 1);
    CHECK(r.relayed == 8);
    CHECK(r.sink->str() == kText.substr(0, 8));
  }
}
