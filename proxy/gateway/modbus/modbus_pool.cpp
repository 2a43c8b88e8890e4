#include "proxy/gateway/modbus/modbus_pool.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <vector>

#include "proxy/net/event_log.hpp"
#include "proxy/net/spawn.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
namespace modbus = protocols::modbus;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kInitialBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);

}  // namespace

struct ModbusPool::Connection {
  enum class State { closed, connecting, ready, backoff };

  Connection(asio::any_io_executor executor, std::size_t index, unsigned max_in_flight)
      : index(index), socket(executor), backoff_timer(executor), in_flight(max_in_flight, nullptr) {
    out_pending.reserve(max_in_flight * modbus::kMaxAduSize);
    out_writing.reserve(max_in_flight * modbus::kMaxAduSize);
  }

  std::size_t index;
  tcp::socket socket;
  asio::steady_timer backoff_timer;
  State state = State::closed;
  unsigned generation = 0;  // bumped on every close, so coroutines of an old socket stop
  Clock::time_point connect_started{};
  std::chrono::milliseconds backoff = kInitialBackoff;

  std::vector<ModbusExchange*> in_flight;  // nullptr = free slot
  unsigned in_flight_count = 0;
  std::uint16_t next_transaction_id = 1;

  std::array<std::uint8_t, 4 * modbus::kMaxAduSize> read_buffer{};
  std::size_t read_filled = 0;
  std::vector<std::uint8_t> out_pending;  // appended by send()
  std::vector<std::uint8_t> out_writing;  // being written
  bool writing = false;
};

ModbusPool::ModbusPool(asio::any_io_executor executor, const config::Asset& asset,
                       std::shared_ptr<ModbusCounters> counters)
    : executor_(std::move(executor)),
      counters_(std::move(counters)),
      address_(asset.address),
      settings_(asset.settings_of<config::ModbusAssetSettings>()) {
  for (unsigned i = 0; i < settings_.max_connections; ++i) {
    connections_.push_back(std::make_unique<Connection>(executor_, i, settings_.max_in_flight));
  }
  tick_ = std::make_unique<asio::steady_timer>(executor_);
}

ModbusPool::~ModbusPool() = default;

bool ModbusPool::same_settings(const config::Asset& asset) const {
  const auto& other = asset.settings_of<config::ModbusAssetSettings>();
  return asset.address.to_string() == address_.to_string() && other.unit_ids == settings_.unit_ids &&
         other.max_connections == settings_.max_connections && other.max_in_flight == settings_.max_in_flight &&
         other.request_timeout == settings_.request_timeout;
}

void ModbusPool::submit(ModbusExchange& exchange) {
  active_ = true;
  exchange.outcome = ExchangeOutcome::pending;
  exchange.deadline = Clock::now() + settings_.request_timeout;
  exchange.next_ = nullptr;
  exchange.queued_ = true;
  if (queue_tail_) {
    queue_tail_->next_ = &exchange;
  } else {
    queue_head_ = &exchange;
  }
  queue_tail_ = &exchange;
  dispatch();
  arm_tick();
}

void ModbusPool::cancel(ModbusExchange& exchange) {
  if (exchange.queued_) {
    ModbusExchange** link = &queue_head_;
    ModbusExchange* previous = nullptr;
    while (*link && *link != &exchange) {
      previous = *link;
      link = &(*link)->next_;
    }
    if (*link) {
      *link = exchange.next_;
      if (queue_tail_ == &exchange) queue_tail_ = previous;
    }
    exchange.queued_ = false;
  }
  if (exchange.connection_ >= 0) {
    Connection& connection = *connections_[exchange.connection_];
    auto slot = std::find(connection.in_flight.begin(), connection.in_flight.end(), &exchange);
    if (slot != connection.in_flight.end()) {
      *slot = nullptr;
      --connection.in_flight_count;
    }
    exchange.connection_ = -1;
  }
  exchange.owner = nullptr;
}

void ModbusPool::dispatch() {
  while (queue_head_) {
    Connection* best = nullptr;
    for (auto& connection : connections_) {
      if (connection->state == Connection::State::ready && connection->in_flight_count < settings_.max_in_flight &&
          (!best || connection->in_flight_count < best->in_flight_count)) {
        best = connection.get();
      }
    }
    if (!best) {
      // Open one more connection at a time: a PLC at its connection limit should see one
      // refused attempt, not a burst.
      bool connecting = std::any_of(connections_.begin(), connections_.end(),
                                    [](auto& c) { return c->state == Connection::State::connecting; });
      if (!connecting) {
        for (std::size_t i = 0; i < connections_.size(); ++i) {
          if (connections_[i]->state == Connection::State::closed) {
            connect(i);
            break;
          }
        }
      }
      return;
    }
    ModbusExchange& exchange = *queue_head_;
    queue_head_ = exchange.next_;
    if (!queue_head_) queue_tail_ = nullptr;
    exchange.queued_ = false;
    send(*best, exchange);
  }
}

void ModbusPool::send(Connection& connection, ModbusExchange& exchange) {
  auto id_in_use = [&](std::uint16_t id) {
    return std::any_of(connection.in_flight.begin(), connection.in_flight.end(),
                       [&](ModbusExchange* e) { return e && e->upstream_transaction_id_ == id; });
  };
  std::uint16_t id = connection.next_transaction_id++;
  while (id_in_use(id)) id = connection.next_transaction_id++;
  auto slot = std::find(connection.in_flight.begin(), connection.in_flight.end(), nullptr);
  *slot = &exchange;
  ++connection.in_flight_count;
  exchange.connection_ = static_cast<int>(connection.index);
  exchange.upstream_transaction_id_ = id;

  // On the wire the request carries the pool's transaction id; the exchange keeps the
  // client's, so the bytes go out as two pieces instead of being copied to patch them.
  const std::array<std::uint8_t, 2> wire_id{static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id & 0xff)};
  std::span<const std::uint8_t> rest(exchange.request.data() + 2, exchange.request_size - 2);
  std::size_t sent = 0;
  if (!connection.writing && connection.out_pending.empty()) {
    // The common case: the socket takes the whole request at once. Sending it here saves
    // a copy, a coroutine and an event-loop turn per request; only a full socket buffer
    // falls back to the asynchronous writer.
    boost::system::error_code error;
    std::array<asio::const_buffer, 2> pieces{asio::buffer(wire_id), asio::buffer(rest.data(), rest.size())};
    sent = connection.socket.send(pieces, 0, error);
    if (error && error != asio::error::would_block) {
      counters_->add(ModbusCounter::upstream_write_failed);
      fail_connection(connection, ExchangeOutcome::upstream_failed);
      return;
    }
    if (sent == exchange.request_size) return;
  }
  // What the socket did not take waits, in order, for the writer.
  for (std::size_t i = sent; i < 2; ++i) connection.out_pending.push_back(wire_id[i]);
  std::size_t rest_sent = sent > 2 ? sent - 2 : 0;
  connection.out_pending.insert(connection.out_pending.end(), rest.begin() + rest_sent, rest.end());
  if (connection.writing) return;

  connection.writing = true;
  auto self = shared_from_this();
  unsigned generation = connection.generation;
  asio::co_spawn(executor_, [self, &connection, generation]() -> asio::awaitable<void> {
    while (!connection.out_pending.empty() && generation == connection.generation) {
      std::swap(connection.out_pending, connection.out_writing);
      auto [error, unused] = co_await asio::async_write(connection.socket, asio::buffer(connection.out_writing), kUseTuple);
      connection.out_writing.clear();
      if (error && generation == connection.generation) self->counters_->add(ModbusCounter::upstream_write_failed);
      if (error || generation != connection.generation) break;
    }
    if (generation == connection.generation) connection.writing = false;
  }, report_escaped("modbus upstream writer"));
}

void ModbusPool::connect(std::size_t index) {
  Connection& connection = *connections_[index];
  connection.state = Connection::State::connecting;
  connection.connect_started = Clock::now();
  auto self = shared_from_this();
  unsigned generation = connection.generation;
  asio::co_spawn(executor_, [self, this, &connection, generation]() -> asio::awaitable<void> {
    tcp::endpoint endpoint(asio::ip::make_address(address_.host), address_.port);
    auto [error] = co_await connection.socket.async_connect(endpoint, kUseTuple);
    if (generation != connection.generation) co_return;
    if (error) {
      counters_->add(ModbusCounter::upstream_connect_failed);
      log_event(LogLevel::warn, "modbus_upstream_failed",
                {{"upstream", address_.to_string()}, {"reason", "connect: " + error.message()}});
      fail_connection(connection, ExchangeOutcome::upstream_failed);
      co_return;
    }
    boost::system::error_code ignored;
    connection.socket.set_option(tcp::no_delay(true), ignored);
    connection.socket.non_blocking(true, ignored);  // for the direct send in send()
    connection.state = Connection::State::ready;
    connection.read_filled = 0;
    dispatch();

    // Reader: responses in any order; matched by the transaction id the pool assigned.
    while (generation == connection.generation) {
      auto free_space = asio::buffer(connection.read_buffer.data() + connection.read_filled,
                                     connection.read_buffer.size() - connection.read_filled);
      auto [read_error, n] = co_await connection.socket.async_read_some(free_space, kUseTuple);
      if (generation != connection.generation) co_return;
      if (read_error) {
        counters_->add(ModbusCounter::upstream_read_failed);
        log_event(LogLevel::warn, "modbus_upstream_failed",
                  {{"upstream", address_.to_string()}, {"reason", read_error.message()}});
        fail_connection(connection, ExchangeOutcome::upstream_failed);
        co_return;
      }
      connection.read_filled += n;
      std::size_t consumed = 0;
      for (;;) {
        auto bytes = std::span<const std::uint8_t>(connection.read_buffer.data() + consumed,
                                                   connection.read_filled - consumed);
        modbus::ResponseDecode decoded = modbus::decode_response(bytes);
        if (decoded.status == modbus::DecodeStatus::need_more) break;
        if (decoded.status == modbus::DecodeStatus::malformed) {
          counters_->add(ModbusCounter::upstream_response_malformed);
          log_event(LogLevel::warn, "modbus_upstream_failed",
                    {{"upstream", address_.to_string()}, {"reason", "malformed response framing"}});
          fail_connection(connection, ExchangeOutcome::upstream_failed);
          co_return;
        }
        on_response(connection, decoded.response);
        if (generation != connection.generation) co_return;
        consumed += decoded.size;
      }
      std::memmove(connection.read_buffer.data(), connection.read_buffer.data() + consumed,
                   connection.read_filled - consumed);
      connection.read_filled -= consumed;
    }
  }, report_escaped("modbus upstream connection"));
}

void ModbusPool::on_response(Connection& connection, const modbus::Response& response) {
  auto slot = std::find_if(connection.in_flight.begin(), connection.in_flight.end(), [&](ModbusExchange* e) {
    return e && e->upstream_transaction_id_ == response.mbap.transaction_id;
  });
  if (slot == connection.in_flight.end()) return;  // answer to a cancelled request
  ModbusExchange& exchange = **slot;
  if (response.anomalies != modbus::kAnomalyNone || !modbus::response_matches(exchange.decoded, response)) {
    // The PLC answered something else than what was asked: nothing on this connection
    // can be trusted any more.
    counters_->add(ModbusCounter::upstream_response_mismatch);
    log_event(LogLevel::warn, "modbus_upstream_failed",
              {{"upstream", address_.to_string()}, {"reason", "response does not match its request"}});
    fail_connection(connection, ExchangeOutcome::upstream_failed);
    return;
  }
  *slot = nullptr;
  --connection.in_flight_count;
  exchange.response_size = modbus::encode_response(response, exchange.client_transaction_id, exchange.response);
  connection.backoff = kInitialBackoff;
  complete(exchange, ExchangeOutcome::response);
  dispatch();
}

void ModbusPool::fail_connection(Connection& connection, ExchangeOutcome outcome) {
  ++connection.generation;
  boost::system::error_code ignored;
  connection.socket.close(ignored);
  connection.out_pending.clear();
  connection.writing = false;
  connection.read_filled = 0;
  connection.state = Connection::State::backoff;

  // Collect first: completing calls into sessions, which may cancel other exchanges.
  std::array<ModbusExchange*, 64> failed{};
  std::size_t count = 0;
  for (ModbusExchange*& exchange : connection.in_flight) {
    if (exchange && count < failed.size()) failed[count++] = exchange;
    exchange = nullptr;
  }
  connection.in_flight_count = 0;

  auto self = shared_from_this();
  unsigned generation = connection.generation;
  connection.backoff_timer.expires_after(connection.backoff);
  connection.backoff = std::min(connection.backoff * 2, kMaxBackoff);
  connection.backoff_timer.async_wait([self, &connection, generation](boost::system::error_code) {
    if (generation != connection.generation) return;
    connection.state = Connection::State::closed;
    self->dispatch();
  });

  for (std::size_t i = 0; i < count; ++i) complete(*failed[i], outcome);
}

void ModbusPool::complete(ModbusExchange& exchange, ExchangeOutcome outcome) {
  exchange.outcome = outcome;
  exchange.connection_ = -1;
  if (exchange.owner) exchange.owner->on_exchange_done(exchange);
}

void ModbusPool::arm_tick() {
  if (tick_armed_) return;
  tick_armed_ = true;
  auto period = std::clamp<Clock::duration>(settings_.request_timeout / 4, std::chrono::milliseconds(5),
                                            std::chrono::milliseconds(250));
  tick_->expires_after(period);
  auto self = shared_from_this();
  tick_->async_wait([self](boost::system::error_code) {
    self->tick_armed_ = false;
    self->on_tick();
  });
}

// Deadlines are checked by one periodic tick per pool while requests are pending, so a
// request costs no timer operation of its own.
void ModbusPool::on_tick() {
  Clock::time_point now = Clock::now();
  // Expired requests that never left the queue (no connection could be had).
  std::array<ModbusExchange*, 256> expired{};
  std::size_t count = 0;
  while (queue_head_ && queue_head_->deadline <= now && count < expired.size()) {
    ModbusExchange* exchange = queue_head_;
    queue_head_ = exchange->next_;
    if (!queue_head_) queue_tail_ = nullptr;
    exchange->queued_ = false;
    expired[count++] = exchange;
  }
  for (std::size_t i = 0; i < count; ++i) complete(*expired[i], ExchangeOutcome::timeout);

  bool busy = queue_head_ != nullptr;
  for (auto& connection : connections_) {
    bool overdue = std::any_of(connection->in_flight.begin(), connection->in_flight.end(),
                               [&](ModbusExchange* e) { return e && e->deadline <= now; });
    bool stuck_connecting = connection->state == Connection::State::connecting &&
                            now - connection->connect_started > settings_.request_timeout;
    if (overdue || stuck_connecting) {
      // A request unanswered in time leaves the connection in an unknown state (a late
      // answer could be taken for the next one), so it is closed and reopened.
      counters_->add(overdue ? ModbusCounter::upstream_request_timeout : ModbusCounter::upstream_connect_timeout);
      log_event(LogLevel::warn, "modbus_upstream_failed",
                {{"upstream", address_.to_string()}, {"reason", overdue ? "request timeout" : "connect timeout"}});
      fail_connection(*connection, ExchangeOutcome::timeout);
    }
    busy = busy || connection->in_flight_count > 0;
  }
  // Stays armed through a tick with no pending request if there was traffic since the
  // last one: re-arming per request would cost a timer system call each time.
  if (busy || queue_head_ || active_) arm_tick();
  active_ = false;
}

std::shared_ptr<ModbusPool> ModbusPools::get(asio::any_io_executor executor, const config::Asset& asset) {
  auto& pool = pools_[asset.name];
  if (!pool || !pool->same_settings(asset)) pool = std::make_shared<ModbusPool>(std::move(executor), asset, counters_);
  return pool;
}

void ModbusPools::add_counters(std::vector<CounterValue>& totals) const {
  proxy::add_counters(totals, "modbus", kModbusCounterNames, *counters_);
}

}  // namespace conduit::proxy
