// Micro-benchmark of the Modbus/TCP codec on the proxy's per-request path: decode a
// request, then re-encode it with a new transaction id. Prints figures; asserts nothing.
//
//   modbus_codec_bench [iterations]     (default 10,000,000)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "protocols/modbus/codec.hpp"

namespace modbus = conduit::protocols::modbus;

namespace {

using Clock = std::chrono::steady_clock;

// Keeps results observable so the loops are not optimised away.
volatile std::uint64_t g_sink = 0;

std::vector<std::uint8_t> read_holding_request() {
  return {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x06,  // length
      0x01,        // unit id
      0x03,        // function: read holding registers
      0x00, 0x6B,  // start 107
      0x00, 0x7D,  // quantity 125
  };
}

std::vector<std::uint8_t> write_123_registers_request() {
  std::vector<std::uint8_t> adu = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0xFD,  // length 253: unit + 252-byte PDU
      0x01,        // unit id
      0x10,        // function: write multiple registers
      0x00, 0x64,  // start 100
      0x00, 0x7B,  // quantity 123
      0xF6,        // byte count 246
  };
  for (std::uint16_t i = 0; i < 123; ++i) {
    adu.push_back(static_cast<std::uint8_t>(i >> 8));
    adu.push_back(static_cast<std::uint8_t>(i));
  }
  return adu;
}

double ns_per_op(Clock::duration elapsed, std::uint64_t iterations) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) /
         static_cast<double>(iterations);
}

struct Figures {
  double decode_ns;
  double encode_ns;
  double round_trip_ns;
};

Figures run(const char* name, const std::vector<std::uint8_t>& adu, std::uint64_t iterations) {
  const std::span<const std::uint8_t> in(adu);
  std::uint8_t out[modbus::kMaxAduSize];
  std::uint64_t sink = 0;

  const modbus::RequestDecode probe = modbus::decode_request(in);
  if (probe.status != modbus::DecodeStatus::ok || probe.request.anomalies != modbus::kAnomalyNone ||
      modbus::encode_request(probe.request, 1, out) != adu.size()) {
    std::fprintf(stderr, "%s: fixture does not decode cleanly\n", name);
    std::exit(1);
  }

  auto start = Clock::now();
  for (std::uint64_t i = 0; i < iterations; ++i) {
    const modbus::RequestDecode d = modbus::decode_request(in);
    sink += d.size + d.request.anomalies + d.request.write.count;
  }
  const auto decode_time = Clock::now() - start;

  start = Clock::now();
  for (std::uint64_t i = 0; i < iterations; ++i) {
    sink += modbus::encode_request(probe.request, static_cast<std::uint16_t>(i), out);
    sink += out[0];
  }
  const auto encode_time = Clock::now() - start;

  start = Clock::now();
  for (std::uint64_t i = 0; i < iterations; ++i) {
    const modbus::RequestDecode d = modbus::decode_request(in);
    sink += modbus::encode_request(d.request, static_cast<std::uint16_t>(i), out);
    sink += out[0];
  }
  const auto round_trip_time = Clock::now() - start;
  g_sink = g_sink + sink;

  const Figures f{ns_per_op(decode_time, iterations), ns_per_op(encode_time, iterations),
                  ns_per_op(round_trip_time, iterations)};
  const double mb_per_s = static_cast<double>(adu.size()) / f.round_trip_ns * 1e3;
  std::printf("%-28s %4zu B  decode %7.1f ns/op  encode %7.1f ns/op  decode+encode %7.1f ns/op  (%.0f MB/s)\n",
              name, adu.size(), f.decode_ns, f.encode_ns, f.round_trip_ns, mb_per_s);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  std::printf("modbus codec, %llu iterations per loop\n", static_cast<unsigned long long>(iterations));
  const Figures small = run("FC3 read 125 registers", read_holding_request(), iterations);
  const Figures large = run("FC16 write 123 registers", write_123_registers_request(), iterations);
  std::printf("ratio FC16/FC3 decode+encode: %.2fx\n", large.round_trip_ns / small.round_trip_ns);
  return 0;
}
