#include "proxy/gateway/modbus/modbus_pool_core.hpp"

#include <algorithm>

namespace conduit::proxy {

namespace modbus = protocols::modbus;

void ModbusPoolCore::List::push_back(ModbusExchange& exchange) {
  exchange.next_ = nullptr;
  if (tail) {
    tail->next_ = &exchange;
  } else {
    head = &exchange;
  }
  tail = &exchange;
}

ModbusExchange* ModbusPoolCore::List::pop_front() {
  ModbusExchange* exchange = head;
  if (!exchange) return nullptr;
  head = exchange->next_;
  if (!head) tail = nullptr;
  exchange->next_ = nullptr;
  return exchange;
}

// A walk, but only when an owner goes away with exchanges still pending: rare, and the
// lists are no longer than the requests waiting for the asset.
void ModbusPoolCore::List::remove(ModbusExchange& exchange) {
  ModbusExchange** link = &head;
  ModbusExchange* previous = nullptr;
  while (*link && *link != &exchange) {
    previous = *link;
    link = &(*link)->next_;
  }
  if (!*link) return;
  *link = exchange.next_;
  if (tail == &exchange) tail = previous;
  exchange.next_ = nullptr;
}

ModbusPoolCore::ModbusPoolCore(const config::ModbusAssetSettings& settings, ModbusPoolIo& io)
    : io_(io), max_in_flight_(settings.max_in_flight), request_timeout_(settings.request_timeout) {
  connections_.resize(settings.max_connections);
  for (Connection& connection : connections_) connection.in_flight.assign(max_in_flight_, nullptr);
}

void ModbusPoolCore::submit(ModbusExchange& exchange, Clock::time_point now) {
  active_ = true;
  exchange.outcome = ExchangeOutcome::pending;
  exchange.deadline = now + request_timeout_;
  exchange.place_ = Place::queued;
  queue_.push_back(exchange);
  dispatch(now);
  // A send that failed at once completed exchanges; their owners may be the caller,
  // which does not expect to be called back while it is still submitting. (Inside
  // deliver(), the loop that is running picks them up.)
  if (!done_.empty() && !delivering_) io_.defer_delivery();
}

void ModbusPoolCore::cancel(ModbusExchange& exchange) {
  switch (exchange.place_) {
    case Place::queued: queue_.remove(exchange); break;
    case Place::done: done_.remove(exchange); break;
    case Place::in_flight: {
      // The slot is free again; a response that still arrives finds no exchange for its
      // id and is dropped.
      Connection& connection = connections_[exchange.connection_];
      auto slot = std::find(connection.in_flight.begin(), connection.in_flight.end(), &exchange);
      if (slot != connection.in_flight.end()) release(connection, *slot);
      break;
    }
    case Place::none: break;
  }
  exchange.place_ = Place::none;
  exchange.owner = nullptr;
}

void ModbusPoolCore::on_connected(std::size_t index, Clock::time_point now) {
  Connection& connection = connections_[index];
  if (connection.state != State::connecting) return;
  connection.state = State::ready;
  dispatch(now);
  deliver();
}

void ModbusPoolCore::on_response(std::size_t index, const modbus::Response& response, Clock::time_point now) {
  Connection& connection = connections_[index];
  ModbusExchange** slot = slot_of(connection, response.mbap.transaction_id);
  if (!slot) return;  // answer to a cancelled request
  ModbusExchange& exchange = **slot;
  if (response.anomalies != modbus::kAnomalyNone || !modbus::response_matches(exchange.decoded, response)) {
    // The PLC answered something else than what was asked: nothing on this connection
    // can be trusted any more.
    io_.report(index, PoolFailure::response_mismatch);
    fail_connection(index, ExchangeOutcome::upstream_failed);
    deliver();
    return;
  }
  release(connection, *slot);
  exchange.response_size = modbus::encode_response(response, exchange.client_transaction_id, exchange.response);
  connection.backoff = kInitialBackoff;  // the asset works again: a later failure retries quickly
  complete(exchange, ExchangeOutcome::response);
  dispatch(now);
  deliver();
}

void ModbusPoolCore::on_connection_lost(std::size_t index) {
  State state = connections_[index].state;
  if (state != State::connecting && state != State::ready) return;  // already failed
  fail_connection(index, ExchangeOutcome::upstream_failed);
  deliver();
}

void ModbusPoolCore::on_backoff_over(std::size_t index, Clock::time_point now) {
  Connection& connection = connections_[index];
  if (connection.state != State::backoff) return;
  connection.state = State::closed;
  dispatch(now);
  deliver();
}

bool ModbusPoolCore::on_tick(Clock::time_point now) {
  expire_queued(now);
  bool busy = !queue_.empty();
  for (std::size_t index = 0; index < connections_.size(); ++index) {
    Connection& connection = connections_[index];
    bool overdue = std::any_of(connection.in_flight.begin(), connection.in_flight.end(),
                               [&](ModbusExchange* e) { return e && e->deadline <= now; });
    bool stuck_connecting = connection.state == State::connecting && now - connection.connect_started > request_timeout_;
    if (overdue || stuck_connecting) {
      // A request unanswered in time leaves the connection in an unknown state (a late
      // answer could be taken for the next one), so it is closed and reopened.
      io_.report(index, overdue ? PoolFailure::request_timeout : PoolFailure::connect_timeout);
      fail_connection(index, ExchangeOutcome::timeout);
    }
    busy = busy || connection.in_flight_count > 0;
  }
  // Ticks on through one quiet tick after traffic: stopping and restarting the timer
  // for every request would cost a timer system call each time.
  bool again = busy || active_;
  active_ = false;
  deliver();
  return again;
}

void ModbusPoolCore::deliver() {
  if (delivering_) return;  // an owner's callback led back here; the loop below goes on
  delivering_ = true;
  // Owners may cancel or submit exchanges from their callback: each one is unlinked
  // before its owner is called, and the list is read afresh every time round.
  while (ModbusExchange* exchange = done_.pop_front()) {
    exchange->place_ = Place::none;
    if (exchange->owner) exchange->owner->on_exchange_done(*exchange);
  }
  delivering_ = false;
}

void ModbusPoolCore::dispatch(Clock::time_point now) {
  while (!queue_.empty()) {
    Connection* best = least_loaded_ready();
    if (!best) {
      open_one_more(now);
      return;
    }
    ModbusExchange& exchange = *queue_.pop_front();
    send(static_cast<std::size_t>(best - connections_.data()), exchange);
  }
}

// Spreads requests over the connections: a PLC serves each of its connections in turn.
ModbusPoolCore::Connection* ModbusPoolCore::least_loaded_ready() {
  Connection* best = nullptr;
  for (Connection& connection : connections_) {
    if (connection.state == State::ready && connection.in_flight_count < max_in_flight_ &&
        (!best || connection.in_flight_count < best->in_flight_count)) {
      best = &connection;
    }
  }
  return best;
}

// One more connection at a time: a PLC at its connection limit should see one refused
// attempt, not a burst.
void ModbusPoolCore::open_one_more(Clock::time_point now) {
  bool connecting = std::any_of(connections_.begin(), connections_.end(),
                                [](const Connection& c) { return c.state == State::connecting; });
  if (connecting) return;
  for (std::size_t index = 0; index < connections_.size(); ++index) {
    Connection& connection = connections_[index];
    if (connection.state != State::closed) continue;
    connection.state = State::connecting;
    connection.connect_started = now;
    io_.open(index);
    return;
  }
}

void ModbusPoolCore::send(std::size_t index, ModbusExchange& exchange) {
  Connection& connection = connections_[index];
  std::uint16_t id = next_free_id(connection);
  // There is a free slot: least_loaded_ready() chose a connection under max_in_flight.
  auto slot = std::find(connection.in_flight.begin(), connection.in_flight.end(), nullptr);
  *slot = &exchange;
  ++connection.in_flight_count;
  exchange.place_ = Place::in_flight;
  exchange.connection_ = index;
  exchange.upstream_transaction_id_ = id;
  if (!io_.send(index, exchange, id)) fail_connection(index, ExchangeOutcome::upstream_failed);
}

// Ids count up (wrapping at 65535) so that a late answer to a cancelled request is
// unlikely to meet a new request with its id; one still in flight is never reused.
std::uint16_t ModbusPoolCore::next_free_id(Connection& connection) {
  std::uint16_t id = connection.next_transaction_id++;
  while (slot_of(connection, id)) id = connection.next_transaction_id++;
  return id;
}

ModbusExchange** ModbusPoolCore::slot_of(Connection& connection, std::uint16_t transaction_id) {
  for (ModbusExchange*& slot : connection.in_flight) {
    if (slot && slot->upstream_transaction_id_ == transaction_id) return &slot;
  }
  return nullptr;
}

void ModbusPoolCore::release(Connection& connection, ModbusExchange*& slot) {
  slot = nullptr;
  --connection.in_flight_count;
}

// Deadlines grow along the queue (submission order, one timeout), so the expired ones
// are at its head.
void ModbusPoolCore::expire_queued(Clock::time_point now) {
  while (!queue_.empty() && queue_.head->deadline <= now) {
    complete(*queue_.pop_front(), ExchangeOutcome::timeout);
  }
}

void ModbusPoolCore::fail_connection(std::size_t index, ExchangeOutcome outcome) {
  Connection& connection = connections_[index];
  connection.state = State::backoff;
  io_.close(index, connection.backoff);
  connection.backoff = std::min(connection.backoff * 2, kMaxBackoff);
  for (ModbusExchange*& slot : connection.in_flight) {
    if (slot) complete(*slot, outcome);
    slot = nullptr;
  }
  connection.in_flight_count = 0;
}

// Only collected here: owners are called by deliver(), once the pool's state is
// consistent again (they may cancel or submit from their callback).
void ModbusPoolCore::complete(ModbusExchange& exchange, ExchangeOutcome outcome) {
  exchange.outcome = outcome;
  exchange.place_ = Place::done;
  done_.push_back(exchange);
}

}  // namespace conduit::proxy
