// The gateway's local time as authz::WeekTime (minutes since Monday 00:00), for grant
// time windows. Plants schedule shifts in local time, so windows are in the gateway's
// time zone (TZ / /etc/localtime), not UTC.
#pragma once

#include <chrono>
#include <ctime>

#include "authz/policy.hpp"

namespace conduit::proxy {

inline authz::WeekTime week_time(std::chrono::system_clock::time_point now) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&seconds, &local);
  unsigned monday_based_day = (local.tm_wday + 6) % 7;  // tm_wday: 0 = Sunday
  return {static_cast<std::uint16_t>(monday_based_day * 1440 + local.tm_hour * 60 + local.tm_min)};
}

inline authz::WeekTime week_time_now() { return week_time(std::chrono::system_clock::now()); }

}  // namespace conduit::proxy
