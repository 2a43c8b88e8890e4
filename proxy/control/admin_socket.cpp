#include "proxy/control/admin_socket.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/unix_time.hpp"
#include "proxy/net/event_log.hpp"

namespace conduit::proxy {
namespace {

namespace asio = boost::asio;
using common::unix_now;
using nlohmann::json;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxRequest = 4096;

json failure(std::string message) { return {{"ok", false}, {"error", std::move(message)}}; }

std::string text_field(const json& request, const char* key) {
  auto it = request.find(key);
  return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json published(ControlState& state, json reply) {
  auto ended = state.publish_revocations();
  if (!ended) return failure("stored, but the credential store could not be read back: " + state.store.last_error_message());
  reply["ok"] = true;
  reply["sessions_closed"] = *ended;
  return reply;
}

json revoke(ControlState& state, const json& request) {
  std::string kind_text = text_field(request, "kind");
  std::string id = text_field(request, "id");
  std::string reason = text_field(request, "reason");
  auto kind = mfa::revocation_kind_from(kind_text);
  if (!kind || id.empty()) return failure("revoke needs kind (user, key, device, certificate) and id");
  auto stored = state.store.revoke(*kind, id, reason, unix_now());
  if (!stored) {
    if (stored.error() == mfa::StoreErrc::not_found) return failure("no " + kind_text + " " + id + " in the credential store");
    return failure(stored.error().message() + ": " + state.store.last_error_message());
  }
  json reply = published(state, {{"revoked", {{"kind", kind_text}, {"id", id}}}});
  log_event(LogLevel::warn, "admin_revoked",
            {{"kind", kind_text}, {"id", id}, {"reason", reason},
             {"sessions_closed", reply.value("sessions_closed", 0)}});
  return reply;
}

json lockdown(ControlState& state, const json& request) {
  mfa::Lockdown rule;
  rule.role = text_field(request, "role");
  rule.asset_pattern = text_field(request, "asset");
  rule.reason = text_field(request, "reason");
  rule.at = unix_now();
  auto id = state.store.add_lockdown(rule);
  if (!id) return failure(id.error().message() + ": " + state.store.last_error_message());
  json reply = published(state, {{"lockdown", *id}});
  log_event(LogLevel::warn, "admin_lockdown",
            {{"id", *id}, {"role", rule.role.empty() ? "*" : rule.role},
             {"asset", rule.asset_pattern.empty() ? "*" : rule.asset_pattern}, {"reason", rule.reason},
             {"sessions_closed", reply.value("sessions_closed", 0)}});
  return reply;
}

json lift(ControlState& state) {
  auto lifted = state.store.lift_lockdowns();
  if (!lifted) return failure(lifted.error().message() + ": " + state.store.last_error_message());
  json reply = published(state, {{"lifted", *lifted}});
  log_event(LogLevel::warn, "admin_lockdown_lifted", {{"lifted", *lifted}});
  return reply;
}

json status(ControlState& state) {
  auto revocations = state.store.revocations();
  auto lockdowns = state.store.lockdowns();
  if (!revocations || !lockdowns) return failure(state.store.last_error_message());
  json reply = {{"ok", true}, {"sessions", state.gateway.sessions.load()}, {"revocations", json::array()},
                {"lockdowns", json::array()}};
  for (const auto& r : *revocations) {
    reply["revocations"].push_back({{"kind", mfa::to_string(r.kind)}, {"id", r.id}, {"reason", r.reason}, {"at", r.at}});
  }
  for (const auto& l : *lockdowns) {
    reply["lockdowns"].push_back({{"id", l.id}, {"role", l.role}, {"asset", l.asset_pattern}, {"reason", l.reason}, {"at", l.at}});
  }
  return reply;
}

// Every counter of the data plane, by name (proxy/STATS.md).
json stats(ControlState& state) {
  json counters = json::object();
  for (const CounterValue& counter : state.data_plane.counters()) counters[counter.name] = counter.value;
  return {{"ok", true}, {"counters", std::move(counters)}};
}

json handle(ControlState& state, std::string_view line) {
  json request = json::parse(line, nullptr, false);
  if (!request.is_object()) return failure("expected one JSON object per line");
  std::string command = text_field(request, "command");
  if (command == "revoke") return revoke(state, request);
  if (command == "lockdown") return lockdown(state, request);
  if (command == "lockdown_lift") return lift(state);
  if (command == "status") return status(state);
  if (command == "stats") return stats(state);
  return failure("unknown command (revoke, lockdown, lockdown_lift, status, stats)");
}

}  // namespace

asio::awaitable<void> serve_admin_connection(asio::local::stream_protocol::socket socket, ControlState& state) {
  ucred peer{};
  socklen_t size = sizeof peer;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 ||
      (peer.uid != 0 && peer.uid != state.admin_uid)) {
    log_event(LogLevel::warn, "admin_refused", {{"uid", static_cast<std::int64_t>(peer.uid)}, {"pid", peer.pid}});
    co_return;
  }
  // As in auth_server.cpp: `live` keeps a late deadline handler off a finished connection.
  auto live = std::make_shared<bool>(true);
  asio::steady_timer deadline(socket.get_executor());
  deadline.expires_after(std::chrono::seconds(10));
  deadline.async_wait([&socket, live](boost::system::error_code ec) {
    if (!ec && *live) socket.close(ec);
  });
  asio::streambuf buffer(kMaxRequest);
  auto [read_error, length] = co_await asio::async_read_until(socket, buffer, '\n', kUseTuple);
  json reply;
  if (read_error) {
    reply = failure("expected one JSON object on one line (at most 4 KiB)");
  } else {
    std::string line(asio::buffers_begin(buffer.data()), asio::buffers_begin(buffer.data()) + static_cast<long>(length));
    reply = handle(state, line);
  }
  std::string text = reply.dump() + "\n";
  co_await asio::async_write(socket, asio::buffer(text), kUseTuple);
  *live = false;
  deadline.cancel();
}

}  // namespace conduit::proxy
