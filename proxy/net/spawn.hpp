// The completion handler of every detached coroutine in the proxy (instead of
// Asio's `detached` token, which lets an escaped exception terminate the process): an exception
// that escapes is logged (`coroutine_failed`, with where it ran) and counted, and the
// process goes on. The data path returns errors as values; this is the net under it.
//
//   asio::co_spawn(executor, session->run(), report_escaped("session"));
#pragma once

#include <cstdint>
#include <exception>

namespace conduit::proxy {

struct ReportEscaped {
  const char* where;  // a string literal: names the coroutine in the log line
  void operator()(std::exception_ptr escaped) const;
};

inline ReportEscaped report_escaped(const char* where) { return {where}; }

// Exceptions that escaped a detached coroutine since the process started (any thread).
std::uint64_t escaped_exceptions();

}  // namespace conduit::proxy
