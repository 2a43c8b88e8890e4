#include "tests/support/soft_fido2/soft_authenticator.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "tests/support/soft_fido2/ctap2.hpp"
#include "tests/support/soft_fido2/ctaphid.hpp"
#include "tests/support/soft_fido2/state.hpp"

namespace conduit::soft_fido2 {
namespace {

[[noreturn]] void fail_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// A socket file left behind by a killed run would make bind() fail; anything that is not
// a socket is somebody's file and is left alone.
void remove_stale_socket(const std::filesystem::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return;
  if (!S_ISSOCK(info.st_mode)) {
    throw std::runtime_error(path.string() + " exists and is not a socket");
  }
  if (::unlink(path.c_str()) != 0) fail_errno("cannot remove stale socket " + path.string());
}

bool send_all(int fd, const std::vector<Report>& reports) {
  for (const Report& report : reports) {
    ssize_t n;
    do {
      n = ::send(fd, report.data(), report.size(), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(report.size())) return false;
  }
  return true;
}

}  // namespace

SoftAuthenticator::SoftAuthenticator(SoftAuthenticatorOptions options)
    : options_(std::move(options)) {
  prepare_state(options_.state_path, options_.aaguid, kDefaultAaguid);

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string& path = options_.socket_path.native();
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    throw std::runtime_error("socket path must be 1 to " +
                             std::to_string(sizeof address.sun_path - 1) + " bytes: " + path);
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  remove_stale_socket(options_.socket_path);

  if (::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) fail_errno("cannot create a pipe");
  listen_fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) fail_errno("cannot create a socket");
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    fail_errno("cannot bind " + path);
  }
  // Nobody can connect before listen(), so tightening the mode here leaves no window.
  if (::chmod(path.c_str(), 0600) != 0 || ::listen(listen_fd_, 4) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    errno = err;
    fail_errno("cannot listen on " + path);
  }
}

SoftAuthenticator::~SoftAuthenticator() {
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(options_.socket_path.c_str());
  }
  for (const int fd : stop_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void SoftAuthenticator::request_stop() noexcept {
  const char byte = 1;
  // The pipe is never drained, so one byte keeps every later poll() awake; a full pipe
  // (EAGAIN) means a stop is already pending.
  [[maybe_unused]] const ssize_t ignored = ::write(stop_pipe_[1], &byte, 1);
}

bool SoftAuthenticator::stop_requested() const noexcept {
  pollfd entry{stop_pipe_[0], POLLIN, 0};
  return ::poll(&entry, 1, 0) > 0;
}

void SoftAuthenticator::serve() noexcept {
  while (!stop_requested()) {
    pollfd entries[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(entries, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if ((entries[1].revents & POLLIN) != 0) return;
    if ((entries[0].revents & POLLIN) == 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;  // the client gave up already, or EINTR
    serve_client(client);
    ::close(client);
  }
}

void SoftAuthenticator::serve_client(int client) noexcept {
  try {
    const Ctap2Config config{options_.state_path, options_.user_verification,
                             options_.self_attestation};
    HidSession session(
        [&config](std::span<const std::uint8_t> request) { return handle_ctap2(request, config); });
    // One byte more than a report, so an oversized datagram shows up as one.
    std::array<std::uint8_t, kReportSize + 1> buffer{};
    for (;;) {
      pollfd entries[2] = {{client, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      const int timeout =
          session.receiving() ? static_cast<int>(options_.transaction_timeout.count()) : -1;
      const int ready = ::poll(entries, 2, timeout);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0 || (entries[1].revents & POLLIN) != 0) return;
      if (ready == 0) {
        if (!send_all(client, session.on_timeout())) return;
        continue;
      }
      const ssize_t n = ::recv(client, buffer.data(), buffer.size(), MSG_TRUNC);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // the client hung up (0) or the socket failed
      const auto size = std::min(static_cast<std::size_t>(n), buffer.size());
      if (!send_all(client, session.on_report(std::span(buffer).first(size)))) return;
    }
  } catch (...) {
    // Only std::bad_alloc can get here; dropping the client is all we can do.
  }
}

}  // namespace conduit::soft_fido2
