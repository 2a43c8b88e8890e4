/*
 * plc_sim: a simulated Modbus/TCP PLC for Conduit's integration tests and benchmarks.
 *
 * Contract
 *   plc_sim --port N [--host 127.0.0.1] [--max-connections K] [--unit-ids 1,2]
 *           [--log FILE] [--port-file FILE]
 *   --port 0 picks a free port. Once the socket listens, prints
 *   "plc_sim listening on HOST:PORT" (flushed) and, with --port-file, writes the port
 *   number to FILE atomically (FILE.tmp + rename), so tests wait on the file, not on sleeps.
 *   SIGTERM / SIGINT: closes every connection and exits 0.
 *
 * Register map (10000 of each, addresses 0..9999), deterministic at start:
 *   holding register i = i, input register i = 1000 + i, coil i = i % 2,
 *   discrete input i = (i % 3 == 0). Writes change the map (FC 5/6/15/16/22/23).
 *
 * Serving: one thread, a poll() loop over the listening socket and every connection, as in
 * libmodbus's tests/bandwidth-server-many-up.c (poll rather than select so that the
 * descriptor count is not capped by FD_SETSIZE). libmodbus's modbus_receive() reads exactly
 * one ADU from the socket (header first, then the length its function code implies), so
 * pipelined ADUs stay in the kernel buffer and poll() reports the socket readable again:
 * requests are answered one by one, in order, per connection.
 *   At most --max-connections (default 8) connections at once: one more is accepted and
 *   closed at once, so the client sees EOF, and the refusal is logged.
 *   --unit-ids: only those unit ids are answered; a request to another unit gets no reply
 *   (a gateway with a missing slave behaves like this) and is logged with "ignored".
 *
 * --log FILE: one JSON object a line, flushed per line, written when a request is received
 * and before it is answered:
 *   {"conn":N,"unit":U,"function":F,"address":A,"count":C}                 FC 1-4
 *   {"conn":N,"unit":U,"function":F,"address":A,"count":C,"values":[..]}   FC 5/6/15/16/23
 *   {"conn":N,"unit":U,"function":F}                                       any other FC
 *   {"conn":N,"unit":U,"function":22,"address":A,"count":1,"and_mask":M,"or_mask":M}
 *   FC 23 (read/write multiple registers): address/count/values describe the write,
 *   read_address/read_count the read. FC 5 values are 0/1 (coils), FC 15 one 0/1 per coil.
 *   {"event":"connect","conn":N}  {"event":"disconnect","conn":N}
 *   {"event":"refused","reason":"max connections"}
 * Tests assert on this log (a write the gateway denied never appears here; connection
 * counts), so a line is written for every ADU libmodbus hands us, even one it will reject.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kRegisterCount = 10000, kMaxConnectionsLimit = 4096, kListenBacklog = 512, kMbapLength = 7 };

typedef struct {
  int fd;
  unsigned long id;
} Connection;

typedef struct {
  const char* host;
  int port;
  int max_connections;
  bool unit_filter;
  bool units[256];
  const char* log_path;
  const char* port_file;
} Options;

static volatile sig_atomic_t g_stop = 0;
static FILE* g_log = NULL;

static void on_signal(int signo) {
  (void)signo;
  g_stop = 1;
}

static void usage(FILE* out) {
  fprintf(out,
          "usage: plc_sim --port N [--host 127.0.0.1] [--max-connections K] [--unit-ids 1,2]\n"
          "               [--log FILE] [--port-file FILE]\n"
          "  --port 0 picks a free port; the port is printed and written to --port-file.\n");
}

static bool parse_int(const char* text, long min, long max, long* out) {
  char* end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min || value > max) return false;
  *out = value;
  return true;
}

static bool parse_unit_ids(const char* text, Options* options) {
  char* copy = strdup(text);
  if (!copy) return false;
  bool ok = true;
  char* save = NULL;
  for (char* item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    long unit = 0;
    if (!parse_int(item, 0, 255, &unit)) {
      ok = false;
      break;
    }
    options->units[unit] = true;
    options->unit_filter = true;
  }
  free(copy);
  return ok && options->unit_filter;
}

static bool parse_options(int argc, char** argv, Options* options) {
  static const struct option long_options[] = {
      {"port", required_argument, NULL, 'p'},      {"host", required_argument, NULL, 'H'},
      {"max-connections", required_argument, NULL, 'm'}, {"unit-ids", required_argument, NULL, 'u'},
      {"log", required_argument, NULL, 'l'},       {"port-file", required_argument, NULL, 'f'},
      {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
  memset(options, 0, sizeof *options);
  options->host = "127.0.0.1";
  options->port = -1;
  options->max_connections = 8;
  int opt;
  long value = 0;
  while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    switch (opt) {
      case 'p':
        if (!parse_int(optarg, 0, 65535, &value)) return false;
        options->port = (int)value;
        break;
      case 'H': options->host = optarg; break;
      case 'm':
        if (!parse_int(optarg, 1, kMaxConnectionsLimit, &value)) return false;
        options->max_connections = (int)value;
        break;
      case 'u':
        if (!parse_unit_ids(optarg, options)) return false;
        break;
      case 'l': options->log_path = optarg; break;
      case 'f': options->port_file = optarg; break;
      case 'h': usage(stdout); exit(0);
      default: return false;
    }
  }
  return optind == argc && options->port >= 0;
}

static void log_line(const char* format, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char* format, ...) {
  if (!g_log) return;
  va_list args;
  va_start(args, format);
  vfprintf(g_log, format, args);
  va_end(args);
  fputc('\n', g_log);
  fflush(g_log);
}

static unsigned be16(const uint8_t* p) { return ((unsigned)p[0] << 8) | p[1]; }

/* Appends ",\"values\":[...]" for `count` registers (big-endian) starting at `p`, as far as
 * the ADU of `length` bytes holds them (libmodbus checks the counts only when replying). */
static void append_register_values(FILE* out, const uint8_t* adu, int length, const uint8_t* p, unsigned count) {
  fputs(",\"values\":[", out);
  for (unsigned i = 0; i < count && p + 2 * i + 1 < adu + length; ++i) fprintf(out, "%s%u", i ? "," : "", be16(p + 2 * i));
  fputc(']', out);
}

static void append_coil_values(FILE* out, const uint8_t* adu, int length, const uint8_t* p, unsigned count) {
  fputs(",\"values\":[", out);
  for (unsigned i = 0; i < count && p + i / 8 < adu + length; ++i) fprintf(out, "%s%u", i ? "," : "", (p[i / 8] >> (i % 8)) & 1u);
  fputc(']', out);
}

/* One line for one received ADU (MBAP header + PDU, `length` bytes). */
static void log_request(unsigned long conn, const uint8_t* adu, int length, bool ignored) {
  if (!g_log || length < kMbapLength + 1) return;
  const unsigned unit = adu[6];
  const unsigned function = adu[7];
  const uint8_t* pdu = adu + kMbapLength;
  const int pdu_length = length - kMbapLength;
  FILE* out = g_log;
  fprintf(out, "{\"conn\":%lu,\"unit\":%u,\"function\":%u", conn, unit, function);
  if (pdu_length >= 5) {
    const unsigned address = be16(pdu + 1);
    const unsigned word = be16(pdu + 3);
    switch (function) {
      case 1: case 2: case 3: case 4:
        fprintf(out, ",\"address\":%u,\"count\":%u", address, word);
        break;
      case 5:
        fprintf(out, ",\"address\":%u,\"count\":1,\"values\":[%u]", address, word == 0xFF00 ? 1u : 0u);
        break;
      case 6:
        fprintf(out, ",\"address\":%u,\"count\":1,\"values\":[%u]", address, word);
        break;
      case 15:
        fprintf(out, ",\"address\":%u,\"count\":%u", address, word);
        if (pdu_length >= 6) append_coil_values(out, adu, length, pdu + 6, word);
        break;
      case 16:
        fprintf(out, ",\"address\":%u,\"count\":%u", address, word);
        if (pdu_length >= 6) append_register_values(out, adu, length, pdu + 6, word);
        break;
      case 22: /* mask write register: not a plain value, so the masks are logged instead */
        if (pdu_length >= 7)
          fprintf(out, ",\"address\":%u,\"count\":1,\"and_mask\":%u,\"or_mask\":%u", address, word, be16(pdu + 5));
        break;
      case 23:
        if (pdu_length >= 10) {
          const unsigned write_address = be16(pdu + 5);
          const unsigned write_count = be16(pdu + 7);
          fprintf(out, ",\"address\":%u,\"count\":%u,\"read_address\":%u,\"read_count\":%u", write_address,
                  write_count, address, word);
          append_register_values(out, adu, length, pdu + 10, write_count);
        }
        break;
      default: break;
    }
  }
  if (ignored) fputs(",\"ignored\":\"unit id not served\"", out);
  fputs("}\n", out);
  fflush(out);
}

static modbus_mapping_t* make_register_map(void) {
  modbus_mapping_t* map = modbus_mapping_new(kRegisterCount, kRegisterCount, kRegisterCount, kRegisterCount);
  if (!map) return NULL;
  for (int i = 0; i < kRegisterCount; ++i) {
    map->tab_bits[i] = (uint8_t)(i % 2);
    map->tab_input_bits[i] = (uint8_t)(i % 3 == 0);
    map->tab_registers[i] = (uint16_t)i;
    map->tab_input_registers[i] = (uint16_t)(1000 + i);
  }
  return map;
}

static int open_listener(const Options* options, int* bound_port) {
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)options->port);
  if (inet_pton(AF_INET, options->host, &addr.sin_addr) != 1) {
    fprintf(stderr, "plc_sim: --host must be an IPv4 address: %s\n", options->host);
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(fd, kListenBacklog) != 0) {
    fprintf(stderr, "plc_sim: cannot listen on %s:%d: %s\n", options->host, options->port, strerror(errno));
    close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  if (getsockname(fd, (struct sockaddr*)&addr, &len) != 0) {
    close(fd);
    return -1;
  }
  *bound_port = ntohs(addr.sin_port);
  return fd;
}

static bool write_port_file(const char* path, int port) {
  size_t n = strlen(path) + 8;
  char* tmp = malloc(n);
  if (!tmp) return false;
  snprintf(tmp, n, "%s.tmp", path);
  FILE* f = fopen(tmp, "w");
  bool ok = f && fprintf(f, "%d\n", port) > 0;
  if (f) ok = (fclose(f) == 0) && ok;
  ok = ok && rename(tmp, path) == 0;
  if (!ok) unlink(tmp);
  free(tmp);
  return ok;
}

static void close_connection(Connection* conns, struct pollfd* fds, int* count, int index) {
  log_line("{\"event\":\"disconnect\",\"conn\":%lu}", conns[index].id);
  close(conns[index].fd);
  /* fds[0] is the listener; connection i lives at fds[i + 1]. Keep both arrays dense. */
  conns[index] = conns[*count - 1];
  fds[index + 1] = fds[*count];
  --*count;
}

/* Serves one ADU from connection `index`. Returns false when the connection must close. */
static bool serve_one(modbus_t* ctx, modbus_mapping_t* map, const Options* options, const Connection* conn) {
  uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
  modbus_set_socket(ctx, conn->fd);
  int rc = modbus_receive(ctx, query);
  if (rc == 0) return true; /* libmodbus ignored the frame; nothing to answer */
  if (rc < 0) return false; /* EOF (ECONNRESET), byte timeout, or a frame libmodbus cannot size */
  const bool served = !options->unit_filter || options->units[query[6]];
  log_request(conn->id, query, rc, !served);
  if (!served) return true;
  return modbus_reply(ctx, query, rc, map) >= 0;
}

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, &options)) {
    usage(stderr);
    return 2;
  }
  if (options.log_path) {
    g_log = fopen(options.log_path, "a");
    if (!g_log) {
      fprintf(stderr, "plc_sim: cannot open log %s: %s\n", options.log_path, strerror(errno));
      return 2;
    }
  }

  /* Signals stay blocked except inside ppoll(), so a SIGTERM between the g_stop check and
   * the wait cannot be lost. */
  sigset_t blocked, wait_mask;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigprocmask(SIG_BLOCK, &blocked, &wait_mask);
  sigdelset(&wait_mask, SIGTERM);
  sigdelset(&wait_mask, SIGINT);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  signal(SIGPIPE, SIG_IGN);

  int port = 0;
  int listener = open_listener(&options, &port);
  if (listener < 0) return 1;

  modbus_t* ctx = modbus_new_tcp(options.host, port); /* used for framing only, never connects */
  modbus_mapping_t* map = make_register_map();
  Connection* conns = calloc((size_t)options.max_connections, sizeof *conns);
  struct pollfd* fds = calloc((size_t)options.max_connections + 1, sizeof *fds);
  if (!ctx || !map || !conns || !fds) {
    fprintf(stderr, "plc_sim: out of memory\n");
    return 1;
  }

  if (options.port_file && !write_port_file(options.port_file, port)) {
    fprintf(stderr, "plc_sim: cannot write port file %s: %s\n", options.port_file, strerror(errno));
    return 1;
  }
  printf("plc_sim listening on %s:%d\n", options.host, port);
  fflush(stdout);

  fds[0].fd = listener;
  fds[0].events = POLLIN;
  int count = 0;
  unsigned long next_id = 1;
  while (!g_stop) {
    int ready = ppoll(fds, (nfds_t)count + 1, NULL, &wait_mask);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "plc_sim: poll: %s\n", strerror(errno));
      break;
    }
    /* Connections first (from the back, since closing moves the last one into the hole),
     * then the listener, so a connection accepted now is not looked at with stale revents. */
    for (int i = count - 1; i >= 0; --i) {
      short revents = fds[i + 1].revents;
      fds[i + 1].revents = 0;
      if (!revents) continue;
      if ((revents & (POLLIN | POLLHUP | POLLERR)) && !serve_one(ctx, map, &options, &conns[i]))
        close_connection(conns, fds, &count, i);
    }
    if (fds[0].revents & POLLIN) {
      for (;;) { /* drain the accept queue */
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) break; /* EAGAIN, or a transient error: poll again */
        if (count >= options.max_connections) {
          close(fd);
          log_line("{\"event\":\"refused\",\"reason\":\"max connections\"}");
          continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[count].fd = fd;
        conns[count].id = next_id++;
        fds[count + 1].fd = fd;
        fds[count + 1].events = POLLIN;
        fds[count + 1].revents = 0;
        ++count;
        log_line("{\"event\":\"connect\",\"conn\":%lu}", conns[count - 1].id);
      }
    }
    fds[0].revents = 0;
  }

  while (count > 0) close_connection(conns, fds, &count, count - 1);
  close(listener);
  modbus_mapping_free(map);
  modbus_free(ctx);
  free(conns);
  free(fds);
  if (g_log) fclose(g_log);
  return 0;
}
