// Memory for one completion handler at a time, kept in the object that posts it, so that
// a handler on a per-request path allocates nothing (Asio's custom-allocation idiom):
//
//   asio::post(executor, asio::bind_allocator(SlotAllocator<void>(slot_), handler));
//
// One handler of at most kSize bytes may use the slot at a time; anything larger, or a
// second one while the first is pending, falls back to operator new. The handler may be
// posted from another thread (the recorder's writer): Asio frees the memory before it
// runs the handler, so the flag is handed from one thread to the other through Asio's
// queue, and an atomic keeps that visible.
#pragma once

#include <atomic>
#include <cstddef>
#include <new>

namespace conduit::proxy {

class HandlerSlot {
 public:
  static constexpr std::size_t kSize = 128;

  void* allocate(std::size_t size) {
    bool expected = false;
    if (size <= kSize && in_use_.compare_exchange_strong(expected, true)) return storage_;
    fallbacks_.fetch_add(1, std::memory_order_relaxed);
    return ::operator new(size);
  }
  void deallocate(void* pointer) {
    if (pointer == storage_) {
      in_use_.store(false);
    } else {
      ::operator delete(pointer);
    }
  }
  // How often the slot could not serve (too large, or busy): 0 on the intended path.
  std::size_t fallbacks() const { return fallbacks_.load(std::memory_order_relaxed); }

 private:
  alignas(std::max_align_t) unsigned char storage_[kSize];
  std::atomic<bool> in_use_{false};
  std::atomic<std::size_t> fallbacks_{0};
};

template <typename T>
class SlotAllocator {
 public:
  using value_type = T;
  explicit SlotAllocator(HandlerSlot& slot) noexcept : slot_(&slot) {}
  template <typename U>
  SlotAllocator(const SlotAllocator<U>& other) noexcept : slot_(other.slot_) {}

  T* allocate(std::size_t n) { return static_cast<T*>(slot_->allocate(sizeof(T) * n)); }
  void deallocate(T* pointer, std::size_t) { slot_->deallocate(pointer); }

  template <typename U>
  bool operator==(const SlotAllocator<U>& other) const noexcept {
    return slot_ == other.slot_;
  }

 private:
  template <typename>
  friend class SlotAllocator;
  HandlerSlot* slot_;
};

}  // namespace conduit::proxy
