// The Modbus upstream pool's decisions (proxy/gateway/modbus/modbus_pool_core.hpp) without
// sockets: a fake I/O side records what the core asks for, a fake owner records the
// completions, and time is a value the test moves.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "proxy/gateway/modbus/modbus_pool_core.hpp"

namespace modbus = conduit::protocols::modbus;
using namespace conduit::proxy;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::uint8_t hi(std::uint16_t v) { return static_cast<std::uint8_t>(v >> 8); }
std::uint8_t lo(std::uint16_t v) { return static_cast<std::uint8_t>(v & 0xff); }

struct FakeIo final : ModbusPoolIo {
  struct Sent {
    std::size_t connection;
    const ModbusExchange* exchange;
    std::uint16_t transaction_id;
  };
  struct Closed {
    std::size_t connection;
    std::chrono::milliseconds backoff;
  };

  void open(std::size_t connection) override { opened.push_back(connection); }
  bool send(std::size_t connection, const ModbusExchange& exchange, std::uint16_t transaction_id) override {
    sent.push_back({connection, &exchange, transaction_id});
    return !fail_sends;
  }
  void close(std::size_t connection, std::chrono::milliseconds backoff) override {
    closed.push_back({connection, backoff});
  }
  void report(std::size_t connection, PoolFailure failure) override { reported.emplace_back(connection, failure); }
  void defer_delivery() override { ++deferred; }

  std::vector<std::size_t> opened;
  std::vector<Sent> sent;
  std::vector<Closed> closed;
  std::vector<std::pair<std::size_t, PoolFailure>> reported;
  int deferred = 0;
  bool fail_sends = false;
};

struct FakeOwner final : ModbusExchangeOwner {
  void on_exchange_done(ModbusExchange& exchange) override {
    if (*submitting) called_while_submitting = true;
    done.emplace_back(&exchange, exchange.outcome);
  }

  const bool* submitting = nullptr;
  bool called_while_submitting = false;
  std::vector<std::pair<const ModbusExchange*, ExchangeOutcome>> done;
};

conduit::config::ModbusAssetSettings settings_of(unsigned connections, unsigned in_flight) {
  conduit::config::ModbusAssetSettings settings;
  settings.max_connections = connections;
  settings.max_in_flight = in_flight;
  settings.request_timeout = 1000ms;
  return settings;
}

// One core with its fakes, the exchanges of the test (a deque: they must not move once
// submitted) and the time, which only the test moves.
struct Harness {
  Harness(unsigned connections, unsigned in_flight)
      : settings(settings_of(connections, in_flight)), core(settings, io) {
    owner.submitting = &submitting;
  }

  // FC 3 from a client, not yet submitted: read two holding registers from address 0.
  ModbusExchange& read(std::uint16_t client_id) {
    ModbusExchange& exchange = exchanges.emplace_back();
    const std::uint8_t adu[] = {
        hi(client_id), lo(client_id),  // transaction id
        0x00, 0x00,                    // protocol id
        0x00, 0x06,                    // length
        0x01,                          // unit id
        0x03,                          // function: read holding registers
        0x00, 0x00,                    // start address
        0x00, 0x02,                    // quantity
    };
    std::copy(std::begin(adu), std::end(adu), exchange.request.begin());
    exchange.request_size = sizeof adu;
    modbus::RequestDecode decoded = modbus::decode_request({exchange.request.data(), exchange.request_size});
    REQUIRE(decoded.status == modbus::DecodeStatus::ok);
    exchange.decoded = decoded.request;
    exchange.client_transaction_id = client_id;
    exchange.owner = &owner;
    return exchange;
  }

  ModbusExchange& submit_read(std::uint16_t client_id) {
    ModbusExchange& exchange = read(client_id);
    submit(exchange);
    return exchange;
  }

  void submit(ModbusExchange& exchange) {
    submitting = true;
    core.submit(exchange, now);
    submitting = false;
  }

  // The PLC's answer to the FC 3 above; `byte_count` 4 answers it, anything else does not.
  void respond(std::size_t connection, std::uint16_t wire_id, std::uint8_t byte_count = 4) {
    std::vector<std::uint8_t> adu = {
        hi(wire_id), lo(wire_id),                          // transaction id
        0x00, 0x00,                                        // protocol id
        0x00, static_cast<std::uint8_t>(3 + byte_count),  // length
        0x01,                                              // unit id
        0x03,                                              // function: read holding registers
        byte_count,                                        // byte count
    };
    for (std::uint8_t i = 0; i < byte_count; ++i) adu.push_back(static_cast<std::uint8_t>(0xa0 + i));  // registers
    modbus::ResponseDecode decoded = modbus::decode_response(adu);
    REQUIRE(decoded.status == modbus::DecodeStatus::ok);
    core.on_response(connection, decoded.response, now);
  }

  // The wire transaction id and connection of the last time `exchange` was sent.
  FakeIo::Sent sent(const ModbusExchange& exchange) const {
    for (auto it = io.sent.rbegin(); it != io.sent.rend(); ++it) {
      if (it->exchange == &exchange) return *it;
    }
    FAIL("the exchange was never sent");
    return {};
  }

  void respond_to(const ModbusExchange& exchange) {
    FakeIo::Sent s = sent(exchange);
    respond(s.connection, s.transaction_id);
  }

  std::vector<const ModbusExchange*> sent_order() const {
    std::vector<const ModbusExchange*> order;
    for (const FakeIo::Sent& s : io.sent) order.push_back(s.exchange);
    return order;
  }

  conduit::config::ModbusAssetSettings settings;
  FakeIo io;
  FakeOwner owner;
  ModbusPoolCore core;
  std::deque<ModbusExchange> exchanges;
  Clock::time_point now = Clock::time_point{} + 1h;
  bool submitting = false;
};

using Outcome = ExchangeOutcome;
using Done = std::pair<const ModbusExchange*, ExchangeOutcome>;

}  // namespace

TEST_CASE("a request goes out with the pool's transaction id and its response comes back with the client's",
          "[proxy][modbus_pool]") {
  Harness h(1, 1);
  ModbusExchange& exchange = h.submit_read(0x1234);
  CHECK(h.io.opened == std::vector<std::size_t>{0});
  CHECK(h.io.sent.empty());  // not before the connection is up

  h.core.on_connected(0, h.now);
  REQUIRE(h.io.sent.size() == 1);
  std::uint16_t wire_id = h.io.sent[0].transaction_id;
  CHECK(wire_id == 1);
  // The exchange keeps the client's id: the I/O side puts the wire id in front of it.
  CHECK(exchange.request[0] == 0x12);
  CHECK(exchange.request[1] == 0x34);

  h.respond(0, wire_id);
  REQUIRE(h.owner.done == std::vector<Done>{{&exchange, Outcome::response}});
  const std::vector<std::uint8_t> expected = {
      0x12, 0x34,              // the client's transaction id, restored
      0x00, 0x00,              // protocol id
      0x00, 0x07,              // length
      0x01,                    // unit id
      0x03,                    // function
      0x04,                    // byte count
      0xa0, 0xa1, 0xa2, 0xa3,  // registers
  };
  CHECK(std::vector<std::uint8_t>(exchange.response.begin(), exchange.response.begin() + exchange.response_size) ==
        expected);
  CHECK(h.core.in_flight(0) == 0);
}

TEST_CASE("transaction ids wrap around at 65535 and skip the one still in flight", "[proxy][modbus_pool]") {
  Harness h(1, 2);
  ModbusExchange& held = h.submit_read(7);  // stays in flight with id 1 throughout
  h.core.on_connected(0, h.now);
  REQUIRE(h.sent(held).transaction_id == 1);

  ModbusExchange& cycled = h.read(8);
  std::vector<std::uint16_t> ids;
  for (int i = 0; i < 65536; ++i) {
    h.submit(cycled);
    ids.push_back(h.sent(cycled).transaction_id);
    h.respond_to(cycled);
    REQUIRE(h.owner.done.back() == Done{&cycled, Outcome::response});
  }
  // 2 .. 65535, then 0, then 1 is skipped because `held` still has it.
  CHECK(ids[0] == 2);
  CHECK(ids[65533] == 65535);
  CHECK(ids[65534] == 0);
  CHECK(ids[65535] == 2);
  CHECK(std::find(ids.begin(), ids.end(), 1) == ids.end());

  h.respond(0, 1);
  CHECK(h.owner.done.back() == Done{&held, Outcome::response});
  CHECK(held.response[0] == 0x00);
  CHECK(held.response[1] == 7);  // its client's id, not the cycled one's
}

TEST_CASE("a response with an unknown transaction id is ignored", "[proxy][modbus_pool]") {
  Harness h(1, 1);
  ModbusExchange& exchange = h.submit_read(1);
  h.core.on_connected(0, h.now);

  h.respond(0, 0x7777);
  CHECK(h.owner.done.empty());
  CHECK(h.io.closed.empty());
  CHECK(h.core.in_flight(0) == 1);

  h.respond_to(exchange);
  CHECK(h.owner.done == std::vector<Done>{{&exchange, Outcome::response}});
}

TEST_CASE("a response that does not answer its request fails the connection and every exchange in flight on it",
          "[proxy][modbus_pool]") {
  Harness h(1, 3);
  ModbusExchange& a = h.submit_read(1);
  ModbusExchange& b = h.submit_read(2);
  ModbusExchange& c = h.submit_read(3);
  h.core.on_connected(0, h.now);
  REQUIRE(h.io.sent.size() == 3);

  // Two registers were asked for; a byte count of 2 answers something else.
  h.respond(0, h.sent(b).transaction_id, 2);
  CHECK(h.io.reported == std::vector<std::pair<std::size_t, PoolFailure>>{{0, PoolFailure::response_mismatch}});
  REQUIRE(h.io.closed.size() == 1);
  CHECK(h.io.closed[0].connection == 0);
  CHECK(h.core.state(0) == ModbusPoolCore::State::backoff);
  CHECK(h.core.in_flight(0) == 0);
  CHECK(h.owner.done == std::vector<Done>{{&a, Outcome::upstream_failed},
                                          {&b, Outcome::upstream_failed},
                                          {&c, Outcome::upstream_failed}});

  // Their ids are forgotten with the connection: a late answer finds nothing.
  h.respond(0, h.sent(a).transaction_id);
  CHECK(h.owner.done.size() == 3);
}

TEST_CASE("the next request goes to the ready connection with the fewest requests in flight",
          "[proxy][modbus_pool]") {
  Harness h(2, 3);
  ModbusExchange& a = h.submit_read(1);
  h.submit_read(2);
  h.submit_read(3);
  h.core.on_connected(0, h.now);  // a, b, c fill connection 0
  ModbusExchange& d = h.submit_read(4);
  CHECK(h.io.opened == std::vector<std::size_t>{0, 1});
  h.core.on_connected(1, h.now);
  CHECK(h.sent(d).connection == 1);

  h.respond_to(a);  // 0 has two in flight, 1 has one
  ModbusExchange& e = h.submit_read(5);
  CHECK(h.sent(e).connection == 1);  // not simply the first one with room
  ModbusExchange& f = h.submit_read(6);
  CHECK(h.sent(f).connection == 0);  // a tie goes to the first
  CHECK(h.core.in_flight(0) == 3);
  CHECK(h.core.in_flight(1) == 2);
}

TEST_CASE("no more than max_in_flight requests are outstanding and the queue drains in FIFO order as responses arrive",
          "[proxy][modbus_pool]") {
  Harness h(1, 2);
  std::vector<ModbusExchange*> submitted;
  for (std::uint16_t id = 1; id <= 5; ++id) submitted.push_back(&h.submit_read(id));
  h.core.on_connected(0, h.now);
  CHECK(h.sent_order() == std::vector<const ModbusExchange*>{submitted[0], submitted[1]});

  for (std::size_t answered = 0; answered < 5; ++answered) {
    CHECK(h.core.in_flight(0) <= 2);
    h.respond_to(*submitted[answered]);
  }
  CHECK(h.sent_order() == std::vector<const ModbusExchange*>(submitted.begin(), submitted.end()));
  REQUIRE(h.owner.done.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(h.owner.done[i] == Done{submitted[i], Outcome::response});
  CHECK(h.io.opened.size() == 1);
}

TEST_CASE("only one connection is being opened at a time", "[proxy][modbus_pool]") {
  Harness h(3, 1);
  ModbusExchange& a = h.submit_read(1);
  h.submit_read(2);
  h.submit_read(3);
  CHECK(h.io.opened == std::vector<std::size_t>{0});  // three waiting, still one attempt

  h.core.on_connected(0, h.now);
  CHECK(h.io.opened == std::vector<std::size_t>{0, 1});
  h.submit_read(4);
  CHECK(h.io.opened == std::vector<std::size_t>{0, 1});  // 1 is still connecting

  h.core.on_connection_lost(1);  // refused: the PLC is at its limit
  CHECK(h.core.state(1) == ModbusPoolCore::State::backoff);
  CHECK(h.io.opened == std::vector<std::size_t>{0, 1});  // no burst of other attempts

  h.respond_to(a);  // the next request goes out on 0; the rest still want a connection
  CHECK(h.io.opened == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("queued requests past their deadline complete as timeout on the tick, oldest first",
          "[proxy][modbus_pool]") {
  Harness h(1, 1);
  Clock::time_point start = h.now;
  ModbusExchange& a = h.submit_read(1);  // deadline start + 1 s; the connection never comes up
  h.now = start + 500ms;
  ModbusExchange& b = h.submit_read(2);  // deadline start + 1.5 s

  CHECK(h.core.on_tick(start + 999ms));
  CHECK(h.owner.done.empty());
  CHECK(h.core.on_tick(start + 1000ms));
  CHECK(h.owner.done == std::vector<Done>{{&a, Outcome::timeout}});
  CHECK(h.core.on_tick(start + 1499ms));
  CHECK(h.owner.done.size() == 1);
  h.core.on_tick(start + 1500ms);
  CHECK(h.owner.done == std::vector<Done>{{&a, Outcome::timeout}, {&b, Outcome::timeout}});
  CHECK(h.io.sent.empty());
}

TEST_CASE("a connect stuck longer than the request timeout fails as connect timeout", "[proxy][modbus_pool]") {
  Harness h(1, 1);
  Clock::time_point start = h.now;
  h.submit_read(1);
  REQUIRE(h.core.state(0) == ModbusPoolCore::State::connecting);

  h.core.on_tick(start + 1000ms);  // not longer than the timeout yet
  CHECK(h.io.closed.empty());
  h.core.on_tick(start + 1001ms);
  CHECK(h.io.reported == std::vector<std::pair<std::size_t, PoolFailure>>{{0, PoolFailure::connect_timeout}});
  CHECK(h.io.closed.size() == 1);
  CHECK(h.core.state(0) == ModbusPoolCore::State::backoff);
}

TEST_CASE("an in-flight request past its deadline fails its connection and every request on it as timeout",
          "[proxy][modbus_pool]") {
  Harness h(1, 2);
  Clock::time_point start = h.now;
  ModbusExchange& a = h.submit_read(1);
  h.now = start + 300ms;
  ModbusExchange& b = h.submit_read(2);
  h.core.on_connected(0, h.now);
  REQUIRE(h.core.in_flight(0) == 2);

  h.core.on_tick(start + 999ms);
  CHECK(h.io.closed.empty());
  h.core.on_tick(start + 1000ms);
  CHECK(h.io.reported == std::vector<std::pair<std::size_t, PoolFailure>>{{0, PoolFailure::request_timeout}});
  CHECK(h.io.closed.size() == 1);
  // b had time left, but a late answer to a could be taken for it.
  CHECK(h.owner.done == std::vector<Done>{{&a, Outcome::timeout}, {&b, Outcome::timeout}});
}

TEST_CASE("reconnect backoff doubles from 100 ms to 5 s and a good response resets it", "[proxy][modbus_pool]") {
  Harness h(1, 1);
  ModbusExchange& exchange = h.submit_read(1);
  for (int attempt = 0; attempt < 8; ++attempt) {
    REQUIRE(h.core.state(0) == ModbusPoolCore::State::connecting);
    h.core.on_connection_lost(0);  // refused
    h.core.on_backoff_over(0, h.now);  // the request still waits, so it tries again
  }
  std::vector<std::chrono::milliseconds> backoffs;
  for (const FakeIo::Closed& closed : h.io.closed) backoffs.push_back(closed.backoff);
  CHECK(backoffs == std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms, 800ms, 1600ms, 3200ms, 5000ms, 5000ms});

  h.core.on_connected(0, h.now);
  h.respond_to(exchange);
  REQUIRE(h.owner.done == std::vector<Done>{{&exchange, Outcome::response}});
  h.core.on_connection_lost(0);
  CHECK(h.io.closed.back().backoff == 100ms);
}

TEST_CASE("a cancelled queued request is never sent and its owner is never called", "[proxy][modbus_pool]") {
  Harness h(1, 1);
  ModbusExchange& a = h.submit_read(1);
  ModbusExchange& b = h.submit_read(2);
  ModbusExchange& c = h.submit_read(3);
  h.core.cancel(b);
  CHECK(b.owner == nullptr);
  h.core.on_connected(0, h.now);
  h.respond_to(a);
  h.respond_to(c);
  CHECK(h.sent_order() == std::vector<const ModbusExchange*>{&a, &c});
  CHECK(h.owner.done == std::vector<Done>{{&a, Outcome::response}, {&c, Outcome::response}});
  h.core.on_tick(h.now + 1h);  // nor does it time out
  CHECK(h.owner.done.size() == 2);
}

TEST_CASE("a response for a cancelled in-flight request is discarded and its owner is never called",
          "[proxy][modbus_pool]") {
  Harness h(1, 1);
  ModbusExchange& a = h.submit_read(1);
  ModbusExchange& b = h.submit_read(2);
  h.core.on_connected(0, h.now);
  std::uint16_t wire_id = h.sent(a).transaction_id;
  h.core.cancel(a);
  CHECK(h.core.in_flight(0) == 0);

  h.respond(0, wire_id);
  CHECK(h.owner.done.empty());
  CHECK(h.io.closed.empty());
  CHECK(h.core.state(0) == ModbusPoolCore::State::ready);
  // The freed slot takes the next request in line at the next dispatch.
  h.submit_read(3);
  CHECK(h.sent_order() == std::vector<const ModbusExchange*>{&a, &b});
}

TEST_CASE("completion is never reported from inside submit, even when the send fails at once",
          "[proxy][modbus_pool]") {
  Harness h(1, 1);
  ModbusExchange& first = h.submit_read(1);
  h.core.on_connected(0, h.now);
  h.respond_to(first);
  REQUIRE(h.owner.done.size() == 1);

  h.io.fail_sends = true;
  ModbusExchange& failed = h.submit_read(2);
  CHECK(h.io.closed.size() == 1);  // the connection is failed at once ...
  CHECK(h.core.state(0) == ModbusPoolCore::State::backoff);
  CHECK(h.owner.done.size() == 1);  // ... but the owner hears of it later
  CHECK(h.io.deferred == 1);

  h.core.deliver();
  CHECK_FALSE(h.owner.called_while_submitting);
  CHECK(h.owner.done.back() == Done{&failed, Outcome::upstream_failed});
}

TEST_CASE("an exchange cancelled while its completion waits for delivery is never delivered",
          "[proxy][modbus_pool]") {
  Harness h(1, 2);
  ModbusExchange& first = h.submit_read(1);
  h.core.on_connected(0, h.now);
  h.io.fail_sends = true;
  ModbusExchange& doomed = h.submit_read(2);  // the failed send takes `first` down with it
  REQUIRE(h.io.deferred == 1);
  REQUIRE(h.owner.done.empty());

  h.core.cancel(doomed);  // its owner takes it back before the delivery runs ...
  doomed.owner = &h.owner;
  h.submit(doomed);  // ... and reuses it: it now waits for the connection to come back
  h.core.deliver();
  CHECK(h.owner.done == std::vector<Done>{{&first, Outcome::upstream_failed}});
  CHECK(doomed.outcome == Outcome::pending);
}

TEST_CASE("the tick keeps running while requests are pending and once more after a submission",
          "[proxy][modbus_pool]") {
  Harness h(1, 1);
  ModbusExchange& a = h.submit_read(1);
  h.core.on_connected(0, h.now);
  h.respond_to(a);
  CHECK(h.core.on_tick(h.now));  // nothing pending, but a request came since the last tick
  CHECK_FALSE(h.core.on_tick(h.now));

  ModbusExchange& b = h.submit_read(2);
  CHECK(h.core.on_tick(h.now));
  CHECK(h.core.on_tick(h.now));  // still in flight
  h.respond_to(b);
  CHECK_FALSE(h.core.on_tick(h.now));
}
