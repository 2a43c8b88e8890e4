// A bounded pool of upstream connections to one Modbus/TCP asset, shared by every client
// session of that asset. Real PLCs accept few TCP connections (often 1-8) and often one
// request at a time, so the pool opens at most `max_connections`, keeps at most
// `max_in_flight` requests outstanding on each, remaps transaction ids so that requests
// from many clients never collide, queues the rest, answers requests that get no response
// within `request_timeout` with exception 0B, and reconnects with exponential backoff.
//
// Threading: a pool and all sessions that use it live on one io_context (the asset's home
// I/O thread, see gateway.cpp), so nothing here takes a lock.
//
// Memory: no allocation per request. A request travels in a ModbusExchange that the client
// session owns (one per allowed outstanding request); the pool links it into its queues.
#pragma once

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "config/model.hpp"
#include "proxy/gateway/modbus/modbus_counters.hpp"
#include "proxy/gateway/protocol_handler.hpp"
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
  friend class ModbusPool;
  ModbusExchange* next_ = nullptr;  // in the pool's wait queue
  bool queued_ = false;
  int connection_ = -1;             // index while in flight
  std::uint16_t upstream_transaction_id_ = 0;
};

class ModbusPool : public std::enable_shared_from_this<ModbusPool> {
 public:
  // `counters`: of the pool's I/O thread, shared with its sessions.
  ModbusPool(boost::asio::any_io_executor executor, const config::Asset& asset,
             std::shared_ptr<ModbusCounters> counters);
  ~ModbusPool();

  // Queues the exchange; it completes through its owner. `request`/`decoded` must be set.
  void submit(ModbusExchange& exchange);
  // Forgets the exchange without calling its owner (the owner is going away). A response
  // that arrives for it later is discarded.
  void cancel(ModbusExchange& exchange);

  bool same_settings(const config::Asset& asset) const;

 private:
  struct Connection;
  void dispatch();
  void send(Connection& connection, ModbusExchange& exchange);
  void connect(std::size_t index);
  void on_response(Connection& connection, const protocols::modbus::Response& response);
  void fail_connection(Connection& connection, ExchangeOutcome outcome);
  void complete(ModbusExchange& exchange, ExchangeOutcome outcome);
  void arm_tick();
  void on_tick();

  boost::asio::any_io_executor executor_;
  std::shared_ptr<ModbusCounters> counters_;
  config::Endpoint address_;
  config::ModbusAssetSettings settings_;
  std::vector<std::unique_ptr<Connection>> connections_;
  ModbusExchange* queue_head_ = nullptr;
  ModbusExchange* queue_tail_ = nullptr;
  std::unique_ptr<boost::asio::steady_timer> tick_;
  bool tick_armed_ = false;
  bool active_ = false;  // a request was submitted since the last tick
};

// The Modbus handler's state on one I/O thread: a pool per Modbus asset, and the
// counters its sessions and pools keep. A reload that changes an asset's address or
// settings gets a new pool; sessions still using the old one keep it alive.
class ModbusPools final : public WorkerState {
 public:
  std::shared_ptr<ModbusPool> get(boost::asio::any_io_executor executor, const config::Asset& asset);
  // Shared: a pool and its sessions may outlive this object while the gateway stops.
  const std::shared_ptr<ModbusCounters>& counters() const { return counters_; }
  void add_counters(std::vector<CounterValue>& totals) const override;

 private:
  std::shared_ptr<ModbusCounters> counters_ = std::make_shared<ModbusCounters>();
  std::unordered_map<std::string, std::shared_ptr<ModbusPool>> pools_;
};

}  // namespace conduit::proxy
