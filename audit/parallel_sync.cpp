#include "audit/parallel_sync.hpp"

#include <unistd.h>

#include <cerrno>

namespace conduit::audit {
namespace {

int datasync(int fd) {
  int result;
  do {
    result = ::fdatasync(fd);
  } while (result != 0 && errno == EINTR);
  return result == 0 ? 0 : errno;
}

}  // namespace

ParallelSync::ParallelSync(unsigned threads) {
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

ParallelSync::~ParallelSync() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void ParallelSync::sync(std::span<const int> fds, std::span<int> errors) {
  if (fds.size() == 1 || threads_.empty()) {
    for (std::size_t i = 0; i < fds.size(); ++i) errors[i] = datasync(fds[i]);
    return;
  }
  std::unique_lock lock(mutex_);
  fds_ = fds;
  errors_ = errors;
  next_ = 0;
  pending_ = fds.size();
  wake_.notify_all();
  // The writer thread takes its share too.
  while (next_ < fds_.size()) sync_next(lock);
  finished_.wait(lock, [this] { return pending_ == 0; });
  fds_ = {};
  errors_ = {};
}

void ParallelSync::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || next_ < fds_.size(); });
    if (stopping_) return;
    sync_next(lock);
  }
}

// Takes the next file, syncs it without the lock, and reports it done.
void ParallelSync::sync_next(std::unique_lock<std::mutex>& lock) {
  std::size_t index = next_++;
  int fd = fds_[index];
  lock.unlock();
  int error = datasync(fd);
  lock.lock();
  errors_[index] = error;
  if (--pending_ == 0) finished_.notify_all();
}

}  // namespace conduit::audit
