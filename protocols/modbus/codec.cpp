#include "protocols/modbus/codec.hpp"

#include <bit>

namespace conduit::protocols::modbus {
namespace {

using Bytes = std::span<const std::uint8_t>;

constexpr std::size_t kMaxPduData = kMaxLength - 2;  // PDU bytes after the function byte
constexpr std::uint32_t kAddressSpace = 0x10000;
constexpr std::uint16_t kFifoRange = kMaxFifoCount + 1;  // count register + queued values
constexpr std::uint8_t kFileReferenceType = 6;
constexpr std::uint16_t kMaxFileRecord = 0x270F;
constexpr std::uint16_t kCoilOn = 0xFF00;
constexpr std::uint16_t kCoilOff = 0x0000;
constexpr std::uint8_t kMeiCanopen = 13;
constexpr std::uint8_t kMeiDeviceId = 14;

constexpr std::uint16_t get_u16(Bytes bytes, std::size_t offset) noexcept {
  return static_cast<std::uint16_t>((bytes[offset] << 8) | bytes[offset + 1]);
}

constexpr void put_u16(std::uint8_t* out, std::uint16_t value) noexcept {
  out[0] = static_cast<std::uint8_t>(value >> 8);
  out[1] = static_cast<std::uint8_t>(value & 0xFF);
}

constexpr bool same_bytes(Bytes a, Bytes b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// MBAP framing shared by requests and responses. Protocol id and Length are checked as
// soon as the header is in, so a bad frame is rejected without waiting for its body.
struct Frame {
  DecodeStatus status = DecodeStatus::need_more;
  FramingError error = FramingError::none;
  std::size_t size = 0;
  Mbap mbap;
  Bytes adu;
};

Frame frame(Bytes stream) noexcept {
  Frame f;
  if (stream.size() < kMbapSize) {
    f.size = kMbapSize;
    return f;
  }
  f.mbap.transaction_id = get_u16(stream, 0);
  f.mbap.protocol_id = get_u16(stream, 2);
  f.mbap.length = get_u16(stream, 4);
  f.mbap.unit_id = stream[6];
  if (f.mbap.protocol_id != 0) {
    f.status = DecodeStatus::malformed;
    f.error = FramingError::bad_protocol_id;
    return f;
  }
  if (f.mbap.length < kMinLength || f.mbap.length > kMaxLength) {
    f.status = DecodeStatus::malformed;
    f.error = FramingError::bad_length;
    return f;
  }
  const std::size_t total = kMbapSize - 1 + f.mbap.length;
  f.size = total;
  if (stream.size() < total) return f;
  f.status = DecodeStatus::ok;
  f.adu = stream.first(total);
  return f;
}

// A PDU part of fixed size `n`: shorter is truncated (the fields are absent), longer has
// trailing bytes (the fields are there, the rest is ignored and never re-encoded).
bool fixed_size(Bytes data, std::size_t n, std::uint32_t& anomalies) noexcept {
  if (data.size() < n) {
    anomalies |= kTruncatedPdu;
    return false;
  }
  if (data.size() > n) anomalies |= kTrailingBytes;
  return true;
}

// The `byte_count` bytes announced after a `header`-byte fixed part, as far as present.
Bytes counted(Bytes data, std::size_t header, std::size_t byte_count, std::uint32_t& anomalies) noexcept {
  Bytes rest = data.subspan(header);
  if (rest.size() < byte_count) {
    anomalies |= kByteCountMismatch;
    return rest;
  }
  if (rest.size() > byte_count) anomalies |= kTrailingBytes;
  return rest.first(byte_count);
}

void set_range(TableRange& range, Table table, std::uint16_t start, std::uint16_t count, std::uint16_t max_count,
               std::uint32_t& anomalies) noexcept {
  range = TableRange{table, start, count};
  if (count == 0 || count > max_count) anomalies |= kQuantityOutOfRange;
  if (static_cast<std::uint32_t>(start) + count > kAddressSpace) anomalies |= kAddressOverflow;
}

constexpr bool is_public_diagnostic(std::uint16_t sub) noexcept {
  return sub <= 4 || (sub >= 10 && sub <= 18) || sub == 20;
}

// FC 8 sub-functions that only read: 0 echoes, 2 and 11..18 return counters.
constexpr bool is_read_only_diagnostic(std::uint16_t sub) noexcept {
  return sub == 0 || sub == 2 || (sub >= 11 && sub <= 18);
}

// FC 20: n x {ref(1) file(2) record(2) length(2)}. Every sub-response costs 2 + 2*length
// bytes and all of them must fit in a response byte count of at most 0xF5.
void decode_read_file_record(Request& r) noexcept {
  Bytes d = r.pdu_data;
  std::uint32_t& a = r.anomalies;
  if (d.empty()) {
    a |= kTruncatedPdu;
    return;
  }
  r.read = TableRange{Table::file_records, 0, 0};
  const std::size_t byte_count = d[0];
  if (byte_count < 0x07 || byte_count > 0xF5) a |= kQuantityOutOfRange;
  if (byte_count % 7 != 0) a |= kByteCountMismatch;
  Bytes body = counted(d, 1, byte_count, a);
  std::size_t response_bytes = 0;
  for (std::size_t i = 0; i + 7 <= body.size(); i += 7) {
    const std::uint16_t record = get_u16(body, i + 3);
    const std::uint16_t length = get_u16(body, i + 5);
    if (body[i] != kFileReferenceType || record > kMaxFileRecord) a |= kInvalidFileReference;
    if (length == 0) a |= kQuantityOutOfRange;
    response_bytes += 2 + 2 * static_cast<std::size_t>(length);
  }
  if (response_bytes > 0xF5) a |= kQuantityOutOfRange;
}

// FC 21: n x {ref(1) file(2) record(2) length(2) data(2*length)}; the sub-requests must
// tile the byte count exactly.
void decode_write_file_record(Request& r) noexcept {
  Bytes d = r.pdu_data;
  std::uint32_t& a = r.anomalies;
  if (d.empty()) {
    a |= kTruncatedPdu;
    return;
  }
  r.write = TableRange{Table::file_records, 0, 0};
  const std::size_t byte_count = d[0];
  if (byte_count < 0x09 || byte_count > 0xFB) a |= kQuantityOutOfRange;
  Bytes body = counted(d, 1, byte_count, a);
  std::size_t i = 0;
  while (i < body.size()) {
    if (body.size() - i < 7) {
      a |= kByteCountMismatch;
      return;
    }
    const std::uint16_t record = get_u16(body, i + 3);
    const std::uint16_t length = get_u16(body, i + 5);
    if (body[i] != kFileReferenceType || record > kMaxFileRecord) a |= kInvalidFileReference;
    if (length == 0) a |= kQuantityOutOfRange;
    const std::size_t data_bytes = 2 * static_cast<std::size_t>(length);
    if (body.size() - i - 7 < data_bytes) {
      a |= kByteCountMismatch;
      return;
    }
    i += 7 + data_bytes;
  }
}

void decode_request_pdu(Request& r) noexcept {
  Bytes d = r.pdu_data;
  std::uint32_t& a = r.anomalies;
  switch (r.function) {
    case function::kReadCoils:
    case function::kReadDiscreteInputs:
      if (!fixed_size(d, 4, a)) break;
      set_range(r.read, r.function == function::kReadCoils ? Table::coils : Table::discrete_inputs,
                get_u16(d, 0), get_u16(d, 2), kMaxReadBits, a);
      break;
    case function::kReadHoldingRegisters:
    case function::kReadInputRegisters:
      if (!fixed_size(d, 4, a)) break;
      set_range(r.read,
                r.function == function::kReadHoldingRegisters ? Table::holding_registers : Table::input_registers,
                get_u16(d, 0), get_u16(d, 2), kMaxReadRegisters, a);
      break;
    case function::kWriteSingleCoil: {
      if (!fixed_size(d, 4, a)) break;
      set_range(r.write, Table::coils, get_u16(d, 0), 1, 1, a);
      r.values = d.subspan(2, 2);
      const std::uint16_t value = get_u16(d, 2);
      if (value != kCoilOn && value != kCoilOff) a |= kInvalidCoilValue;
      break;
    }
    case function::kWriteSingleRegister:
      if (!fixed_size(d, 4, a)) break;
      set_range(r.write, Table::holding_registers, get_u16(d, 0), 1, 1, a);
      r.values = d.subspan(2, 2);
      break;
    case function::kReadExceptionStatus:
    case function::kGetCommEventCounter:
    case function::kGetCommEventLog:
    case function::kReportServerId:
      fixed_size(d, 0, a);
      break;
    case function::kDiagnostics:
      if (d.size() < 2) {
        a |= kTruncatedPdu;
        break;
      }
      r.subfunction = get_u16(d, 0);
      if (!is_public_diagnostic(r.subfunction)) {
        a |= kNonPublicSubfunction;
      } else if (r.subfunction != 0) {
        // Every public sub-function but 0 (echo, any length) carries exactly 2 data bytes.
        fixed_size(d, 4, a);
      }
      break;
    case function::kWriteMultipleCoils: {
      if (d.size() < 5) {
        a |= kTruncatedPdu;
        break;
      }
      const std::uint16_t quantity = get_u16(d, 2);
      set_range(r.write, Table::coils, get_u16(d, 0), quantity, kMaxWriteBits, a);
      const std::size_t byte_count = d[4];
      if (byte_count != (quantity + 7u) / 8u) a |= kByteCountMismatch;
      r.values = counted(d, 5, byte_count, a);
      break;
    }
    case function::kWriteMultipleRegisters: {
      if (d.size() < 5) {
        a |= kTruncatedPdu;
        break;
      }
      const std::uint16_t quantity = get_u16(d, 2);
      set_range(r.write, Table::holding_registers, get_u16(d, 0), quantity, kMaxWriteRegisters, a);
      const std::size_t byte_count = d[4];
      if (byte_count != 2u * quantity) a |= kByteCountMismatch;
      r.values = counted(d, 5, byte_count, a);
      break;
    }
    case function::kReadFileRecord:
      decode_read_file_record(r);
      break;
    case function::kWriteFileRecord:
      decode_write_file_record(r);
      break;
    case function::kMaskWriteRegister:
      if (!fixed_size(d, 6, a)) break;
      set_range(r.write, Table::holding_registers, get_u16(d, 0), 1, 1, a);
      r.values = d.subspan(2, 4);
      break;
    case function::kReadWriteMultipleRegisters: {
      if (d.size() < 9) {
        a |= kTruncatedPdu;
        break;
      }
      set_range(r.read, Table::holding_registers, get_u16(d, 0), get_u16(d, 2), kMaxReadRegisters, a);
      const std::uint16_t write_quantity = get_u16(d, 6);
      set_range(r.write, Table::holding_registers, get_u16(d, 4), write_quantity, kMaxRwWriteRegisters, a);
      const std::size_t byte_count = d[8];
      if (byte_count != 2u * write_quantity) a |= kByteCountMismatch;
      r.values = counted(d, 9, byte_count, a);
      break;
    }
    case function::kReadFifoQueue:
      if (!fixed_size(d, 2, a)) break;
      // The modelled range is fixed (count register + up to 31 values), so only the
      // address can be out of bounds, never the quantity.
      set_range(r.read, Table::holding_registers, get_u16(d, 0), kFifoRange, kFifoRange, a);
      break;
    case function::kEncapsulatedInterface:
      if (d.empty()) {
        a |= kTruncatedPdu;
        break;
      }
      r.subfunction = d[0];
      if (r.subfunction == kMeiDeviceId) {
        fixed_size(d, 3, a);  // MEI type, read device id code, object id
      } else if (r.subfunction != kMeiCanopen) {
        a |= kNonPublicSubfunction;
      }
      break;
    default:
      a |= kNonPublicFunction;
      if (r.function >= function::kExceptionBit) a |= kExceptionFunction;
      break;
  }
}

// Bytes after the function byte that the function defines, for the functions whose
// payload is copied rather than rebuilt from typed fields. Returns false if they are
// not all present.
bool defined_payload(const Request& r, Bytes& payload) noexcept {
  Bytes d = r.pdu_data;
  switch (r.function) {
    case function::kDiagnostics:
      if (d.size() < 2) return false;
      if (is_public_diagnostic(r.subfunction) && r.subfunction != 0) {
        if (d.size() < 4) return false;
        payload = d.subspan(2, 2);
      } else {
        payload = d.subspan(2);
      }
      return true;
    case function::kReadFileRecord:
    case function::kWriteFileRecord: {
      if (d.empty() || d.size() < 1u + d[0]) return false;
      payload = d.first(1u + d[0]);
      return true;
    }
    case function::kEncapsulatedInterface:
      if (d.empty()) return false;
      if (r.subfunction == kMeiDeviceId) {
        if (d.size() < 3) return false;
        payload = d.subspan(1, 2);
      } else {
        payload = d.subspan(1);
      }
      return true;
    default:
      payload = d;
      return true;
  }
}

// Builds a PDU in a fixed buffer; any overflow poisons it.
struct PduWriter {
  std::uint8_t bytes[kMaxPduData];  // only [0, size) is read; not zeroed (hot path)
  std::size_t size = 0;
  bool ok = true;

  void u8(std::uint8_t value) noexcept {
    if (size >= sizeof bytes) {
      ok = false;
      return;
    }
    bytes[size++] = value;
  }
  void u16(std::uint16_t value) noexcept {
    u8(static_cast<std::uint8_t>(value >> 8));
    u8(static_cast<std::uint8_t>(value & 0xFF));
  }
  void raw(Bytes data) noexcept {
    if (data.size() > sizeof bytes - size) {
      ok = false;
      return;
    }
    for (std::uint8_t b : data) bytes[size++] = b;
  }
  void counted(Bytes data) noexcept {
    if (data.size() > 0xFF) {
      ok = false;
      return;
    }
    u8(static_cast<std::uint8_t>(data.size()));
    raw(data);
  }
};

std::size_t write_adu(std::uint16_t transaction_id, std::uint8_t unit_id, std::uint8_t function_code, Bytes data,
                      std::span<std::uint8_t> out) noexcept {
  if (data.size() > kMaxPduData) return 0;
  const std::size_t total = kMbapSize + 1 + data.size();
  if (out.size() < total) return 0;
  std::uint8_t* p = out.data();
  put_u16(p, transaction_id);
  put_u16(p + 2, 0);
  put_u16(p + 4, static_cast<std::uint16_t>(2 + data.size()));
  p[6] = unit_id;
  p[7] = function_code;
  for (std::size_t i = 0; i < data.size(); ++i) p[8 + i] = data[i];
  return total;
}

void decode_response_pdu(Response& r) noexcept {
  Bytes d = r.pdu_data;
  std::uint32_t& a = r.anomalies;
  if (r.is_exception) {
    if (fixed_size(d, 1, a)) r.exception_code = d[0];
    return;
  }
  switch (r.function) {
    case function::kReadCoils:
    case function::kReadDiscreteInputs:
    case function::kReadHoldingRegisters:
    case function::kReadInputRegisters:
    case function::kReadWriteMultipleRegisters:
    case function::kGetCommEventLog:
    case function::kReportServerId:
    case function::kReadFileRecord:
    case function::kWriteFileRecord:
      if (d.empty()) {
        a |= kTruncatedPdu;
        break;
      }
      counted(d, 1, d[0], a);
      break;
    case function::kWriteSingleCoil:
    case function::kWriteSingleRegister:
    case function::kWriteMultipleCoils:
    case function::kWriteMultipleRegisters:
    case function::kGetCommEventCounter:
      fixed_size(d, 4, a);
      break;
    case function::kMaskWriteRegister:
      fixed_size(d, 6, a);
      break;
    case function::kReadExceptionStatus:
      fixed_size(d, 1, a);
      break;
    case function::kReadFifoQueue: {
      if (d.size() < 4) {
        a |= kTruncatedPdu;
        break;
      }
      const std::uint16_t byte_count = get_u16(d, 0);
      const std::uint16_t fifo_count = get_u16(d, 2);
      counted(d, 2, byte_count, a);
      if (fifo_count > kMaxFifoCount) a |= kQuantityOutOfRange;
      if (byte_count != 2u + 2u * fifo_count) a |= kByteCountMismatch;
      break;
    }
    default:
      break;  // FC 8 and 43 echo or describe themselves; others are not inspected
  }
}

// Tiny bounded text builder for describe(): truncates silently, always NUL-terminates.
struct TextWriter {
  std::span<char> out;
  std::size_t length = 0;

  void put(char c) noexcept {
    if (length + 1 < out.size()) out[length++] = c;
  }
  void put(const char* text) noexcept {
    while (*text != '\0') put(*text++);
  }
  void put(unsigned value) noexcept {
    char digits[10];
    std::size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (n > 0) put(digits[--n]);
  }
  void range(const char* verb, const TableRange& range, bool with_extent) noexcept {
    put(' ');
    put(verb);
    put(' ');
    put(table_name(range.table));
    if (!with_extent) return;
    put(' ');
    put(static_cast<unsigned>(range.start));
    put('+');
    put(static_cast<unsigned>(range.count));
  }
};

constexpr const char* kAnomalyNames[] = {
    "quantity_out_of_range", "byte_count_mismatch", "address_overflow",       "trailing_bytes",
    "truncated_pdu",         "invalid_coil_value",  "non_public_function",    "non_public_subfunction",
    "broadcast",             "exception_function",  "invalid_file_reference",
};

}  // namespace

RequestDecode decode_request(std::span<const std::uint8_t> stream) noexcept {
  RequestDecode result;
  Frame f = frame(stream);
  result.status = f.status;
  result.error = f.error;
  result.size = f.size;
  result.request.mbap = f.mbap;
  if (f.status != DecodeStatus::ok) return result;

  Request& r = result.request;
  r.function = f.adu[kMbapSize];
  r.pdu_data = f.adu.subspan(kMbapSize + 1);
  if (r.mbap.unit_id == 0) r.anomalies |= kBroadcast;
  decode_request_pdu(r);
  return result;
}

std::size_t encode_request(const Request& request, std::uint16_t transaction_id,
                           std::span<std::uint8_t> out) noexcept {
  if ((request.anomalies & (kTruncatedPdu | kByteCountMismatch)) != 0) return 0;
  PduWriter w;
  switch (request.function) {
    case function::kReadCoils:
    case function::kReadDiscreteInputs:
    case function::kReadHoldingRegisters:
    case function::kReadInputRegisters:
      w.u16(request.read.start);
      w.u16(request.read.count);
      break;
    case function::kWriteSingleCoil:
    case function::kWriteSingleRegister:
      if (request.values.size() != 2) return 0;
      w.u16(request.write.start);
      w.raw(request.values);
      break;
    case function::kMaskWriteRegister:
      if (request.values.size() != 4) return 0;
      w.u16(request.write.start);
      w.raw(request.values);
      break;
    case function::kWriteMultipleCoils:
    case function::kWriteMultipleRegisters:
      w.u16(request.write.start);
      w.u16(request.write.count);
      w.counted(request.values);
      break;
    case function::kReadWriteMultipleRegisters:
      w.u16(request.read.start);
      w.u16(request.read.count);
      w.u16(request.write.start);
      w.u16(request.write.count);
      w.counted(request.values);
      break;
    case function::kReadFifoQueue:
      w.u16(request.read.start);
      break;
    case function::kReadExceptionStatus:
    case function::kGetCommEventCounter:
    case function::kGetCommEventLog:
    case function::kReportServerId:
      break;
    case function::kDiagnostics:
    case function::kEncapsulatedInterface: {
      Bytes payload;
      if (!defined_payload(request, payload)) return 0;
      if (request.function == function::kDiagnostics) {
        w.u16(request.subfunction);
      } else {
        w.u8(static_cast<std::uint8_t>(request.subfunction));
      }
      w.raw(payload);
      break;
    }
    default: {  // FC 20, 21 and non-public functions: the payload as received
      Bytes payload;
      if (!defined_payload(request, payload)) return 0;
      w.raw(payload);
      break;
    }
  }
  if (!w.ok) return 0;
  return write_adu(transaction_id, request.mbap.unit_id, request.function, Bytes(w.bytes, w.size), out);
}

Request rebase(const Request& request, std::span<const std::uint8_t> adu) noexcept {
  Request moved = request;
  // encode_request writes the PDU's fields in the order they were decoded in, and only
  // requests without trailing or missing bytes can be encoded: the layout is the same.
  const std::uint8_t* old_pdu = request.pdu_data.data();
  const std::uint8_t* new_pdu = adu.data() + kMbapSize + 1;
  moved.pdu_data = std::span<const std::uint8_t>(new_pdu, request.pdu_data.size());
  if (!request.values.empty()) {
    moved.values = std::span<const std::uint8_t>(new_pdu + (request.values.data() - old_pdu), request.values.size());
  }
  moved.mbap.transaction_id = static_cast<std::uint16_t>(adu[0] << 8 | adu[1]);
  return moved;
}

std::size_t encode_exception(std::uint16_t transaction_id, std::uint8_t unit_id, std::uint8_t function_code,
                             ExceptionCode code, std::span<std::uint8_t> out) noexcept {
  const std::uint8_t data[1] = {static_cast<std::uint8_t>(code)};
  return write_adu(transaction_id, unit_id, static_cast<std::uint8_t>(function_code | function::kExceptionBit),
                   Bytes(data), out);
}

ResponseDecode decode_response(std::span<const std::uint8_t> stream) noexcept {
  ResponseDecode result;
  Frame f = frame(stream);
  result.status = f.status;
  result.error = f.error;
  result.size = f.size;
  result.response.mbap = f.mbap;
  if (f.status != DecodeStatus::ok) return result;

  Response& r = result.response;
  r.function = f.adu[kMbapSize];
  r.is_exception = (r.function & function::kExceptionBit) != 0;
  r.pdu_data = f.adu.subspan(kMbapSize + 1);
  decode_response_pdu(r);
  return result;
}

bool response_matches(const Request& request, const Response& response) noexcept {
  if (response.mbap.unit_id != request.mbap.unit_id) return false;
  if (response.function != request.function) {
    return response.function == (request.function | function::kExceptionBit);
  }
  if (response.is_exception) return true;  // the request itself carried the exception bit
  Bytes d = response.pdu_data;
  switch (request.function) {
    case function::kReadCoils:
    case function::kReadDiscreteInputs:
      return !d.empty() && d[0] == (request.read.count + 7u) / 8u;
    case function::kReadHoldingRegisters:
    case function::kReadInputRegisters:
    case function::kReadWriteMultipleRegisters:
      return !d.empty() && d[0] == 2u * request.read.count;
    case function::kWriteSingleCoil:
    case function::kWriteSingleRegister:
    case function::kMaskWriteRegister: {
      const std::size_t n = request.function == function::kMaskWriteRegister ? 6 : 4;
      return d.size() >= n && request.pdu_data.size() >= n && same_bytes(d.first(n), request.pdu_data.first(n));
    }
    case function::kWriteMultipleCoils:
    case function::kWriteMultipleRegisters:
      return d.size() >= 4 && get_u16(d, 0) == request.write.start && get_u16(d, 2) == request.write.count;
    default:
      return true;
  }
}

std::size_t encode_response(const Response& response, std::uint16_t transaction_id,
                            std::span<std::uint8_t> out) noexcept {
  return write_adu(transaction_id, response.mbap.unit_id, response.function, response.pdu_data, out);
}

bool Request::changes_state() const noexcept {
  switch (function) {
    case function::kWriteSingleCoil:
    case function::kWriteSingleRegister:
    case function::kWriteMultipleCoils:
    case function::kWriteMultipleRegisters:
    case function::kWriteFileRecord:
    case function::kMaskWriteRegister:
    case function::kReadWriteMultipleRegisters:
      return true;
    case function::kDiagnostics:
      // Without a sub-function there is nothing to prove it harmless.
      return pdu_data.size() < 2 || !is_read_only_diagnostic(subfunction);
    case function::kEncapsulatedInterface:
      return pdu_data.empty() || subfunction != kMeiDeviceId;
    case function::kReadCoils:
    case function::kReadDiscreteInputs:
    case function::kReadHoldingRegisters:
    case function::kReadInputRegisters:
    case function::kReadExceptionStatus:
    case function::kGetCommEventCounter:
    case function::kGetCommEventLog:
    case function::kReportServerId:
    case function::kReadFileRecord:
    case function::kReadFifoQueue:
      return false;
    default:
      return true;  // non-public: unknown, assume the worst
  }
}

std::uint16_t Request::register_value(std::size_t i) const noexcept {
  switch (function) {
    case function::kWriteSingleRegister:
      return i == 0 && values.size() == 2 ? get_u16(values, 0) : 0;
    case function::kWriteMultipleRegisters:
    case function::kReadWriteMultipleRegisters:
      return i < values.size() / 2 ? get_u16(values, 2 * i) : 0;
    default:
      return 0;
  }
}

bool Request::coil_value(std::size_t i) const noexcept {
  switch (function) {
    case function::kWriteSingleCoil:
      return i == 0 && values.size() == 2 && get_u16(values, 0) == kCoilOn;
    case function::kWriteMultipleCoils:
      return i < write.count && i / 8 < values.size() && ((values[i / 8] >> (i % 8)) & 1) != 0;
    default:
      return false;
  }
}

std::size_t describe(const Request& request, std::span<char> out) noexcept {
  if (out.empty()) return 0;
  TextWriter t{out};
  t.put("unit ");
  t.put(static_cast<unsigned>(request.mbap.unit_id));
  t.put(" fc ");
  t.put(static_cast<unsigned>(request.function));
  if (request.function == function::kDiagnostics && request.pdu_data.size() >= 2) {
    t.put(" sub ");
    t.put(static_cast<unsigned>(request.subfunction));
  } else if (request.function == function::kEncapsulatedInterface && !request.pdu_data.empty()) {
    t.put(" mei ");
    t.put(static_cast<unsigned>(request.subfunction));
  }
  if (request.read.active()) t.range("read", request.read, request.read.table != Table::file_records);
  if (request.write.active()) t.range("write", request.write, request.write.table != Table::file_records);
  if (request.anomalies != kAnomalyNone) {
    t.put(" [");
    bool first = true;
    for (std::size_t bit = 0; bit < sizeof kAnomalyNames / sizeof kAnomalyNames[0]; ++bit) {
      if ((request.anomalies & (1u << bit)) == 0) continue;
      if (!first) t.put(',');
      t.put(kAnomalyNames[bit]);
      first = false;
    }
    t.put(']');
  }
  out[t.length] = '\0';
  return t.length;
}

const char* anomaly_name(std::uint32_t single_flag) noexcept {
  constexpr std::size_t kCount = sizeof kAnomalyNames / sizeof kAnomalyNames[0];
  if (!std::has_single_bit(single_flag)) return "unknown";
  const auto bit = static_cast<std::size_t>(std::countr_zero(single_flag));
  return bit < kCount ? kAnomalyNames[bit] : "unknown";
}

const char* table_name(Table table) noexcept {
  switch (table) {
    case Table::none:
      return "none";
    case Table::coils:
      return "coils";
    case Table::discrete_inputs:
      return "discrete_inputs";
    case Table::input_registers:
      return "input_registers";
    case Table::holding_registers:
      return "holding_registers";
    case Table::file_records:
      return "file_records";
  }
  return "unknown";
}

}  // namespace conduit::protocols::modbus
