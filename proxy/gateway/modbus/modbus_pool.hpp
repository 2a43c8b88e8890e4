// A bounded pool of upstream connections to one Modbus/TCP asset, shared by every client
// session of that asset. Real PLCs accept few TCP connections (often 1-8) and often one
// request at a time, so the pool opens at most `max_connections`, keeps at most
// `max_in_flight` requests outstanding on each, remaps transaction ids so that requests
// from many clients never collide, queues the rest, answers requests that get no response
// within `request_timeout` with exception 0B, and reconnects with exponential backoff.
//
// The decisions are ModbusPoolCore's (modbus_pool_core.hpp, no I/O); this class gives it
// sockets, timers and the clock, and counts and logs what fails.
//
// Threading: a pool and all sessions that use it live on one io_context (the asset's home
// I/O thread, see gateway.cpp), so nothing here takes a lock.
//
// Memory: no allocation per request. A request travels in a ModbusExchange that the client
// session owns (one per allowed outstanding request); the pool links it into its queues.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "audit/request_log.hpp"
#include "config/model.hpp"
#include "proxy/gateway/modbus/modbus_counters.hpp"
#include "proxy/gateway/modbus/modbus_pool_core.hpp"
#include "proxy/gateway/protocol_handler.hpp"

namespace conduit::proxy {

class ModbusPool : public std::enable_shared_from_this<ModbusPool>, private ModbusPoolIo {
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
  // ModbusPoolIo: what the core asks for.
  void open(std::size_t index) override;
  bool send(std::size_t index, const ModbusExchange& exchange, std::uint16_t transaction_id) override;
  void close(std::size_t index, std::chrono::milliseconds backoff) override;
  void report(std::size_t index, PoolFailure failure) override;
  void defer_delivery() override;

  void start_writer(Connection& connection);
  boost::asio::awaitable<void> run_connection(std::size_t index, unsigned generation);
  bool read_responses(std::size_t index, unsigned generation);
  void upstream_failed(std::string_view reason) const;
  void arm_tick();

  boost::asio::any_io_executor executor_;
  std::shared_ptr<ModbusCounters> counters_;
  config::Endpoint address_;
  config::ModbusAssetSettings settings_;
  std::vector<std::unique_ptr<Connection>> connections_;
  ModbusPoolCore core_;
  std::unique_ptr<boost::asio::steady_timer> tick_;
  bool tick_armed_ = false;
};

// The Modbus handler's state on one I/O thread: a pool per Modbus asset, and the
// counters its sessions and pools keep. A reload that changes an asset's address or
// settings gets a new pool; sessions still using the old one keep it alive.
class ModbusPools final : public WorkerState {
 public:
  explicit ModbusPools(const audit::RequestLogFile& file) : request_log_(std::make_shared<audit::RequestLog>(file)) {}

  std::shared_ptr<ModbusPool> get(boost::asio::any_io_executor executor, const config::Asset& asset);
  // Shared: a pool and its sessions may outlive this object while the gateway stops.
  const std::shared_ptr<ModbusCounters>& counters() const { return counters_; }
  const std::shared_ptr<audit::RequestLog>& request_log() const { return request_log_; }
  void add_counters(std::vector<CounterValue>& totals) const override;

 private:
  std::shared_ptr<ModbusCounters> counters_ = std::make_shared<ModbusCounters>();
  std::shared_ptr<audit::RequestLog> request_log_;  // this thread's lines of the request trail
  std::unordered_map<std::string, std::shared_ptr<ModbusPool>> pools_;
};

}  // namespace conduit::proxy
