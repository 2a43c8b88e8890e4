#include "proxy/gateway/counters.hpp"

#include <algorithm>

namespace conduit::proxy {

void merge_counters(std::vector<CounterValue>& totals, const std::vector<CounterValue>& counters) {
  for (const CounterValue& counter : counters) {
    auto same = std::find_if(totals.begin(), totals.end(), [&](const CounterValue& t) { return t.name == counter.name; });
    if (same == totals.end()) {
      totals.push_back(counter);
    } else {
      same->value += counter.value;
    }
  }
}

}  // namespace conduit::proxy
