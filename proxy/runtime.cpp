#include "proxy/runtime.hpp"

#include <cstdio>

#include "proxy/tls_context.hpp"

namespace conduit::proxy {

std::shared_ptr<const Snapshot> make_snapshot(config::Config config) {
  auto tls = make_server_tls_context(config.tls);
  authz::Policy policy(config.grants);
  return std::make_shared<const Snapshot>(Snapshot{std::move(config), std::move(policy), std::move(tls)});
}

std::string GatewayState::new_session_id() {
  char id[40];
  std::snprintf(id, sizeof id, "%s-%06llu", session_prefix.c_str(),
                static_cast<unsigned long long>(next_session.fetch_add(1, std::memory_order_relaxed)));
  return id;
}

}  // namespace conduit::proxy
