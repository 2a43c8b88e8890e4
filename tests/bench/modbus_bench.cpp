// modbus_bench: closed-loop Modbus/TCP load generator. --workload picks the request:
//   read  FC 3, read 10 holding registers (the default)
//   fc6   FC 6, write a single holding register
//   fc16  FC 16, write 10 holding registers
//
// Each connection has exactly one request outstanding: the next request is sent when the
// response to the previous one has arrived and been verified. Runs a warm-up, then a measured
// window; stops at the end of the window or after --max-requests requests, whichever comes
// first. Plain TCP, or TLS 1.3 with a client certificate (--tls --cert --key --ca).
//
// Every response is checked against tests/support/plc_sim's register map (holding register
// i = i): transaction id echoed, protocol id 0, unit id echoed, the request's function, and
//   read  length 23, byte count 20, the 10 values equal to their addresses;
//   fc6   length 6, address and value echoed;
//   fc16  length 6, address and quantity echoed.
// Writes store value i in register i, so they leave the map as the reads expect it. An
// exception response, or anything else, counts as an error, and a connection whose stream
// can no longer be trusted (bad framing, timeout, peer close) is closed and stays closed
// for the rest of the run.
//
// Output, one line on stdout (figures from the measured window only):
//   modbus_bench target=NAME workload=read|fc6|fc16 tls=0|1 connections=N requests=R rps=X p50_us=A p99_us=B errors=E
// plus an error breakdown on stderr when E > 0. Exit status: 0 no errors, 1 errors, 2 usage
// or set-up failure (no connection could be opened).
//
// Threads: --threads T event loops (epoll, level-triggered, non-blocking sockets), connection
// i served by loop i % T. Connections are opened (and TLS handshakes completed) one by one
// before the clock starts, so handshake cost is not part of the figures.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMbapLength = 7;
constexpr std::size_t kMaxAdu = 260;
constexpr unsigned kRegisterCount = 10000;  // plc_sim's holding registers: addresses 0..9999
constexpr std::uint16_t kQuantity = 10;     // registers per FC 3 read and per FC 16 write

constexpr std::uint8_t kReadHoldingRegisters = 3;
constexpr std::uint8_t kWriteSingleRegister = 6;
constexpr std::uint8_t kWriteMultipleRegisters = 16;

// The shape of every request (and of its normal response) in a run.
struct Workload {
  const char* name;
  std::uint8_t function;
  std::uint16_t quantity;        // registers read or written per request
  std::size_t request_length;    // whole ADU: MBAP header + PDU
  std::size_t response_length;   // whole ADU of the non-exception response
};
constexpr std::array<Workload, 3> kWorkloads{{
    // FC 3: address, quantity -> byte count, values
    {"read", kReadHoldingRegisters, kQuantity, kMbapLength + 5, kMbapLength + 2 + 2 * kQuantity},
    // FC 6: address, value -> the same echoed
    {"fc6", kWriteSingleRegister, 1, kMbapLength + 5, kMbapLength + 5},
    // FC 16: address, quantity, byte count, values -> address, quantity
    {"fc16", kWriteMultipleRegisters, kQuantity, kMbapLength + 6 + 2 * kQuantity, kMbapLength + 5},
}};
constexpr std::size_t kMaxRequestLength = kMbapLength + 6 + 2 * kQuantity;  // FC 16: 33

const Workload* find_workload(std::string_view name) {
  for (const auto& w : kWorkloads)
    if (name == w.name) return &w;
  return nullptr;
}

// The value written to holding register `address`. plc_sim starts with register i = i and
// every address it has is below 0x8000, so a write stores what is already there: reads
// through the same plc_sim (later runs, other clients) still verify.
constexpr std::uint16_t value_written(unsigned address) { return static_cast<std::uint16_t>(address & 0x7fff); }

struct Options {
  std::string name = "target";
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 1;
  int threads = 1;
  double warmup_s = 1.0;
  double duration_s = 5.0;
  std::uint64_t max_requests = 10'000'000;
  double request_timeout_s = 2.0;
  double connect_timeout_s = 5.0;
  int unit = 1;
  const Workload* workload = &kWorkloads[0];
  bool tls = false;
  std::string cert, key, ca, servername;
};

// kValue: a read returned wrong register values; kEcho: a write's response does not echo
// what was written.
enum ErrorKind { kConnect, kTls, kClosed, kTimeout, kFraming, kMismatch, kException, kValue, kEcho, kErrorKinds };
constexpr std::array<const char*, kErrorKinds> kErrorNames = {
    "connect", "tls", "closed", "timeout", "framing", "mismatch", "exception", "value", "echo"};

struct Stats {
  std::vector<std::uint32_t> latencies_us;  // measured window only
  std::array<std::uint64_t, kErrorKinds> errors{};
  Clock::time_point last_activity{};
  std::uint64_t total_errors() const {
    std::uint64_t n = 0;
    for (auto e : errors) n += e;
    return n;
  }
};

void usage(FILE* out) {
  std::fprintf(out,
               "usage: modbus_bench --port P [--host 127.0.0.1] [--name NAME] [--workload read|fc6|fc16]\n"
               "                    [--connections N] [--threads T]\n"
               "                    [--warmup S] [--duration S] [--max-requests N] [--request-timeout S]\n"
               "                    [--unit U] [--tls --cert FILE --key FILE --ca FILE [--servername NAME]]\n");
}

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "modbus_bench: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--name") o.name = value();
    else if (arg == "--host") o.host = value();
    else if (arg == "--port") o.port = std::atoi(value());
    else if (arg == "--workload") {
      const char* name = value();
      if (!(o.workload = find_workload(name))) {
        std::fprintf(stderr, "modbus_bench: unknown workload %s (read, fc6, fc16)\n", name);
        return false;
      }
    }
    else if (arg == "--connections") o.connections = std::atoi(value());
    else if (arg == "--threads") o.threads = std::atoi(value());
    else if (arg == "--warmup") o.warmup_s = std::atof(value());
    else if (arg == "--duration") o.duration_s = std::atof(value());
    else if (arg == "--max-requests") o.max_requests = std::strtoull(value(), nullptr, 10);
    else if (arg == "--request-timeout") o.request_timeout_s = std::atof(value());
    else if (arg == "--connect-timeout") o.connect_timeout_s = std::atof(value());
    else if (arg == "--unit") o.unit = std::atoi(value());
    else if (arg == "--tls") o.tls = true;
    else if (arg == "--cert") o.cert = value();
    else if (arg == "--key") o.key = value();
    else if (arg == "--ca") o.ca = value();
    else if (arg == "--servername") o.servername = value();
    else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "modbus_bench: unknown argument %s\n", argv[i]);
      return false;
    }
  }
  if (o.port <= 0 || o.port > 65535 || o.connections < 1 || o.connections > 10000 || o.threads < 1 ||
      o.threads > 64 || o.warmup_s < 0 || o.duration_s <= 0 || o.duration_s > 3600 || o.max_requests == 0 ||
      o.request_timeout_s <= 0 || o.unit < 0 || o.unit > 255) {
    std::fprintf(stderr, "modbus_bench: invalid option value\n");
    return false;
  }
  if (o.tls && (o.cert.empty() || o.key.empty() || o.ca.empty())) {
    std::fprintf(stderr, "modbus_bench: --tls needs --cert, --key and --ca\n");
    return false;
  }
  o.threads = std::min(o.threads, o.connections);
  if (o.servername.empty()) o.servername = o.host;
  return true;
}

void print_openssl_errors(const char* what) {
  char buf[256];
  unsigned long e = ERR_get_error();
  if (!e) {
    std::fprintf(stderr, "modbus_bench: %s\n", what);
    return;
  }
  for (; e; e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    std::fprintf(stderr, "modbus_bench: %s: %s\n", what, buf);
  }
}

SSL_CTX* make_tls_context(const Options& o) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_load_verify_locations(ctx, o.ca.c_str(), nullptr) != 1 ||
      SSL_CTX_use_certificate_chain_file(ctx, o.cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    print_openssl_errors("loading TLS files");
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return ctx;
}

double seconds_left(Clock::time_point deadline) {
  return std::chrono::duration<double>(deadline - Clock::now()).count();
}

bool wait_fd(int fd, short events, Clock::time_point deadline) {
  double left = seconds_left(deadline);
  if (left <= 0) return false;
  pollfd p{fd, events, 0};
  int rc;
  do rc = ::poll(&p, 1, static_cast<int>(left * 1000) + 1);
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  bool dead = false;
  bool waiting = false;        // a request is outstanding
  bool write_pending = false;  // request bytes not yet (fully) accepted by send / SSL_write
  bool write_wants_read = false;  // SSL_write needs the socket readable first
  bool read_wants_write = false;  // SSL_read needs the socket writable first
  bool write_blocked = false;     // send / SSL_write would block
  bool epollout = false;          // EPOLLOUT currently registered
  std::uint16_t tid = 0;
  std::uint16_t address = 0;
  std::uint32_t rng = 0;
  std::array<std::uint8_t, kMaxRequestLength> out{};
  std::size_t out_len = 0;  // request bytes in `out`
  std::size_t out_off = 0;
  std::array<std::uint8_t, 4096> in{};
  std::size_t in_len = 0;
  Clock::time_point sent_at{};
};

// Opens one connection (and completes the TLS handshake) with blocking semantics and a
// deadline; leaves the socket non-blocking. Returns false with the error counted.
bool open_connection(const Options& o, SSL_CTX* tls, Conn& c, Stats& stats) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(o.connect_timeout_s));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "modbus_bench: --host must be an IPv4 address\n");
    ++stats.errors[kConnect];
    return false;
  }
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    ++stats.errors[kConnect];
    return false;
  }
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    socklen_t len = sizeof err;
    if (err != EINPROGRESS || !wait_fd(c.fd, POLLOUT, deadline) ||
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      std::fprintf(stderr, "modbus_bench: connect %s:%d: %s\n", o.host.c_str(), o.port,
                   err ? std::strerror(err) : "timeout");
      ++stats.errors[kConnect];
      return false;
    }
  }
  if (!tls) return true;

  c.ssl = SSL_new(tls);
  if (!c.ssl || SSL_set_fd(c.ssl, c.fd) != 1) {
    ++stats.errors[kTls];
    return false;
  }
  in_addr ip{};
  if (inet_pton(AF_INET, o.servername.c_str(), &ip) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), o.servername.c_str());
  } else {
    SSL_set_tlsext_host_name(c.ssl, o.servername.c_str());
    SSL_set1_host(c.ssl, o.servername.c_str());
  }
  for (;;) {
    int rc = SSL_connect(c.ssl);
    if (rc == 1) break;
    int err = SSL_get_error(c.ssl, rc);
    if ((err == SSL_ERROR_WANT_READ && wait_fd(c.fd, POLLIN, deadline)) ||
        (err == SSL_ERROR_WANT_WRITE && wait_fd(c.fd, POLLOUT, deadline)))
      continue;
    print_openssl_errors("TLS handshake failed");
    long verify = SSL_get_verify_result(c.ssl);
    if (verify != X509_V_OK)
      std::fprintf(stderr, "modbus_bench: certificate verification: %s\n", X509_verify_cert_error_string(verify));
    ++stats.errors[kTls];
    return false;
  }
  return true;
}

void put16(std::uint8_t* p, unsigned value) {
  p[0] = static_cast<std::uint8_t>(value >> 8);
  p[1] = static_cast<std::uint8_t>(value);
}

// Writes the workload's request for `address` into `out`; returns its length.
std::size_t encode_request(const Workload& w, std::uint16_t tid, std::uint8_t unit, std::uint16_t address,
                           std::array<std::uint8_t, kMaxRequestLength>& out) {
  std::uint8_t* b = out.data();
  put16(b, tid);
  put16(b + 2, 0);                                             // protocol id
  put16(b + 4, static_cast<unsigned>(w.request_length - 6));  // length: unit + PDU
  b[6] = unit;
  b[7] = w.function;
  put16(b + 8, address);
  if (w.function == kWriteSingleRegister) {
    put16(b + 10, value_written(address));
  } else {
    put16(b + 10, w.quantity);
  }
  if (w.function == kWriteMultipleRegisters) {
    b[12] = static_cast<std::uint8_t>(2 * w.quantity);  // byte count
    for (unsigned k = 0; k < w.quantity; ++k) put16(b + 13 + 2 * k, value_written(address + k));
  }
  return w.request_length;
}

void close_connection(Conn& c) {
  if (c.ssl) {
    SSL_shutdown(c.ssl);  // best effort close_notify; the socket is non-blocking
    SSL_free(c.ssl);
    c.ssl = nullptr;
  }
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  c.dead = true;
  c.waiting = false;
}

class Loop {
 public:
  Loop(const Options& o, std::vector<Conn*> conns, std::atomic<std::uint64_t>& sent, Clock::time_point start,
       Clock::time_point measure_from, Clock::time_point end)
      : o_(o), conns_(std::move(conns)), sent_(sent), start_(start), measure_from_(measure_from), end_(end) {
    request_timeout_ = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.request_timeout_s));
  }

  Stats& stats() { return stats_; }

  void run() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return;
    for (Conn* c : conns_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = c;
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, c->fd, &ev);
    }
    std::this_thread::sleep_until(start_);  // every loop starts together
    for (Conn* c : conns_) send_request(*c);

    std::array<epoll_event, 128> events;
    auto next_timeout_check = Clock::now();
    for (;;) {
      auto now = Clock::now();
      if (now >= end_) break;
      if (live_ == 0 && !any_outstanding()) break;  // all dead, or the request budget is spent
      int wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end_ - now).count());
      wait_ms = std::clamp(wait_ms, 1, 50);
      int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), wait_ms);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; ++i) {
        Conn& c = *static_cast<Conn*>(events[i].data.ptr);
        if (c.dead) continue;
        const bool writable = events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP);
        const bool readable = events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP);
        if (c.write_pending && (writable || (readable && c.write_wants_read))) flush_write(c);
        if (!c.dead && (readable || (writable && c.read_wants_write))) on_readable(c);
      }
      now = Clock::now();
      if (now >= next_timeout_check) {
        for (Conn* c : conns_) {
          if (!c->dead && c->waiting && now - c->sent_at > request_timeout_) fail(*c, kTimeout);
        }
        next_timeout_check = now + std::chrono::milliseconds(20);
      }
    }
    stats_.last_activity = std::min(Clock::now(), end_);
    for (Conn* c : conns_) {
      if (c->fd >= 0) close_connection(*c);
    }
    ::close(epoll_);
  }

 private:
  bool any_outstanding() const {
    return std::any_of(conns_.begin(), conns_.end(), [](const Conn* c) { return !c->dead && c->waiting; });
  }

  void fail(Conn& c, ErrorKind kind) {
    // Errors after the end of the window (e.g. a proxy closing as we stop) are not counted.
    if (Clock::now() < end_) ++stats_.errors[kind];
    close_connection(c);
    --live_;
  }

  // EPOLLOUT is registered only while a write is blocked or OpenSSL's read needs to write.
  void update_interest(Conn& c) {
    const bool want = !c.dead && (c.write_blocked || c.read_wants_write);
    if (want == c.epollout) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.ptr = &c;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
    c.epollout = want;
  }

  void send_request(Conn& c) {
    if (sent_.fetch_add(1, std::memory_order_relaxed) >= o_.max_requests) {
      // Budget spent: this connection is finished, not failed.
      close_connection(c);
      --live_;
      return;
    }
    // A different address every time, so the value check covers the whole map (and writes
    // land all over it, as they would from many operators, not on one hot register).
    const Workload& w = *o_.workload;
    c.rng = c.rng * 1664525u + 1013904223u;
    c.address = static_cast<std::uint16_t>((c.rng >> 8) % (kRegisterCount - w.quantity + 1));
    ++c.tid;
    c.out_len = encode_request(w, c.tid, static_cast<std::uint8_t>(o_.unit), c.address, c.out);
    c.out_off = 0;
    c.waiting = true;
    c.write_pending = true;
    c.sent_at = Clock::now();
    flush_write(c);
  }

  void flush_write(Conn& c) {
    c.write_wants_read = false;
    c.write_blocked = false;
    if (c.ssl) {
      // Without SSL_MODE_ENABLE_PARTIAL_WRITE, SSL_write takes the whole request or none of it.
      int rc = SSL_write(c.ssl, c.out.data(), static_cast<int>(c.out_len));
      if (rc > 0) {
        c.write_pending = false;
      } else {
        int err = SSL_get_error(c.ssl, rc);
        if (err == SSL_ERROR_WANT_WRITE) {
          c.write_blocked = true;
        } else if (err == SSL_ERROR_WANT_READ) {
          c.write_wants_read = true;
        } else {
          fail(c, err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL ? kClosed : kTls);
          return;
        }
      }
      update_interest(c);
      return;
    }
    while (c.out_off < c.out_len) {
      ssize_t rc = ::send(c.fd, c.out.data() + c.out_off, c.out_len - c.out_off, MSG_NOSIGNAL);
      if (rc > 0) {
        c.out_off += static_cast<std::size_t>(rc);
      } else if (rc < 0 && errno == EINTR) {
        continue;
      } else if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c.write_blocked = true;
        update_interest(c);
        return;
      } else {
        fail(c, kClosed);
        return;
      }
    }
    c.write_pending = false;
    update_interest(c);
  }

  void on_readable(Conn& c) {
    if (c.read_wants_write) {
      c.read_wants_write = false;
      update_interest(c);
    }
    for (;;) {
      if (c.in_len == c.in.size()) {  // cannot happen with one request outstanding
        fail(c, kFraming);
        return;
      }
      std::size_t room = c.in.size() - c.in_len;
      if (c.ssl) {
        int rc = SSL_read(c.ssl, c.in.data() + c.in_len, static_cast<int>(room));
        if (rc <= 0) {
          int err = SSL_get_error(c.ssl, rc);
          if (err == SSL_ERROR_WANT_READ) return;
          if (err == SSL_ERROR_WANT_WRITE) {
            c.read_wants_write = true;
            update_interest(c);
            return;
          }
          if (Clock::now() < end_ && err != SSL_ERROR_ZERO_RETURN && err != SSL_ERROR_SYSCALL)
            print_openssl_errors("TLS read");
          fail(c, err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL ? kClosed : kTls);
          return;
        }
        c.in_len += static_cast<std::size_t>(rc);
      } else {
        ssize_t rc = ::recv(c.fd, c.in.data() + c.in_len, room, 0);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (rc <= 0) {
          fail(c, kClosed);
          return;
        }
        c.in_len += static_cast<std::size_t>(rc);
      }
      if (!consume(c)) return;
    }
  }

  // Handles every complete ADU in the input buffer. Returns false if the connection died.
  bool consume(Conn& c) {
    while (c.in_len >= kMbapLength) {
      const auto* p = c.in.data();
      const std::size_t length = (std::size_t{p[4]} << 8) | p[5];
      if (length < 2 || length + 6 > kMaxAdu) {
        fail(c, kFraming);
        return false;
      }
      const std::size_t total = length + 6;
      if (c.in_len < total) return true;
      const auto now = Clock::now();
      if (!c.waiting) {  // a response nobody asked for
        fail(c, kMismatch);
        return false;
      }
      ErrorKind error = check_response(c, p, total);
      if (error != kErrorKinds) {
        fail(c, error);
        return false;
      }
      c.waiting = false;
      if (now >= measure_from_ && now < end_) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - c.sent_at).count();
        stats_.latencies_us.push_back(static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX)));
      }
      std::memmove(c.in.data(), c.in.data() + total, c.in_len - total);
      c.in_len -= total;
      if (c.in_len != 0) {  // bytes beyond the one response we were owed
        fail(c, kMismatch);
        return false;
      }
      if (now < end_) send_request(c);
      if (c.dead) return false;
    }
    return true;
  }

  // Returns kErrorKinds when the response is exactly what plc_sim must answer.
  ErrorKind check_response(const Conn& c, const std::uint8_t* p, std::size_t total) const {
    const unsigned tid = (unsigned{p[0]} << 8) | p[1];
    const unsigned protocol = (unsigned{p[2]} << 8) | p[3];
    const Workload& w = *o_.workload;
    if (tid != c.tid || protocol != 0 || p[6] != o_.unit) return kMismatch;
    if (p[7] == (0x80 | w.function)) return kException;
    if (p[7] != w.function || total != w.response_length) return kMismatch;
    if (w.function == kReadHoldingRegisters) return check_read_values(c, p);
    // FC 6 echoes address and value, FC 16 address and quantity: bytes 8..11 of the request.
    if (p[8] != c.out[8] || p[9] != c.out[9]) return kMismatch;
    return p[10] == c.out[10] && p[11] == c.out[11] ? kErrorKinds : kEcho;
  }

  ErrorKind check_read_values(const Conn& c, const std::uint8_t* p) const {
    if (p[8] != 2 * kQuantity) return kMismatch;
    for (unsigned k = 0; k < kQuantity; ++k) {
      const unsigned value = (unsigned{p[9 + 2 * k]} << 8) | p[10 + 2 * k];
      if (value != static_cast<unsigned>(c.address + k)) return kValue;
    }
    return kErrorKinds;
  }

  const Options& o_;
  std::vector<Conn*> conns_;
  std::atomic<std::uint64_t>& sent_;
  Clock::time_point start_, measure_from_, end_;
  Clock::duration request_timeout_{};
  int epoll_ = -1;
  long live_ = 0;
  Stats stats_;

 public:
  void set_live() { live_ = static_cast<long>(conns_.size()); }
};

std::uint32_t percentile(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return 0;
  auto index = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(index), v.end());
  return v[index];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, o)) {
    usage(stderr);
    return 2;
  }
  SSL_CTX* tls = nullptr;
  if (o.tls && !(tls = make_tls_context(o))) return 2;

  Stats setup;
  std::vector<Conn> conns(static_cast<std::size_t>(o.connections));
  std::vector<Conn*> open;
  for (std::size_t i = 0; i < conns.size(); ++i) {
    conns[i].rng = static_cast<std::uint32_t>(0x9E3779B9u * (i + 1));
    if (open_connection(o, tls, conns[i], setup)) {
      open.push_back(&conns[i]);
    } else {
      close_connection(conns[i]);
    }
  }
  if (tls && !open.empty()) {
    std::fprintf(stderr, "modbus_bench: %s: %s %s\n", o.name.c_str(), SSL_get_version(open.front()->ssl),
                 SSL_get_cipher_name(open.front()->ssl));
  }
  if (open.empty()) {
    std::fprintf(stderr, "modbus_bench: %s: no connection could be opened\n", o.name.c_str());
    std::printf(
        "modbus_bench target=%s workload=%s tls=%d connections=%d requests=0 rps=0 p50_us=0 p99_us=0 errors=%llu\n",
        o.name.c_str(), o.workload->name, o.tls ? 1 : 0, o.connections,
        static_cast<unsigned long long>(setup.total_errors()));
    return 2;
  }

  auto to_duration = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const auto start = Clock::now() + std::chrono::milliseconds(10);
  const auto measure_from = start + to_duration(o.warmup_s);
  const auto end = measure_from + to_duration(o.duration_s);
  std::atomic<std::uint64_t> sent{0};

  std::vector<std::unique_ptr<Loop>> loops;
  for (int t = 0; t < o.threads; ++t) {
    std::vector<Conn*> mine;
    for (std::size_t i = static_cast<std::size_t>(t); i < open.size(); i += static_cast<std::size_t>(o.threads))
      mine.push_back(open[i]);
    if (mine.empty()) continue;
    loops.push_back(std::make_unique<Loop>(o, std::move(mine), sent, start, measure_from, end));
    loops.back()->set_live();
  }
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < loops.size(); ++t) threads.emplace_back([&loop = *loops[t]] { loop.run(); });
  loops[0]->run();
  for (auto& t : threads) t.join();

  Stats total = setup;
  Clock::time_point last = measure_from;
  for (auto& loop : loops) {
    auto& s = loop->stats();
    total.latencies_us.insert(total.latencies_us.end(), s.latencies_us.begin(), s.latencies_us.end());
    for (int k = 0; k < kErrorKinds; ++k) total.errors[k] += s.errors[k];
    last = std::max(last, s.last_activity);
  }
  const double window_s = std::chrono::duration<double>(last - measure_from).count();
  const auto requests = total.latencies_us.size();
  const double rps = window_s > 0 ? static_cast<double>(requests) / window_s : 0.0;
  const auto p50 = percentile(total.latencies_us, 0.50);
  const auto p99 = percentile(total.latencies_us, 0.99);
  const auto errors = total.total_errors();
  std::printf(
      "modbus_bench target=%s workload=%s tls=%d connections=%d requests=%zu rps=%.1f p50_us=%u p99_us=%u "
      "errors=%llu\n",
      o.name.c_str(), o.workload->name, o.tls ? 1 : 0, o.connections, requests, rps, p50, p99,
      static_cast<unsigned long long>(errors));
  std::fflush(stdout);
  if (sent.load() >= o.max_requests)
    std::fprintf(stderr, "modbus_bench: %s: stopped by --max-requests %llu before the end of the window\n",
                 o.name.c_str(), static_cast<unsigned long long>(o.max_requests));
  if (errors) {
    std::fprintf(stderr, "modbus_bench: %s: errors:", o.name.c_str());
    for (int k = 0; k < kErrorKinds; ++k)
      if (total.errors[k]) std::fprintf(stderr, " %s=%llu", kErrorNames[k], static_cast<unsigned long long>(total.errors[k]));
    std::fprintf(stderr, "\n");
  }
  if (tls) SSL_CTX_free(tls);
  return errors ? 1 : 0;
}
