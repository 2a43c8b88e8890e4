#include "proxy/gateway/modbus/modbus_pool.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <span>
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

}  // namespace

// The I/O half of one upstream connection; its state (closed, connecting, ...) and its
// in-flight requests are the core's.
struct ModbusPool::Connection {
  Connection(asio::any_io_executor executor, unsigned max_in_flight) : socket(executor), backoff_timer(executor) {
    out_pending.reserve(max_in_flight * modbus::kMaxAduSize);
    out_writing.reserve(max_in_flight * modbus::kMaxAduSize);
  }

  tcp::socket socket;
  asio::steady_timer backoff_timer;
  unsigned generation = 0;  // bumped on every close, so coroutines of an old socket stop

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
      settings_(asset.settings_of<config::ModbusAssetSettings>()),
      core_(settings_, *this) {
  for (unsigned i = 0; i < settings_.max_connections; ++i) {
    connections_.push_back(std::make_unique<Connection>(executor_, settings_.max_in_flight));
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
  core_.submit(exchange, Clock::now());
  arm_tick();
}

void ModbusPool::cancel(ModbusExchange& exchange) { core_.cancel(exchange); }

void ModbusPool::open(std::size_t index) {
  unsigned generation = connections_[index]->generation;
  asio::co_spawn(executor_, [self = shared_from_this(), index, generation]() {
    return self->run_connection(index, generation);
  }, report_escaped("modbus upstream connection"));
}

// Connects, then reads responses until the connection fails or is closed (`generation`
// moves on).
asio::awaitable<void> ModbusPool::run_connection(std::size_t index, unsigned generation) {
  Connection& connection = *connections_[index];
  tcp::endpoint endpoint(asio::ip::make_address(address_.host), address_.port);
  auto [error] = co_await connection.socket.async_connect(endpoint, kUseTuple);
  if (generation != connection.generation) co_return;
  if (error) {
    counters_->add(ModbusCounter::upstream_connect_failed);
    upstream_failed("connect: " + error.message());
    core_.on_connection_lost(index);
    co_return;
  }
  boost::system::error_code ignored;
  connection.socket.set_option(tcp::no_delay(true), ignored);
  connection.socket.non_blocking(true, ignored);  // for the direct send in send()
  connection.read_filled = 0;
  core_.on_connected(index, Clock::now());

  while (generation == connection.generation) {
    auto free_space = asio::buffer(connection.read_buffer.data() + connection.read_filled,
                                   connection.read_buffer.size() - connection.read_filled);
    auto [read_error, n] = co_await connection.socket.async_read_some(free_space, kUseTuple);
    if (generation != connection.generation) co_return;
    if (read_error) {
      counters_->add(ModbusCounter::upstream_read_failed);
      upstream_failed(read_error.message());
      core_.on_connection_lost(index);
      co_return;
    }
    connection.read_filled += n;
    if (!read_responses(index, generation)) co_return;
  }
}

// Hands every complete response in the read buffer to the core, which matches them to
// their requests (in any order) by transaction id. false: the connection ended.
bool ModbusPool::read_responses(std::size_t index, unsigned generation) {
  Connection& connection = *connections_[index];
  Clock::time_point now = Clock::now();  // once per read, not per response
  std::size_t consumed = 0;
  for (;;) {
    auto bytes = std::span<const std::uint8_t>(connection.read_buffer.data() + consumed,
                                               connection.read_filled - consumed);
    modbus::ResponseDecode decoded = modbus::decode_response(bytes);
    if (decoded.status == modbus::DecodeStatus::need_more) break;
    if (decoded.status == modbus::DecodeStatus::malformed) {
      counters_->add(ModbusCounter::upstream_response_malformed);
      upstream_failed("malformed response framing");
      core_.on_connection_lost(index);
      return false;
    }
    core_.on_response(index, decoded.response, now);
    if (generation != connection.generation) return false;  // the response failed it
    consumed += decoded.size;
  }
  // Only now: the decoded responses pointed into the buffer.
  std::memmove(connection.read_buffer.data(), connection.read_buffer.data() + consumed,
               connection.read_filled - consumed);
  connection.read_filled -= consumed;
  return true;
}

bool ModbusPool::send(std::size_t index, const ModbusExchange& exchange, std::uint16_t transaction_id) {
  Connection& connection = *connections_[index];
  // On the wire the request carries the pool's transaction id; the exchange keeps the
  // client's, so the bytes go out as two pieces instead of being copied to patch them.
  const std::array<std::uint8_t, 2> wire_id{static_cast<std::uint8_t>(transaction_id >> 8),
                                            static_cast<std::uint8_t>(transaction_id & 0xff)};
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
      return false;
    }
    if (sent == exchange.request_size) return true;
  }
  // What the socket did not take waits, in order, for the writer.
  for (std::size_t i = sent; i < 2; ++i) connection.out_pending.push_back(wire_id[i]);
  std::size_t rest_sent = sent > 2 ? sent - 2 : 0;
  connection.out_pending.insert(connection.out_pending.end(), rest.begin() + rest_sent, rest.end());
  if (!connection.writing) start_writer(connection);
  return true;
}

// A write error is only counted here: the reader sees the broken connection too, and
// reports it once.
void ModbusPool::start_writer(Connection& connection) {
  connection.writing = true;
  unsigned generation = connection.generation;
  asio::co_spawn(executor_, [self = shared_from_this(), &connection, generation]() -> asio::awaitable<void> {
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

void ModbusPool::close(std::size_t index, std::chrono::milliseconds backoff) {
  Connection& connection = *connections_[index];
  ++connection.generation;
  boost::system::error_code ignored;
  connection.socket.close(ignored);
  connection.out_pending.clear();
  connection.writing = false;
  connection.read_filled = 0;

  unsigned generation = connection.generation;
  connection.backoff_timer.expires_after(backoff);
  connection.backoff_timer.async_wait([self = shared_from_this(), index, generation](boost::system::error_code) {
    if (generation != self->connections_[index]->generation) return;
    self->core_.on_backoff_over(index, Clock::now());
  });
}

void ModbusPool::report(std::size_t, PoolFailure failure) {
  switch (failure) {
    case PoolFailure::response_mismatch:
      counters_->add(ModbusCounter::upstream_response_mismatch);
      upstream_failed("response does not match its request");
      break;
    case PoolFailure::request_timeout:
      counters_->add(ModbusCounter::upstream_request_timeout);
      upstream_failed("request timeout");
      break;
    case PoolFailure::connect_timeout:
      counters_->add(ModbusCounter::upstream_connect_timeout);
      upstream_failed("connect timeout");
      break;
  }
}

void ModbusPool::defer_delivery() {
  asio::post(executor_, [self = shared_from_this()] { self->core_.deliver(); });
}

void ModbusPool::upstream_failed(std::string_view reason) const {
  log_event(LogLevel::warn, "modbus_upstream_failed", {{"upstream", address_.to_string()}, {"reason", reason}});
}

// Deadlines are checked by one periodic tick per pool while requests are pending, so a
// request costs no timer operation of its own.
void ModbusPool::arm_tick() {
  if (tick_armed_) return;
  tick_armed_ = true;
  auto period = std::clamp<Clock::duration>(settings_.request_timeout / 4, std::chrono::milliseconds(5),
                                            std::chrono::milliseconds(250));
  tick_->expires_after(period);
  tick_->async_wait([self = shared_from_this()](boost::system::error_code) {
    self->tick_armed_ = false;
    if (self->core_.on_tick(Clock::now())) self->arm_tick();
  });
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
