// The live sessions of one I/O thread, so that drain (and later revocation and lockdown)
// can end them. Thread-confined: only the owning io_context's thread may touch it, so it
// needs no lock.
#pragma once

#include <string_view>
#include <unordered_set>

namespace conduit::proxy {

class Terminable {
 public:
  virtual void terminate(std::string_view reason) = 0;

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

 private:
  std::unordered_set<Terminable*> sessions_;
};

}  // namespace conduit::proxy
