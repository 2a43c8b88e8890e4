#include "audit/replay_modbus.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>
#include <utility>

#include "protocols/modbus/codec.hpp"

namespace conduit::audit {

namespace {

namespace mb = conduit::protocols::modbus;
namespace fc = conduit::protocols::modbus::function;

std::uint16_t be16(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}

std::string hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", static_cast<unsigned>(v));
  return buf;
}

std::string head(std::uint8_t unit, std::uint8_t function) {
  return "unit " + std::to_string(unit) + " fc " + std::to_string(function);
}

// " = 1, 2, 3" with at most kReplayMaxValues values.
void append_registers(std::string& out, std::span<const std::uint8_t> big_endian) {
  const std::size_t n = big_endian.size() / 2;
  out += " =";
  for (std::size_t i = 0; i < n && i < kReplayMaxValues; ++i) {
    out += i == 0 ? " " : ", ";
    out += std::to_string(be16(big_endian, 2 * i));
  }
  if (n > kReplayMaxValues) out += ", ... (+" + std::to_string(n - kReplayMaxValues) + " more)";
}

// " = 10110000 11": `count` bits packed LSB first, as Modbus packs coils, so that the
// i-th character is the coil at start + i; a space after every 8.
void append_bits(std::string& out, std::span<const std::uint8_t> packed, std::size_t count) {
  count = std::min(count, packed.size() * 8);
  const std::size_t shown = std::min(count, kReplayMaxValues * 8);
  out += " = ";
  for (std::size_t i = 0; i < shown; ++i) {
    if (i != 0 && i % 8 == 0) out += ' ';
    out += ((packed[i / 8] >> (i % 8)) & 1) != 0 ? '1' : '0';
  }
  if (count > shown) out += " ... (+" + std::to_string(count - shown) + " more)";
}

std::string range(const mb::TableRange& r, bool with_count = true) {
  std::string out = std::string(mb::table_name(r.table)) + " " + std::to_string(r.start);
  if (with_count) out += "+" + std::to_string(r.count);
  return out;
}

void append_trailer(std::string& out, std::size_t adu_size, std::size_t payload_size) {
  if (payload_size > adu_size) out += " (+" + std::to_string(payload_size - adu_size) + " bytes after the ADU)";
}

// The codec's own anomaly list (" [a,b]"), taken from describe() so that the names are
// spelled in one place.
std::string request_anomalies(const mb::Request& request) {
  std::array<char, 512> text{};
  const std::size_t n = mb::describe(request, text);
  const std::string_view all(text.data(), n);
  const std::size_t at = all.rfind(" [");
  return at == std::string_view::npos ? std::string() : std::string(all.substr(at));
}

// The same list for a response, lowest flag first, in the codec's spelling.
std::string response_anomalies(std::uint32_t anomalies) {
  std::string out;
  for (std::uint32_t rest = anomalies; rest != 0; rest &= rest - 1) {
    out += out.empty() ? " [" : ",";
    out += mb::anomaly_name(rest & (~rest + 1));  // the lowest set bit
  }
  if (!out.empty()) out += ']';
  return out;
}

}  // namespace

const char* modbus_exception_name(std::uint8_t code) noexcept {
  switch (code) {
    case 0x01: return "illegal function";
    case 0x02: return "illegal data address";
    case 0x03: return "illegal data value";
    case 0x04: return "server device failure";
    case 0x05: return "acknowledge";
    case 0x06: return "server device busy";
    case 0x07: return "negative acknowledge";
    case 0x08: return "memory parity error";
    case 0x0A: return "gateway path unavailable";
    case 0x0B: return "gateway target device failed to respond";
    default: return "unknown exception";
  }
}

std::optional<std::string> describe_modbus_request(std::span<const std::uint8_t> adu) {
  const mb::RequestDecode decoded = mb::decode_request(adu);
  if (decoded.status != mb::DecodeStatus::ok) return std::nullopt;
  const mb::Request& r = decoded.request;
  std::string out;
  // Without these the typed fields are incomplete; describe() says what is known.
  if ((r.anomalies & (mb::kTruncatedPdu | mb::kByteCountMismatch)) != 0) {
    std::array<char, 512> text{};
    out.assign(text.data(), mb::describe(r, text));
    append_trailer(out, decoded.size, adu.size());
    return out;
  }
  out = head(r.mbap.unit_id, r.function);
  switch (r.function) {
    case fc::kReadCoils:
    case fc::kReadDiscreteInputs:
    case fc::kReadHoldingRegisters:
    case fc::kReadInputRegisters:
      out += " read " + range(r.read);
      break;
    case fc::kWriteSingleCoil: {
      const std::uint16_t v = be16(r.values, 0);
      out += " write " + range(r.write, false) + " = " + (v == 0xFF00 ? "1" : v == 0 ? "0" : hex16(v));
      break;
    }
    case fc::kWriteSingleRegister:
      out += " write " + range(r.write, false) + " = " + std::to_string(be16(r.values, 0));
      break;
    case fc::kWriteMultipleCoils:
      out += " write " + range(r.write);
      append_bits(out, r.values, r.write.count);
      break;
    case fc::kWriteMultipleRegisters:
      out += " write " + range(r.write);
      append_registers(out, r.values);
      break;
    case fc::kMaskWriteRegister:
      out += " mask " + range(r.write, false) + " and " + hex16(be16(r.values, 0)) + " or " + hex16(be16(r.values, 2));
      break;
    case fc::kReadWriteMultipleRegisters:
      out += " read " + range(r.read) + " write " + range(r.write);
      append_registers(out, r.values);
      break;
    default: {
      // Diagnostics, device identification, file records, FIFO, non-public codes: the
      // codec's summary names them (and its anomaly list is already in it).
      std::array<char, 512> text{};
      out.assign(text.data(), mb::describe(r, text));
      append_trailer(out, decoded.size, adu.size());
      return out;
    }
  }
  out += request_anomalies(r);
  append_trailer(out, decoded.size, adu.size());
  return out;
}

std::optional<std::string> describe_modbus_response(std::span<const std::uint8_t> adu) {
  const mb::ResponseDecode decoded = mb::decode_response(adu);
  if (decoded.status != mb::DecodeStatus::ok) return std::nullopt;
  const mb::Response& r = decoded.response;
  const std::span<const std::uint8_t> d = r.pdu_data;
  std::string out;
  if (r.is_exception && (r.anomalies & mb::kTruncatedPdu) == 0) {
    char code[4];
    std::snprintf(code, sizeof code, "%02X", static_cast<unsigned>(r.exception_code));
    out = std::string("exception ") + code + " " + modbus_exception_name(r.exception_code);
  } else if (r.is_exception || (r.anomalies & (mb::kTruncatedPdu | mb::kByteCountMismatch)) != 0) {
    out = head(r.mbap.unit_id, r.function) + (r.is_exception ? " exception" : " response") + ", " +
          std::to_string(decoded.size) + " bytes";
  } else {
    out = head(r.mbap.unit_id, r.function);
    // The decoder checked the sizes these cases read (no truncation, no count mismatch).
    switch (r.function) {
      case fc::kReadCoils:
      case fc::kReadDiscreteInputs:
        out += std::string(" read ") + (r.function == fc::kReadCoils ? "coils" : "discrete_inputs");
        append_bits(out, d.subspan(1, d[0]), d[0] * std::size_t{8});
        break;
      case fc::kReadHoldingRegisters:
      case fc::kReadInputRegisters:
      case fc::kReadWriteMultipleRegisters:
        out += r.function == fc::kReadInputRegisters ? " read input_registers" : " read holding_registers";
        append_registers(out, d.subspan(1, d[0]));
        break;
      case fc::kWriteSingleCoil: {
        const std::uint16_t v = be16(d, 2);
        out += " echo coils " + std::to_string(be16(d, 0)) + " = " + (v == 0xFF00 ? "1" : v == 0 ? "0" : hex16(v));
        break;
      }
      case fc::kWriteSingleRegister:
        out += " echo holding_registers " + std::to_string(be16(d, 0)) + " = " + std::to_string(be16(d, 2));
        break;
      case fc::kWriteMultipleCoils:
      case fc::kWriteMultipleRegisters:
        out += std::string(" echo ") + (r.function == fc::kWriteMultipleCoils ? "coils " : "holding_registers ") +
               std::to_string(be16(d, 0)) + "+" + std::to_string(be16(d, 2));
        break;
      case fc::kMaskWriteRegister:
        out += " echo holding_registers " + std::to_string(be16(d, 0)) + " and " + hex16(be16(d, 2)) + " or " +
               hex16(be16(d, 4));
        break;
      default:
        out += " response, " + std::to_string(decoded.size) + " bytes";
        break;
    }
  }
  out += response_anomalies(r.anomalies);
  append_trailer(out, decoded.size, adu.size());
  return out;
}

}  // namespace conduit::audit
