// Named counters for every way a connection, a session or a request is decided, ends or
// fails (the Envoy habit: a counter per way to fail), read with `conduit stats`.
//
// Each I/O thread keeps its own plain integers (thread-confined: no atomics, no locks on
// the data path); the gateway sums them by posting to every thread. A module declares its
// counters once with an X-macro:
//
//   #define MY_COUNTERS(X) X(requests) X(denied)
//   CONDUIT_DECLARE_COUNTERS(MyCounter, MY_COUNTERS)   // enum class MyCounter + kMyCounterNames
//   CounterSet<MyCounter> counters;  counters.add(MyCounter::denied);
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace conduit::proxy {

#define CONDUIT_COUNTER_ENUM(name) name,
#define CONDUIT_COUNTER_NAME(name) #name,
#define CONDUIT_DECLARE_COUNTERS(Enum, LIST)                                  \
  enum class Enum : std::uint16_t { LIST(CONDUIT_COUNTER_ENUM) count_ };      \
  inline constexpr std::string_view k##Enum##Names[] = {LIST(CONDUIT_COUNTER_NAME)};

template <typename Enum>
class CounterSet {
 public:
  void add(Enum counter, std::uint64_t n = 1) { values_[static_cast<std::size_t>(counter)] += n; }
  std::uint64_t get(Enum counter) const { return values_[static_cast<std::size_t>(counter)]; }
  const std::array<std::uint64_t, static_cast<std::size_t>(Enum::count_)>& values() const { return values_; }

 private:
  std::array<std::uint64_t, static_cast<std::size_t>(Enum::count_)> values_{};
};

struct CounterValue {
  std::string name;  // "<module>.<counter>", e.g. "modbus.requests_denied_policy"
  std::uint64_t value = 0;
};

// Adds `counters` to `totals`, by name (on the control thread, not the data path).
void merge_counters(std::vector<CounterValue>& totals, const std::vector<CounterValue>& counters);

// Adds `set` to `totals` as "<prefix>.<name>".
template <typename Enum, std::size_t N>
void add_counters(std::vector<CounterValue>& totals, std::string_view prefix, const std::string_view (&names)[N],
                  const CounterSet<Enum>& set) {
  static_assert(N == static_cast<std::size_t>(Enum::count_));
  std::vector<CounterValue> named;
  for (std::size_t i = 0; i < N; ++i) named.push_back({std::string(prefix) + "." + std::string(names[i]), set.values()[i]});
  merge_counters(totals, named);
}

// The protocol-independent part of a gateway: connections and sessions.
#define CONDUIT_GATEWAY_COUNTERS(X)                                                             \
  X(connections_accepted) X(connections_refused_max_sessions) X(connections_refused_max_unauthenticated) \
  X(tls_handshake_failed) X(tls_handshake_timeout)                                               \
  X(sessions_denied_revoked) X(sessions_denied_locked_down) X(sessions_denied_mfa_reused)        \
  X(sessions_denied_policy) X(sessions_denied_recording)                                         \
  X(sessions_opened) X(sessions_closed) X(sessions_terminated)                                   \
  X(sessions_idle_timeout) X(upstream_connect_timeout) X(upstream_unreachable) X(recording_failed)
CONDUIT_DECLARE_COUNTERS(GatewayCounter, CONDUIT_GATEWAY_COUNTERS)
using GatewayCounters = CounterSet<GatewayCounter>;

}  // namespace conduit::proxy
