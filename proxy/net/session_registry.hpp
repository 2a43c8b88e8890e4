// The live sessions (or tunnel connections) of one I/O thread, so that drain, revocation,
// lockdown and a stopping tunnel can end them. Thread-confined: only the owning
// io_context's thread may touch it, so it needs no lock.
//
// `Member` has `void terminate(std::string_view reason)`, which closes its sockets and
// never removes the member synchronously (it unwinds on its next completion).
#pragma once

#include <string_view>
#include <unordered_set>

namespace conduit::proxy {

template <typename Member>
class SessionRegistry {
 public:
  void add(Member* member) { members_.insert(member); }
  void remove(Member* member) { members_.erase(member); }
  std::size_t size() const { return members_.size(); }

  void terminate_all(std::string_view reason) {
    terminate_where([reason](const Member&) { return reason; });
  }

  // Ends every member for which `why(member)` gives a non-empty reason; returns how many.
  template <typename Why>
  unsigned terminate_where(Why why) {
    unsigned ended = 0;
    // A copy, so that a change in terminate() can never invalidate this loop.
    auto copy = members_;
    for (Member* member : copy) {
      std::string_view reason = why(*member);
      if (reason.empty()) continue;
      member->terminate(reason);
      ++ended;
    }
    return ended;
  }

 private:
  std::unordered_set<Member*> members_;
};

}  // namespace conduit::proxy
