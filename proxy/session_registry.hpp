// The live sessions of one I/O thread, so that drain (and later revocation and lockdown)
// can end them. Thread-confined: only the owning io_context's thread may touch it, so it
// needs no lock.
#pragma once

#include <string_view>

#include "authz/revocation_list.hpp"
#include <unordered_set>

namespace conduit::proxy {

class Terminable {
 public:
  virtual void terminate(std::string_view reason) = 0;
  // Why this session must end under the given revocations/lockdowns; empty if it may go on.
  virtual std::string_view refused_by(const authz::RevocationList& revocations) const {
    (void)revocations;
    return {};
  }

 protected:
  ~Terminable() = default;
};

class SessionRegistry {
 public:
  void add(Terminable* session) { sessions_.insert(session); }
  void remove(Terminable* session) { sessions_.erase(session); }
  std::size_t size() const { return sessions_.size(); }

  void terminate_all(std::string_view reason) {
    // terminate() never removes synchronously (sessions unwind on their next completion),
    // but copy anyway so that a future change there cannot invalidate this loop.
    auto copy = sessions_;
    for (Terminable* session : copy) session->terminate(reason);
  }

  // Ends the sessions that the revocations refuse; returns how many.
  unsigned terminate_refused(const authz::RevocationList& revocations) {
    unsigned ended = 0;
    auto copy = sessions_;
    for (Terminable* session : copy) {
      std::string_view why = session->refused_by(revocations);
      if (why.empty()) continue;
      session->terminate(why);
      ++ended;
    }
    return ended;
  }

 private:
  std::unordered_set<Terminable*> sessions_;
};

}  // namespace conduit::proxy
