#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <stdexcept>

#include "proxy/net/event_log.hpp"
#include "proxy/net/spawn.hpp"

namespace asio = boost::asio;
using namespace conduit::proxy;

TEST_CASE("an exception escaping a detached coroutine is counted, and the loop goes on", "[proxy]") {
  init_event_log(LogFormat::json);
  asio::io_context context(1);
  bool after = false;
  std::uint64_t before = escaped_exceptions();
  asio::co_spawn(context, []() -> asio::awaitable<void> {
    throw std::runtime_error("boom");
    co_return;
  }, report_escaped("test"));
  asio::co_spawn(context, [&after]() -> asio::awaitable<void> {
    after = true;
    co_return;
  }, report_escaped("test"));
  context.run();
  CHECK(escaped_exceptions() == before + 1);
  CHECK(after);
}
