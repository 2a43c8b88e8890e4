// The Modbus handler's counters (proxy/gateway/counters.hpp): one per way a request is
// decided or answered, and per way the upstream side fails. Read as "modbus.<name>".
#pragma once

#include "proxy/gateway/counters.hpp"

namespace conduit::proxy {

#define CONDUIT_MODBUS_COUNTERS(X)                                                                   \
  X(requests) X(requests_allowed) X(requests_denied_policy) X(requests_denied_unit)                  \
  X(requests_malformed) X(frames_malformed) X(writes) X(writes_not_recorded)                          \
  X(responses) X(answered_timeout) X(answered_upstream_failed)                                         \
  X(upstream_connect_failed) X(upstream_read_failed) X(upstream_write_failed) X(upstream_request_timeout) \
  X(upstream_connect_timeout) X(upstream_response_mismatch) X(upstream_response_malformed)
CONDUIT_DECLARE_COUNTERS(ModbusCounter, CONDUIT_MODBUS_COUNTERS)
using ModbusCounters = CounterSet<ModbusCounter>;

}  // namespace conduit::proxy
