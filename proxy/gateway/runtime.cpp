#include "proxy/gateway/runtime.hpp"

#include <cstdio>

#include "proxy/gateway/tls_context.hpp"

namespace conduit::proxy {

std::shared_ptr<const Snapshot> make_snapshot(config::Config config) {
  auto tls = make_server_tls_context(config.tls);
  std::vector<authz::AssetLabels> labels;
  for (const config::Asset& asset : config.assets) labels.push_back({asset.name, asset.labels});
  authz::Policy policy(config.grants, std::move(labels), config.device_groups);
  return std::make_shared<const Snapshot>(Snapshot{std::move(config), std::move(policy), std::move(tls)});
}

bool AssertionLedger::first_use(const std::string& assertion, std::chrono::steady_clock::time_point now,
                                std::chrono::seconds keep) {
  std::lock_guard lock(mutex_);
  std::erase_if(seen_, [now](const auto& entry) { return entry.second <= now; });
  return seen_.emplace(assertion, now + keep).second;
}

std::string GatewayState::new_session_id() {
  char id[40];
  std::snprintf(id, sizeof id, "%s-%06llu", session_prefix.c_str(),
                static_cast<unsigned long long>(next_session.fetch_add(1, std::memory_order_relaxed)));
  return id;
}

}  // namespace conduit::proxy
