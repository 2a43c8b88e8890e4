// The scheduling logic of a Modbus upstream pool (modbus_pool.hpp), without I/O: which
// request goes out next and on which connection, which transaction id it carries on the
// wire, which exchange a response answers, when a connection is opened, failed, retried.
// ModbusPool drives it from its sockets and timers; the unit tests drive it with a fake.
//
// Contract:
// - No Asio, no clock reads: every entry point that needs the time gets it as `now`.
// - No allocation per request: the wait queue and the list of completed exchanges are
//   linked through the exchanges themselves; in-flight slots are allocated once.
// - Owners are called back only from the I/O side's entry points (on_*, deliver()),
//   never from inside submit() or cancel(); a failure found while submitting is delivered
//   later, through ModbusPoolIo::defer_delivery().
// - A connection is named by its index, 0 .. max_connections - 1.
//
// Threading: the pool's I/O thread only, like the pool.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "config/model.hpp"
#include "protocols/modbus/codec.hpp"

namespace conduit::proxy {

class ModbusExchange;

class ModbusExchangeOwner {
 public:
  // Called once per submitted exchange that was not cancelled, never from inside submit().
  virtual void on_exchange_done(ModbusExchange& exchange) = 0;

 protected:
  ~ModbusExchangeOwner() = default;
};

enum class ExchangeOutcome : std::uint8_t { pending, response, timeout, upstream_failed };

// One request from a client and, when it completes, its response, both as ADUs.
class ModbusExchange {
 public:
  // Request ADU as the client will see it answered: the pool rewrites the transaction id
  // on the wire and restores `client_transaction_id` in `response`.
  std::array<std::uint8_t, protocols::modbus::kMaxAduSize> request{};
  std::size_t request_size = 0;
  protocols::modbus::Request decoded;  // spans point into `request`
  std::uint16_t client_transaction_id = 0;

  std::array<std::uint8_t, protocols::modbus::kMaxAduSize> response{};
  std::size_t response_size = 0;
  ExchangeOutcome outcome = ExchangeOutcome::pending;

  ModbusExchangeOwner* owner = nullptr;
  std::chrono::steady_clock::time_point deadline{};

 private:
  friend class ModbusPoolCore;
  enum class Place : std::uint8_t { none, queued, in_flight, done };
  Place place_ = Place::none;
  ModbusExchange* next_ = nullptr;  // in the wait queue, or in the list of completed ones
  std::size_t connection_ = 0;      // while in flight
  std::uint16_t upstream_transaction_id_ = 0;
};

// Failures the core detects itself; the I/O side counts and logs them.
enum class PoolFailure : std::uint8_t {
  response_mismatch,  // a response that does not answer its request
  request_timeout,    // an in-flight request got no response by its deadline
  connect_timeout,    // a connect took longer than request_timeout
};

// What the core asks of the I/O side. Each call is made from inside a core entry point.
class ModbusPoolIo {
 public:
  // Start connecting `connection`; report on_connected() or on_connection_lost().
  virtual void open(std::size_t connection) = 0;
  // Write `exchange.request` with `transaction_id` in place of its own. false: the write
  // failed (counted by the I/O side) and the core fails the connection.
  virtual bool send(std::size_t connection, const ModbusExchange& exchange, std::uint16_t transaction_id) = 0;
  // Close `connection`, forget what it had buffered, and call on_backoff_over() after `backoff`.
  virtual void close(std::size_t connection, std::chrono::milliseconds backoff) = 0;
  // Count and log a failure the core found (the connection is closed next).
  virtual void report(std::size_t connection, PoolFailure failure) = 0;
  // Completed exchanges wait that could not be delivered yet: call deliver() soon, from
  // the event loop.
  virtual void defer_delivery() = 0;

 protected:
  ~ModbusPoolIo() = default;
};

class ModbusPoolCore {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kInitialBackoff{100};
  static constexpr std::chrono::milliseconds kMaxBackoff{5000};

  enum class State : std::uint8_t { closed, connecting, ready, backoff };

  // Uses max_connections, max_in_flight and request_timeout of `settings`. `io` outlives the core.
  ModbusPoolCore(const config::ModbusAssetSettings& settings, ModbusPoolIo& io);

  // From the pool's users. `request`, `request_size` and `decoded` must be set.
  void submit(ModbusExchange& exchange, Clock::time_point now);
  // Forgets the exchange wherever it is, without calling its owner.
  void cancel(ModbusExchange& exchange);

  // From the I/O side, for a connection that is still the one the core opened.
  void on_connected(std::size_t connection, Clock::time_point now);
  void on_response(std::size_t connection, const protocols::modbus::Response& response, Clock::time_point now);
  // The connection broke (connect, read or framing error, already counted and logged):
  // its in-flight exchanges complete as upstream_failed.
  void on_connection_lost(std::size_t connection);
  void on_backoff_over(std::size_t connection, Clock::time_point now);
  // Checks deadlines. Returns whether to tick again (requests pending, or traffic since
  // the last tick).
  bool on_tick(Clock::time_point now);
  // Calls the owners of completed exchanges; see defer_delivery().
  void deliver();

  // For tests and diagnostics.
  State state(std::size_t connection) const { return connections_[connection].state; }
  unsigned in_flight(std::size_t connection) const { return connections_[connection].in_flight_count; }

 private:
  using Place = ModbusExchange::Place;

  // A FIFO linked through ModbusExchange::next_.
  struct List {
    ModbusExchange* head = nullptr;
    ModbusExchange* tail = nullptr;
    bool empty() const { return head == nullptr; }
    void push_back(ModbusExchange& exchange);
    ModbusExchange* pop_front();
    void remove(ModbusExchange& exchange);
  };

  struct Connection {
    State state = State::closed;
    Clock::time_point connect_started{};
    std::chrono::milliseconds backoff = kInitialBackoff;
    std::vector<ModbusExchange*> in_flight;  // max_in_flight slots, nullptr = free
    unsigned in_flight_count = 0;
    std::uint16_t next_transaction_id = 1;
  };

  void dispatch(Clock::time_point now);
  Connection* least_loaded_ready();
  void open_one_more(Clock::time_point now);
  void send(std::size_t index, ModbusExchange& exchange);
  std::uint16_t next_free_id(Connection& connection);
  ModbusExchange** slot_of(Connection& connection, std::uint16_t transaction_id);
  void release(Connection& connection, ModbusExchange*& slot);
  void expire_queued(Clock::time_point now);
  void fail_connection(std::size_t index, ExchangeOutcome outcome);
  void complete(ModbusExchange& exchange, ExchangeOutcome outcome);

  ModbusPoolIo& io_;
  unsigned max_in_flight_;
  Clock::duration request_timeout_;
  std::vector<Connection> connections_;
  List queue_;  // waiting for a connection, in submission order
  List done_;   // completed, owners not called yet
  bool delivering_ = false;
  bool active_ = false;  // a request was submitted since the last tick
};

}  // namespace conduit::proxy
