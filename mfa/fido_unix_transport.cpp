#include "mfa/fido_unix_transport.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>

namespace conduit::mfa {
namespace {

constexpr std::size_t kReportSize = 64;  // CTAPHID full-speed HID report

struct UnixHandle {
  int fd;
};

void* unix_open(const char* path) {
  if (path == nullptr || !is_unix_device_path(path)) return nullptr;
  const std::string_view socket_path = std::string_view(path).substr(kUnixDevicePrefix.size());
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof address.sun_path) return nullptr;
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());

  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  } while (rc < 0 && errno == EINTR);
  auto* handle = rc == 0 ? new (std::nothrow) UnixHandle{fd} : nullptr;
  if (handle == nullptr) ::close(fd);
  return handle;
}

void unix_close(void* opaque) {
  auto* handle = static_cast<UnixHandle*>(opaque);
  if (handle == nullptr) return;
  ::close(handle->fd);
  delete handle;
}

// Waits until the socket is readable; false on timeout or error. Restarts after signals
// with the time that is left, so a signal cannot stretch libfido2's timeout.
bool wait_readable(int fd, int ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(ms < 0 ? 0 : ms);
  for (;;) {
    int left = -1;
    if (ms >= 0) {
      const auto remaining =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      left = remaining > 0 ? static_cast<int>(remaining) : 0;
    }
    pollfd entry{fd, POLLIN, 0};
    const int n = ::poll(&entry, 1, left);
    if (n > 0) return true;  // readable, or hung up: recv tells which
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

int unix_read(void* opaque, unsigned char* buf, std::size_t len, int ms) {
  const auto* handle = static_cast<const UnixHandle*>(opaque);
  if (handle == nullptr || buf == nullptr || len != kReportSize) return -1;
  if (!wait_readable(handle->fd, ms)) return -1;
  ssize_t n;
  do {
    // MSG_TRUNC reports the datagram's real size, so an oversized one is an error rather
    // than a silently clipped report.
    n = ::recv(handle->fd, buf, len, MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(kReportSize)) return -1;  // error, peer gone, or bad size
  return static_cast<int>(n);
}

int unix_write(void* opaque, const unsigned char* buf, std::size_t len) {
  const auto* handle = static_cast<const UnixHandle*>(opaque);
  // libfido2 prefixes each report with the HID report id (always 0 for CTAPHID).
  if (handle == nullptr || buf == nullptr || len != kReportSize + 1) return -1;
  ssize_t n;
  do {
    n = ::send(handle->fd, buf + 1, kReportSize, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(kReportSize)) return -1;
  return static_cast<int>(len);
}

}  // namespace

bool is_unix_device_path(std::string_view path) noexcept {
  return path.size() > kUnixDevicePrefix.size() && path.starts_with(kUnixDevicePrefix);
}

int use_unix_transport(fido_dev_t* dev) noexcept {
  if (dev == nullptr) return FIDO_ERR_INVALID_ARGUMENT;
  const fido_dev_io_t io{unix_open, unix_close, unix_read, unix_write};
  return fido_dev_set_io_functions(dev, &io);
}

}  // namespace conduit::mfa
