// proxy/net/lifecycle.hpp on a real io_context. Deadlines are either long past or far in
// the future, and the loop is only polled, so nothing depends on how fast the test runs.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <exception>
#include <vector>

#include "proxy/net/lifecycle.hpp"

namespace asio = boost::asio;
using namespace conduit::proxy;
using namespace std::chrono_literals;

namespace {

enum class Phase { handshake, relay, done };
using Life = Lifecycle<Phase>;

const Life::Clock::time_point kPast{};  // the steady clock's epoch: always behind now
const Life::Clock::time_point kFuture = Life::Clock::now() + 24h;

// A lifecycle and its watch() coroutine, with what the watchdog did.
struct Watched {
  Watched() { life.enter(Phase::handshake, Life::Clock::time_point::max()); }

  void start() {
    asio::co_spawn(context, life.watch([this] { return life.deadline(); }, [this](Phase phase) { expired.push_back(phase); }),
                   [this](std::exception_ptr escaped) {
                     CHECK_FALSE(escaped);
                     ended = true;
                   });
  }

  // Runs everything that is ready, several rounds over (a fired timer's handler becomes
  // ready in one round and runs in the next); never waits.
  void settle() {
    for (int round = 0; round < 20; ++round) {
      context.restart();
      context.poll();
    }
  }

  asio::io_context context{1};
  Life life{context.get_executor(), Phase::handshake};
  std::vector<Phase> expired;
  bool ended = false;
};

}  // namespace

TEST_CASE("a deadline already in the past fires expired exactly once, with its phase", "[proxy][lifecycle]") {
  Watched w;
  w.life.enter(Phase::handshake, kPast);
  w.start();
  w.settle();
  CHECK(w.expired == std::vector<Phase>{Phase::handshake});
  CHECK(w.life.deadline_fired());
  CHECK_FALSE(w.ended);  // the watch goes on until finish()

  w.life.finish();
  w.settle();
  CHECK(w.ended);
  CHECK(w.expired.size() == 1);
}

TEST_CASE("enter re-arms the watchdog and a later deadline does not fire early", "[proxy][lifecycle]") {
  Watched w;
  w.life.enter(Phase::handshake, kFuture);
  w.start();
  w.settle();
  CHECK(w.expired.empty());

  w.life.enter(Phase::relay, kPast);  // the phase moved on, and its deadline has passed
  w.settle();
  CHECK(w.expired == std::vector<Phase>{Phase::relay});

  w.life.enter(Phase::relay, kFuture);  // a new deadline: the old firing is forgotten
  CHECK_FALSE(w.life.deadline_fired());
  w.settle();
  CHECK(w.expired == std::vector<Phase>{Phase::relay});

  w.life.enter(Phase::handshake, kPast);  // fires again once re-armed
  w.settle();
  CHECK(w.expired == std::vector<Phase>{Phase::relay, Phase::handshake});

  w.life.finish();
  w.settle();
  CHECK(w.ended);
}

TEST_CASE("finish ends watch without the watchdog firing", "[proxy][lifecycle]") {
  Watched w;
  w.life.enter(Phase::relay, kFuture);
  w.start();
  w.settle();
  CHECK_FALSE(w.ended);

  w.life.finish();
  CHECK(w.life.done());
  CHECK(w.life.phase() == Phase::done);
  w.settle();
  CHECK(w.ended);
  CHECK(w.expired.empty());
}

TEST_CASE("the first reason wins and replace_reason replaces it", "[proxy][lifecycle]") {
  Watched w;
  CHECK(w.life.reason().empty());
  w.life.set_reason("client closed");
  w.life.set_reason("upstream closed");
  CHECK(w.life.reason() == "client closed");
  w.life.replace_reason("deadline: handshake");
  CHECK(w.life.reason() == "deadline: handshake");
  w.life.set_reason("upstream closed");
  CHECK(w.life.reason() == "deadline: handshake");
}
