// Modbus/TCP codec: bytes in, typed messages out, and back. Pure: no I/O, no clock, no
// logging, no heap allocation, every function noexcept. Decoded messages hold spans that
// point into the caller's buffer, so they are valid only while that buffer is unchanged.
//
// Spec: MODBUS Application Protocol V1.1b3 (function codes, limits, exceptions) and
// MODBUS Messaging on TCP/IP Implementation Guide V1.0b (MBAP framing). Vocabulary as in
// libmodbus: a client sends a request, a server answers with a response.
//
// Only framing errors (protocol id != 0, Length outside 2..254) are `malformed`: there is
// no trustworthy frame boundary after them. Everything else that is out of spec (quantity
// limits, byte counts, trailing bytes, unknown function codes, unit 0 ...) decodes as `ok`
// with anomaly flags set, and policy decides what they mean (Suricata's approach).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace conduit::protocols::modbus {

inline constexpr std::size_t kMbapSize = 7;         // tid(2) protocol(2) length(2) unit(1)
inline constexpr std::size_t kMaxAduSize = 260;     // 7 + 253-byte PDU
inline constexpr std::uint16_t kMinLength = 2;      // unit + function
inline constexpr std::uint16_t kMaxLength = 254;    // unit + 253-byte PDU

inline constexpr std::uint16_t kMaxReadBits = 2000;        // FC 1, 2
inline constexpr std::uint16_t kMaxReadRegisters = 125;    // FC 3, 4, 23 (read part)
inline constexpr std::uint16_t kMaxWriteBits = 1968;       // FC 15
inline constexpr std::uint16_t kMaxWriteRegisters = 123;   // FC 16
inline constexpr std::uint16_t kMaxRwWriteRegisters = 121; // FC 23 (write part)
inline constexpr std::uint16_t kMaxFifoCount = 31;         // FC 24 response

enum class Table : std::uint8_t { none, coils, discrete_inputs, input_registers, holding_registers, file_records };

namespace function {
inline constexpr std::uint8_t kReadCoils = 1;
inline constexpr std::uint8_t kReadDiscreteInputs = 2;
inline constexpr std::uint8_t kReadHoldingRegisters = 3;
inline constexpr std::uint8_t kReadInputRegisters = 4;
inline constexpr std::uint8_t kWriteSingleCoil = 5;
inline constexpr std::uint8_t kWriteSingleRegister = 6;
inline constexpr std::uint8_t kReadExceptionStatus = 7;
inline constexpr std::uint8_t kDiagnostics = 8;
inline constexpr std::uint8_t kGetCommEventCounter = 11;
inline constexpr std::uint8_t kGetCommEventLog = 12;
inline constexpr std::uint8_t kWriteMultipleCoils = 15;
inline constexpr std::uint8_t kWriteMultipleRegisters = 16;
inline constexpr std::uint8_t kReportServerId = 17;
inline constexpr std::uint8_t kReadFileRecord = 20;
inline constexpr std::uint8_t kWriteFileRecord = 21;
inline constexpr std::uint8_t kMaskWriteRegister = 22;
inline constexpr std::uint8_t kReadWriteMultipleRegisters = 23;
inline constexpr std::uint8_t kReadFifoQueue = 24;
inline constexpr std::uint8_t kEncapsulatedInterface = 43;  // MEI 13 CANopen, 14 device id
inline constexpr std::uint8_t kExceptionBit = 0x80;
}  // namespace function

enum class ExceptionCode : std::uint8_t {
  illegal_function = 0x01,          // also "not authorized" (Modbus/TCP Security R-31)
  illegal_data_address = 0x02,
  illegal_data_value = 0x03,
  server_device_failure = 0x04,
  gateway_path_unavailable = 0x0A,  // unknown unit id
  gateway_target_failed = 0x0B,     // the asset did not answer in time
};

// Anomaly flags (bit set). Any of them on a request means "not a clean public request".
enum Anomaly : std::uint32_t {
  kAnomalyNone = 0,
  kQuantityOutOfRange = 1u << 0,  // quantity 0 or above the function's limit; FIFO/file limits
  kByteCountMismatch = 1u << 1,   // byte count field disagrees with quantity or with the bytes present
  kAddressOverflow = 1u << 2,     // start + quantity > 65536
  kTrailingBytes = 1u << 3,       // PDU longer than the function defines
  kTruncatedPdu = 1u << 4,        // PDU shorter than the function defines
  kInvalidCoilValue = 1u << 5,    // FC 5 value other than 0x0000 / 0xFF00
  kNonPublicFunction = 1u << 6,   // not one of the public codes above (user-defined, reserved, vendor e.g. 90)
  kNonPublicSubfunction = 1u << 7,// FC 8 sub-function or FC 43 MEI type that is reserved
  kBroadcast = 1u << 8,           // unit id 0
  kExceptionFunction = 1u << 9,   // request function byte has the exception bit (>= 0x80)
  kInvalidFileReference = 1u << 10, // FC 20/21 reference type != 6 or record number > 0x270F
};

// Anomalies that make a request structurally unsound: not what a conformant client sends,
// so nothing after it in the stream can be trusted. (The others -- non-public function or
// sub-function, broadcast -- are well-formed and left to policy.)
inline constexpr std::uint32_t kStructuralAnomalies =
    kQuantityOutOfRange | kByteCountMismatch | kAddressOverflow | kTrailingBytes | kTruncatedPdu |
    kInvalidCoilValue | kExceptionFunction | kInvalidFileReference;

enum class DecodeStatus : std::uint8_t { ok, need_more, malformed };
enum class FramingError : std::uint8_t { none, bad_protocol_id, bad_length };

struct Mbap {
  std::uint16_t transaction_id = 0;
  std::uint16_t protocol_id = 0;
  std::uint16_t length = 0;  // unit + PDU bytes, as received
  std::uint8_t unit_id = 0;
};

// One contiguous range of one table. count == 0 with table != none happens only with
// kQuantityOutOfRange, or for FC 20/21 (file records: start 0, count 0 -- per-record
// ranges are not modelled; a grant must name those function codes to allow them).
struct TableRange {
  Table table = Table::none;
  std::uint16_t start = 0;
  std::uint16_t count = 0;   // coils/inputs/registers (file records: 0, see above)
  bool active() const noexcept { return table != Table::none; }
};

struct Request {
  Mbap mbap;
  std::uint8_t function = 0;        // raw function byte, whatever its value
  std::uint16_t subfunction = 0;    // FC 8: sub-function; FC 43: MEI type; else 0
  // FC 1-4, 23 (read part), 20 (file records); FC 24: holding registers from the FIFO
  // pointer address, count 32 (the count register and at most 31 queued values).
  TableRange read;
  TableRange write;                 // FC 5, 6, 15, 16, 22, 23 (write part), 21 (file records)
  // FC 5/6: the 2-byte value; FC 15: packed coil bits (LSB first); FC 16/23: big-endian
  // registers; FC 22: and-mask(2) or-mask(2). Empty otherwise.
  std::span<const std::uint8_t> values;
  std::span<const std::uint8_t> pdu_data;  // all PDU bytes after the function byte, as received
  std::uint32_t anomalies = kAnomalyNone;

  // True for every request that can change state in the device: FC 5, 6, 15, 16, 21, 22,
  // 23, FC 8 sub-functions other than 0 (return query data), 2 and 0x0B..0x12 (counter
  // reads), i.e. 1 (restart), 3 (change delimiter), 4 (listen only), 10 (clear counters),
  // 20 (clear overrun) and the reserved ones; FC 43 MEI types other than 14 (13, CANopen
  // general reference, can write the object dictionary); and any non-public function
  // (unknown, so assume the worst).
  bool changes_state() const noexcept;
  // i-th written register value (FC 6: i == 0; FC 16/23), big-endian decoded.
  std::uint16_t register_value(std::size_t i) const noexcept;
  // i-th written coil (FC 5: i == 0; FC 15).
  bool coil_value(std::size_t i) const noexcept;
};

struct RequestDecode {
  DecodeStatus status = DecodeStatus::need_more;
  FramingError error = FramingError::none;
  // ok: bytes of this ADU (consume them). need_more: total bytes needed for the next
  // step (7 until the header is in, then 6 + Length). malformed: 0.
  std::size_t size = 0;
  Request request;
};

// Frames and decodes the first request in `stream`, which may hold a partial ADU or
// several back-to-back ADUs.
RequestDecode decode_request(std::span<const std::uint8_t> stream) noexcept;

// Writes `request` as a fresh ADU with `transaction_id`, from its decoded fields (the
// Length field is recomputed; bytes the function does not define are not copied).
// Requests with structural anomalies (kTruncatedPdu, kByteCountMismatch) cannot be
// re-encoded faithfully: returns 0 for them, and when `out` is smaller than the ADU.
// Returns the number of bytes written (<= kMaxAduSize).
std::size_t encode_request(const Request& request, std::uint16_t transaction_id,
                           std::span<std::uint8_t> out) noexcept;

// `request` as decode_request() would give it for `adu`, which must be what
// encode_request(request, ...) wrote for a request without kTrailingBytes: the same
// fields, with the spans moved onto `adu` and the transaction id read from it. Saves decoding the forwarded copy a second time.
Request rebase(const Request& request, std::span<const std::uint8_t> adu) noexcept;

// An exception response (function | 0x80, code). Returns 9, or 0 if `out` is too small.
std::size_t encode_exception(std::uint16_t transaction_id, std::uint8_t unit_id, std::uint8_t function,
                             ExceptionCode code, std::span<std::uint8_t> out) noexcept;

struct Response {
  Mbap mbap;
  std::uint8_t function = 0;                 // raw, exception bit included
  bool is_exception = false;
  std::uint8_t exception_code = 0;
  std::span<const std::uint8_t> pdu_data;    // PDU bytes after the function byte
  // kTruncatedPdu, kByteCountMismatch, kTrailingBytes; kQuantityOutOfRange for a FC 24
  // FIFO count above kMaxFifoCount.
  std::uint32_t anomalies = kAnomalyNone;
};

struct ResponseDecode {
  DecodeStatus status = DecodeStatus::need_more;
  FramingError error = FramingError::none;
  std::size_t size = 0;
  Response response;
};

// Frames and decodes the first response in `stream` (same framing rules as requests).
ResponseDecode decode_response(std::span<const std::uint8_t> stream) noexcept;

// Does `response` answer `request`? Same unit id, function equal (or with the exception
// bit), and for FC 1-4/23 a byte count that matches the requested quantity; for FC 5, 6,
// 15, 16, 22 the echoed address/quantity/value match. Transaction ids are not compared
// (the proxy remaps them).
bool response_matches(const Request& request, const Response& response) noexcept;

// Writes `response` as an ADU with `transaction_id` (bytes otherwise as received).
// Returns bytes written, or 0 if `out` is too small.
std::size_t encode_response(const Response& response, std::uint16_t transaction_id,
                            std::span<std::uint8_t> out) noexcept;

// A short, human-readable, allocation-free summary for logs and replay, e.g.
// "unit 1 fc 16 write holding_registers 100+3" (values are not included: write values
// are logged at debug level only). Writes at most out.size()-1 chars plus NUL; returns
// the length written.
std::size_t describe(const Request& request, std::span<char> out) noexcept;

const char* table_name(Table table) noexcept;

// The snake_case name of one anomaly flag, as describe() spells it in its " [a,b]" list
// (kQuantityOutOfRange -> "quantity_out_of_range"); "unknown" for kAnomalyNone, for a value
// with more than one bit set and for a bit no flag uses. Pure: no allocation.
const char* anomaly_name(std::uint32_t single_flag) noexcept;

}  // namespace conduit::protocols::modbus
