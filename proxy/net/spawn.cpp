#include "proxy/net/spawn.hpp"

#include <atomic>
#include <string>

#include "proxy/net/event_log.hpp"

namespace conduit::proxy {
namespace {

std::atomic<std::uint64_t> escaped{0};

}  // namespace

void ReportEscaped::operator()(std::exception_ptr exception) const {
  if (!exception) return;
  escaped.fetch_add(1, std::memory_order_relaxed);
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(exception);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  log_event(LogLevel::error, "coroutine_failed", {{"where", where}, {"error", what}});
}

std::uint64_t escaped_exceptions() { return escaped.load(std::memory_order_relaxed); }

}  // namespace conduit::proxy
