// The life of one relayed connection, written once for the gateway's sessions and for
// `conduit tunnel`'s connections: one phase at a time with its deadline, a watchdog that
// acts once when the deadline passes, the first reason the connection ends for, and the
// end. Thread-confined to the connection's executor.
//
// `Phase` is an enum with a `done` value, entered by finish().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>
#include <string_view>

namespace conduit::proxy {

template <typename Phase>
class Lifecycle {
 public:
  using Clock = std::chrono::steady_clock;

  Lifecycle(const boost::asio::any_io_executor& executor, Phase first) : timer_(executor), phase_(first) {}

  Phase phase() const { return phase_; }
  bool done() const { return phase_ == Phase::done; }

  // Enters `phase`, which must be over by `deadline` (Clock::time_point::max(): no
  // deadline of its own, or one the watcher computes).
  void enter(Phase phase, Clock::time_point deadline) {
    phase_ = phase;
    deadline_ = deadline;
    fired_ = false;
    timer_.cancel();  // the watchdog re-arms for the new deadline
  }
  Clock::time_point deadline() const { return deadline_; }
  // The deadline passed in this phase; the connection is being torn down.
  bool deadline_fired() const { return fired_; }

  // The first reason wins: the one that started the end is the one reported.
  void set_reason(std::string_view reason) {
    if (reason_.empty()) reason_ = reason;
  }
  void replace_reason(std::string reason) { reason_ = std::move(reason); }
  const std::string& reason() const { return reason_; }

  // Runs until finish(). When `current_deadline()` has passed, `expired(phase)` runs once
  // (again only after the next enter()). `current_deadline` may move a deadline, e.g.
  // with activity for an idle timeout. The caller keeps the connection alive meanwhile.
  template <typename CurrentDeadline, typename Expired>
  boost::asio::awaitable<void> watch(CurrentDeadline current_deadline, Expired expired) {
    constexpr auto kUseTuple = boost::asio::as_tuple(boost::asio::use_awaitable);
    while (!done()) {
      timer_.expires_at(fired_ ? Clock::time_point::max() : current_deadline());
      co_await timer_.async_wait(kUseTuple);
      if (done()) break;
      if (!fired_ && Clock::now() >= current_deadline()) {
        fired_ = true;
        expired(phase_);
      }
    }
  }

  void finish() {
    phase_ = Phase::done;
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  Phase phase_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool fired_ = false;
  std::string reason_;
};

}  // namespace conduit::proxy
