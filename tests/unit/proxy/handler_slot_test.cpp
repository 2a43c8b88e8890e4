#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <memory>
#include <thread>

#include "proxy/net/handler_slot.hpp"

namespace asio = boost::asio;
using namespace conduit::proxy;

TEST_CASE("a handler posted from another thread runs in the slot's memory, again and again", "[proxy]") {
  asio::io_context context(1);
  HandlerSlot slot;
  int runs = 0;
  // The shape of the session's durable-write answer: an object pointer and a flag.
  auto post_one = [&](bool ok) {
    asio::post(context, asio::bind_allocator(SlotAllocator<void>(slot), [&runs, ok] { runs += ok ? 1 : 0; }));
  };
  for (int i = 0; i < 100; ++i) {
    std::thread([&] { post_one(true); }).join();  // as the recorder's writer thread does
    context.restart();
    context.run();
  }
  CHECK(runs == 100);
  CHECK(slot.fallbacks() == 0);
}

TEST_CASE("a second handler while the slot is busy, or one too large, falls back to the heap", "[proxy]") {
  HandlerSlot slot;
  void* first = slot.allocate(16);
  void* second = slot.allocate(16);
  void* large = slot.allocate(HandlerSlot::kSize + 1);
  CHECK(first != second);
  CHECK(slot.fallbacks() == 2);
  slot.deallocate(second);
  slot.deallocate(large);
  slot.deallocate(first);
  CHECK(slot.allocate(16) == first);  // free again
  slot.deallocate(first);
}
