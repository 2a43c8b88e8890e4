#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "protocols/modbus/codec.hpp"

using namespace conduit::protocols::modbus;

namespace {

using Bytes = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------------------
// Annotated fixtures: one clean request per public function code.

const Bytes kReadCoils = {
    0x00, 0x01,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x06,  // length: unit + 5-byte PDU
    0x01,        // unit id
    0x01,        // function: read coils
    0x00, 0x13,  // start 19
    0x00, 0x25,  // quantity 37
};

const Bytes kReadDiscreteInputs = {
    0x00, 0x02,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x06,  // length
    0x01,        // unit id
    0x02,        // function: read discrete inputs
    0x00, 0xC4,  // start 196
    0x00, 0x16,  // quantity 22
};

const Bytes kReadHolding = {
    0x00, 0x03,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x06,  // length
    0x01,        // unit id
    0x03,        // function: read holding registers
    0x00, 0x6B,  // start 107
    0x00, 0x03,  // quantity 3
};

const Bytes kReadInput = {
    0x00, 0x04,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x06,  // length
    0x11,        // unit id 17
    0x04,        // function: read input registers
    0x00, 0x08,  // start 8
    0x00, 0x01,  // quantity 1
};

const Bytes kWriteCoil = {
    0x00, 0x05,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x06,  // length
    0x01,        // unit id
    0x05,        // function: write single coil
    0x00, 0xAC,  // address 172
    0xFF, 0x00,  // value: ON
};

const Bytes kWriteRegister = {
    0x00, 0x06,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x06,  // length
    0x01,        // unit id
    0x06,        // function: write single register
    0x00, 0x01,  // address 1
    0x00, 0x03,  // value 3
};

const Bytes kReadExceptionStatus = {
    0x00, 0x07,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x02,  // length: unit + function only
    0x01,        // unit id
    0x07,        // function: read exception status
};

const Bytes kDiagnosticsEcho = {
    0x00, 0x08,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x08,  // length: unit + 7-byte PDU
    0x01,        // unit id
    0x08,        // function: diagnostics
    0x00, 0x00,  // sub-function 0: return query data
    0xA5, 0x37,  // data to echo
    0x12, 0x34,  //   (any length)
};

const Bytes kDiagnosticsListenOnly = {
    0x00, 0x09,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x06,  // length
    0x01,        // unit id
    0x08,        // function: diagnostics
    0x00, 0x04,  // sub-function 4: force listen only mode
    0x00, 0x00,  // data
};

const Bytes kGetCommEventCounter = {
    0x00, 0x0B,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x02,  // length
    0x01,        // unit id
    0x0B,        // function: get comm event counter
};

const Bytes kGetCommEventLog = {
    0x00, 0x0C,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x02,  // length
    0x01,        // unit id
    0x0C,        // function: get comm event log
};

const Bytes kWriteCoils = {
    0x00, 0x0F,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x09,  // length: unit + 8-byte PDU
    0x01,        // unit id
    0x0F,        // function: write multiple coils
    0x00, 0x13,  // start 19
    0x00, 0x0A,  // quantity 10
    0x02,        // byte count 2 = ceil(10 / 8)
    0xCD, 0x01,  // coils 19..26 = 1,0,1,1,0,0,1,1 (LSB first); 27..28 = 1,0
};

const Bytes kWriteRegisters = {
    0x00, 0x10,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x0D,  // length: unit + 12-byte PDU
    0x01,        // unit id
    0x10,        // function: write multiple registers
    0x00, 0x64,  // start 100
    0x00, 0x03,  // quantity 3
    0x06,        // byte count 6 = 2 * 3
    0x00, 0x0A,  // register 100 = 10
    0x01, 0x02,  // register 101 = 258
    0xFF, 0xFF,  // register 102 = 65535
};

const Bytes kReportServerId = {
    0x00, 0x11,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x02,  // length
    0x01,        // unit id
    0x11,        // function: report server id
};

const Bytes kReadFileRecord = {
    0x00, 0x14,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x11,  // length: unit + 16-byte PDU
    0x01,        // unit id
    0x14,        // function: read file record
    0x0E,        // byte count 14 = 2 sub-requests
    0x06,        // sub-request 1: reference type 6
    0x00, 0x04,  //   file 4
    0x00, 0x01,  //   record 1
    0x00, 0x02,  //   length 2 registers
    0x06,        // sub-request 2: reference type 6
    0x00, 0x03,  //   file 3
    0x00, 0x09,  //   record 9
    0x00, 0x02,  //   length 2 registers
};

const Bytes kWriteFileRecord = {
    0x00, 0x15,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x10,  // length: unit + 15-byte PDU
    0x01,        // unit id
    0x15,        // function: write file record
    0x0D,        // byte count 13
    0x06,        // sub-request: reference type 6
    0x00, 0x04,  //   file 4
    0x00, 0x07,  //   record 7
    0x00, 0x03,  //   length 3 registers
    0x06, 0xAF,  //   data
    0x04, 0xBE,  //
    0x10, 0x0D,  //
};

const Bytes kMaskWrite = {
    0x00, 0x16,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x08,  // length: unit + 7-byte PDU
    0x01,        // unit id
    0x16,        // function: mask write register
    0x00, 0x04,  // address 4
    0x00, 0xF2,  // and-mask
    0x00, 0x25,  // or-mask
};

const Bytes kReadWriteRegisters = {
    0x00, 0x17,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x11,  // length: unit + 16-byte PDU
    0x01,        // unit id
    0x17,        // function: read/write multiple registers
    0x00, 0x03,  // read start 3
    0x00, 0x06,  // read quantity 6
    0x00, 0x0E,  // write start 14
    0x00, 0x03,  // write quantity 3
    0x06,        // byte count 6 = 2 * 3
    0x00, 0xFF,  // register 14
    0x00, 0xFF,  // register 15
    0x00, 0xFF,  // register 16
};

const Bytes kReadFifo = {
    0x00, 0x18,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x04,  // length: unit + 3-byte PDU
    0x01,        // unit id
    0x18,        // function: read FIFO queue
    0x04, 0xDE,  // FIFO pointer address 1246
};

const Bytes kReadDeviceId = {
    0x00, 0x2B,  // transaction id
    0x00, 0x00,  // protocol id
    0x00, 0x05,  // length: unit + 4-byte PDU
    0xFF,        // unit id 255 (TCP-native device)
    0x2B,        // function: encapsulated interface transport
    0x0E,        // MEI type 14: read device identification
    0x01,        // read device id code 1: basic stream
    0x00,        // object id 0: vendor name
};

// Every clean public request above, in one list.
const std::vector<const Bytes*> kCleanRequests = {
    &kReadCoils,        &kReadDiscreteInputs, &kReadHolding,         &kReadInput,       &kWriteCoil,
    &kWriteRegister,    &kReadExceptionStatus, &kDiagnosticsEcho,    &kDiagnosticsListenOnly,
    &kGetCommEventCounter, &kGetCommEventLog, &kWriteCoils,          &kWriteRegisters,  &kReportServerId,
    &kReadFileRecord,   &kWriteFileRecord,    &kMaskWrite,           &kReadWriteRegisters, &kReadFifo,
    &kReadDeviceId,
};

// ---------------------------------------------------------------------------------------
// Builder for the boundary tests, where quantities make hand-written fixtures unreadable.

struct Pdu {
  Bytes bytes;
  Pdu& u8(std::uint8_t v) {
    bytes.push_back(v);
    return *this;
  }
  Pdu& u16(std::uint16_t v) {
    bytes.push_back(static_cast<std::uint8_t>(v >> 8));
    bytes.push_back(static_cast<std::uint8_t>(v & 0xFF));
    return *this;
  }
  Pdu& fill(std::size_t n, std::uint8_t v = 0x5A) {
    bytes.insert(bytes.end(), n, v);
    return *this;
  }
};

// tid 0x0001, protocol 0, Length computed from the PDU.
Bytes adu(std::uint8_t unit, std::uint8_t fc, const Pdu& pdu = {}) {
  const std::size_t length = 2 + pdu.bytes.size();
  Bytes out = {0x00, 0x01, 0x00, 0x00, static_cast<std::uint8_t>(length >> 8),
               static_cast<std::uint8_t>(length & 0xFF), unit, fc};
  out.insert(out.end(), pdu.bytes.begin(), pdu.bytes.end());
  return out;
}

RequestDecode decode(const Bytes& bytes) { return decode_request(std::span<const std::uint8_t>(bytes)); }
// Decoded requests point into the bytes: decoding a temporary would leave them dangling.
RequestDecode decode(Bytes&&) = delete;

// For one-expression checks: the anomalies, taken while the bytes are alive.
std::uint32_t anomalies_of(const Bytes& bytes) { return decode(bytes).request.anomalies; }

Bytes to_bytes(std::span<const std::uint8_t> s) { return Bytes(s.begin(), s.end()); }

// A decoded request by value (the Request itself points into a buffer).
struct Snapshot {
  Mbap mbap;
  std::uint8_t function = 0;
  std::uint16_t subfunction = 0;
  TableRange read;
  TableRange write;
  Bytes values;
  Bytes pdu_data;
  std::uint32_t anomalies = 0;
  std::size_t size = 0;

  bool operator==(const Snapshot& o) const {
    return mbap.transaction_id == o.mbap.transaction_id && mbap.protocol_id == o.mbap.protocol_id &&
           mbap.length == o.mbap.length && mbap.unit_id == o.mbap.unit_id && function == o.function &&
           subfunction == o.subfunction && read.table == o.read.table && read.start == o.read.start &&
           read.count == o.read.count && write.table == o.write.table && write.start == o.write.start &&
           write.count == o.write.count && values == o.values && pdu_data == o.pdu_data &&
           anomalies == o.anomalies && size == o.size;
  }
};

std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
  return os << "{tid " << s.mbap.transaction_id << " unit " << int(s.mbap.unit_id) << " fc " << int(s.function)
            << " sub " << s.subfunction << " read " << table_name(s.read.table) << ' ' << s.read.start << '+'
            << s.read.count << " write " << table_name(s.write.table) << ' ' << s.write.start << '+'
            << s.write.count << " values " << s.values.size() << "B pdu " << s.pdu_data.size() << "B anomalies 0x"
            << std::hex << s.anomalies << std::dec << " size " << s.size << '}';
}

Snapshot snapshot(const RequestDecode& d) {
  return {d.request.mbap,           d.request.function, d.request.subfunction,
          d.request.read,           d.request.write,    to_bytes(d.request.values),
          to_bytes(d.request.pdu_data), d.request.anomalies, d.size};
}

// Decodes every complete request at the front of `buffer` and erases them from it, the way
// the proxy's session loop consumes its read buffer.
void drain(Bytes& buffer, std::vector<Snapshot>& out) {
  for (;;) {
    RequestDecode d = decode(buffer);
    if (d.status != DecodeStatus::ok) return;
    out.push_back(snapshot(d));
    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(d.size));
  }
}

Bytes concat(std::initializer_list<const Bytes*> parts) {
  Bytes out;
  for (const Bytes* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}

std::string describe_to_string(const Request& r) {
  char text[128];
  const std::size_t n = describe(r, text);
  return std::string(text, n);
}

}  // namespace

// =======================================================================================
// Decoding: every public function code

TEST_CASE("read requests for FC 1 to 4 decode into their table and range with no values", "[modbus]") {
  struct Case {
    const Bytes* bytes;
    Table table;
    std::uint16_t start;
    std::uint16_t count;
  };
  const Case cases[] = {
      {&kReadCoils, Table::coils, 19, 37},
      {&kReadDiscreteInputs, Table::discrete_inputs, 196, 22},
      {&kReadHolding, Table::holding_registers, 107, 3},
      {&kReadInput, Table::input_registers, 8, 1},
  };
  for (const Case& c : cases) {
    RequestDecode d = decode(*c.bytes);
    CAPTURE(int(d.request.function));
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.error == FramingError::none);
    CHECK(d.size == 12);
    CHECK(d.request.mbap.length == 6);
    CHECK(d.request.mbap.protocol_id == 0);
    CHECK(d.request.read.table == c.table);
    CHECK(d.request.read.start == c.start);
    CHECK(d.request.read.count == c.count);
    CHECK_FALSE(d.request.write.active());
    CHECK(d.request.values.empty());
    CHECK(d.request.pdu_data.size() == 4);
    CHECK(d.request.anomalies == kAnomalyNone);
    CHECK_FALSE(d.request.changes_state());
  }
  CHECK(decode(kReadInput).request.mbap.unit_id == 17);
}

TEST_CASE("write single coil decodes one coil and its ON value", "[modbus]") {
  RequestDecode d = decode(kWriteCoil);
  REQUIRE(d.status == DecodeStatus::ok);
  const Request& r = d.request;
  CHECK(r.function == function::kWriteSingleCoil);
  CHECK(r.write.table == Table::coils);
  CHECK(r.write.start == 172);
  CHECK(r.write.count == 1);
  CHECK_FALSE(r.read.active());
  CHECK(to_bytes(r.values) == Bytes{0xFF, 0x00});
  CHECK(r.coil_value(0));
  CHECK_FALSE(r.coil_value(1));
  CHECK(r.anomalies == kAnomalyNone);
  CHECK(r.changes_state());
}

TEST_CASE("write single coil OFF decodes as a false coil", "[modbus]") {
  const Bytes d_bytes = adu(1, function::kWriteSingleCoil, Pdu{}.u16(7).u16(0x0000));
  RequestDecode d = decode(d_bytes);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.anomalies == kAnomalyNone);
  CHECK_FALSE(d.request.coil_value(0));
}

TEST_CASE("write single register decodes one holding register and its value", "[modbus]") {
  RequestDecode d = decode(kWriteRegister);
  REQUIRE(d.status == DecodeStatus::ok);
  const Request& r = d.request;
  CHECK(r.write.table == Table::holding_registers);
  CHECK(r.write.start == 1);
  CHECK(r.write.count == 1);
  CHECK(r.register_value(0) == 3);
  CHECK(r.register_value(1) == 0);
  CHECK(r.anomalies == kAnomalyNone);
  CHECK(r.changes_state());
}

TEST_CASE("write multiple coils decodes packed coil bits LSB first", "[modbus]") {
  RequestDecode d = decode(kWriteCoils);
  REQUIRE(d.status == DecodeStatus::ok);
  const Request& r = d.request;
  CHECK(r.write.table == Table::coils);
  CHECK(r.write.start == 19);
  CHECK(r.write.count == 10);
  CHECK(to_bytes(r.values) == Bytes{0xCD, 0x01});
  const bool expected[10] = {true, false, true, true, false, false, true, true, true, false};
  for (std::size_t i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK(r.coil_value(i) == expected[i]);
  }
  CHECK_FALSE(r.coil_value(10));  // beyond the quantity, even though the padding byte exists
  CHECK(r.anomalies == kAnomalyNone);
  CHECK(r.changes_state());
}

TEST_CASE("write multiple registers decodes big-endian register values", "[modbus]") {
  RequestDecode d = decode(kWriteRegisters);
  REQUIRE(d.status == DecodeStatus::ok);
  const Request& r = d.request;
  CHECK(r.write.table == Table::holding_registers);
  CHECK(r.write.start == 100);
  CHECK(r.write.count == 3);
  CHECK(r.values.size() == 6);
  CHECK(r.register_value(0) == 10);
  CHECK(r.register_value(1) == 258);
  CHECK(r.register_value(2) == 65535);
  CHECK(r.register_value(3) == 0);
  CHECK(r.anomalies == kAnomalyNone);
  CHECK(r.changes_state());
}

TEST_CASE("mask write register decodes one register with the and and or masks as values", "[modbus]") {
  RequestDecode d = decode(kMaskWrite);
  REQUIRE(d.status == DecodeStatus::ok);
  const Request& r = d.request;
  CHECK(r.write.table == Table::holding_registers);
  CHECK(r.write.start == 4);
  CHECK(r.write.count == 1);
  CHECK(to_bytes(r.values) == Bytes{0x00, 0xF2, 0x00, 0x25});
  CHECK(r.anomalies == kAnomalyNone);
  CHECK(r.changes_state());
}

TEST_CASE("read/write multiple registers decodes both ranges and the written values", "[modbus]") {
  RequestDecode d = decode(kReadWriteRegisters);
  REQUIRE(d.status == DecodeStatus::ok);
  const Request& r = d.request;
  CHECK(r.read.table == Table::holding_registers);
  CHECK(r.read.start == 3);
  CHECK(r.read.count == 6);
  CHECK(r.write.table == Table::holding_registers);
  CHECK(r.write.start == 14);
  CHECK(r.write.count == 3);
  CHECK(r.values.size() == 6);
  CHECK(r.register_value(0) == 0x00FF);
  CHECK(r.register_value(2) == 0x00FF);
  CHECK(r.anomalies == kAnomalyNone);
  CHECK(r.changes_state());
}

TEST_CASE("read FIFO queue reads 32 holding registers from the pointer address", "[modbus]") {
  RequestDecode d = decode(kReadFifo);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.read.table == Table::holding_registers);
  CHECK(d.request.read.start == 1246);
  CHECK(d.request.read.count == 32);
  CHECK(d.request.anomalies == kAnomalyNone);
  CHECK_FALSE(d.request.changes_state());
}

TEST_CASE("serial-line functions 7, 11, 12 and 17 decode with no data and no range", "[modbus]") {
  for (const Bytes* bytes : {&kReadExceptionStatus, &kGetCommEventCounter, &kGetCommEventLog, &kReportServerId}) {
    RequestDecode d = decode(*bytes);
    CAPTURE(int(d.request.function));
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.size == 8);
    CHECK(d.request.pdu_data.empty());
    CHECK_FALSE(d.request.read.active());
    CHECK_FALSE(d.request.write.active());
    CHECK(d.request.anomalies == kAnomalyNone);
    CHECK_FALSE(d.request.changes_state());
  }
  const Bytes with_data_bytes = adu(1, function::kReportServerId, Pdu{}.u8(0x00));
  RequestDecode with_data = decode(with_data_bytes);
  CHECK(with_data.request.anomalies == kTrailingBytes);
}

TEST_CASE("read file record decodes as a file-records read without a range", "[modbus]") {
  RequestDecode d = decode(kReadFileRecord);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.read.table == Table::file_records);
  CHECK(d.request.read.start == 0);
  CHECK(d.request.read.count == 0);
  CHECK_FALSE(d.request.write.active());
  CHECK(d.request.values.empty());
  CHECK(d.request.pdu_data.size() == 15);
  CHECK(d.request.anomalies == kAnomalyNone);
  CHECK_FALSE(d.request.changes_state());
}

TEST_CASE("read file record with reference type 5 or record 0x2710 is an invalid file reference", "[modbus]") {
  const Bytes bad_type = adu(1, function::kReadFileRecord, Pdu{}.u8(7).u8(5).u16(4).u16(1).u16(2));
  CHECK(decode(bad_type).request.anomalies == kInvalidFileReference);
  const Bytes last_record = adu(1, function::kReadFileRecord, Pdu{}.u8(7).u8(6).u16(4).u16(0x270F).u16(1));
  CHECK(decode(last_record).request.anomalies == kAnomalyNone);
  const Bytes past_last = adu(1, function::kReadFileRecord, Pdu{}.u8(7).u8(6).u16(4).u16(0x2710).u16(1));
  CHECK(decode(past_last).request.anomalies == kInvalidFileReference);
}

TEST_CASE("read file record byte counts outside 7..245 or not a multiple of 7 are flagged", "[modbus]") {
  // 35 sub-requests of 1 register: byte count 245, responses 35 * 4 = 140 bytes
  Pdu max_pdu;
  max_pdu.u8(245);
  for (int i = 0; i < 35; ++i) max_pdu.u8(6).u16(1).u16(static_cast<std::uint16_t>(i)).u16(1);
  CHECK(anomalies_of(adu(1, function::kReadFileRecord, max_pdu)) == kAnomalyNone);
  // byte count 0 and nothing else
  CHECK(anomalies_of(adu(1, function::kReadFileRecord, Pdu{}.u8(0))) == kQuantityOutOfRange);
  // byte count 8: one sub-request plus a stray byte
  const Bytes eight = adu(1, function::kReadFileRecord, Pdu{}.u8(8).u8(6).u16(1).u16(1).u16(1).u8(0));
  CHECK(decode(eight).request.anomalies == kByteCountMismatch);
  // one sub-request whose response (2 + 2 * 122 bytes) cannot fit in a response
  const Bytes too_long = adu(1, function::kReadFileRecord, Pdu{}.u8(7).u8(6).u16(1).u16(1).u16(122));
  CHECK(decode(too_long).request.anomalies == kQuantityOutOfRange);
}

TEST_CASE("write file record decodes as a file-records write that changes state", "[modbus]") {
  RequestDecode d = decode(kWriteFileRecord);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.write.table == Table::file_records);
  CHECK(d.request.write.count == 0);
  CHECK_FALSE(d.request.read.active());
  CHECK(d.request.values.empty());
  CHECK(d.request.anomalies == kAnomalyNone);
  CHECK(d.request.changes_state());
}

TEST_CASE("write file record whose sub-request data overruns the byte count is a byte count mismatch",
          "[modbus]") {
  // byte count 9 announces one sub-request with 1 register, but its length says 2
  const Bytes bytes = adu(1, function::kWriteFileRecord, Pdu{}.u8(9).u8(6).u16(1).u16(1).u16(2).u16(0xABCD));
  CHECK(decode(bytes).request.anomalies == kByteCountMismatch);
}

TEST_CASE("diagnostics force listen only decodes sub-function 4 and changes state", "[modbus]") {
  RequestDecode d = decode(kDiagnosticsListenOnly);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.function == function::kDiagnostics);
  CHECK(d.request.subfunction == 4);
  CHECK_FALSE(d.request.read.active());
  CHECK_FALSE(d.request.write.active());
  CHECK(d.request.anomalies == kAnomalyNone);
  CHECK(d.request.changes_state());
}

TEST_CASE("diagnostics return query data decodes sub-function 0 with any data and does not change state",
          "[modbus]") {
  RequestDecode d = decode(kDiagnosticsEcho);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.subfunction == 0);
  CHECK(d.request.pdu_data.size() == 6);
  CHECK(d.request.anomalies == kAnomalyNone);
  CHECK_FALSE(d.request.changes_state());
}

TEST_CASE("diagnostics sub-functions are public or not and change state as documented", "[modbus]") {
  struct Case {
    std::uint16_t sub;
    bool is_public;
    bool changes_state;
  };
  const Case cases[] = {
      {0x00, true, false}, {0x01, true, true},   {0x02, true, false}, {0x03, true, true},  {0x04, true, true},
      {0x05, false, true}, {0x09, false, true},  {0x0A, true, true},  {0x0B, true, false}, {0x12, true, false},
      {0x13, false, true}, {0x14, true, true},   {0x15, false, true}, {0xFFFF, false, true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.sub);
    const Bytes d_bytes = adu(1, function::kDiagnostics, Pdu{}.u16(c.sub).u16(0x0000));
    RequestDecode d = decode(d_bytes);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.request.subfunction == c.sub);
    CHECK(d.request.anomalies == (c.is_public ? kAnomalyNone : kNonPublicSubfunction));
    CHECK(d.request.changes_state() == c.changes_state);
  }
}

TEST_CASE("diagnostics counters with more or fewer than 2 data bytes are flagged", "[modbus]") {
  CHECK(anomalies_of(adu(1, function::kDiagnostics, Pdu{}.u16(0x0B).u16(0).u8(1))) == kTrailingBytes);
  CHECK(anomalies_of(adu(1, function::kDiagnostics, Pdu{}.u16(0x0B).u8(0))) == kTruncatedPdu);
  const Bytes no_sub_bytes = adu(1, function::kDiagnostics, Pdu{}.u8(0));
  RequestDecode no_sub = decode(no_sub_bytes);
  CHECK(no_sub.request.anomalies == kTruncatedPdu);
  CHECK(no_sub.request.changes_state());  // nothing proves it harmless
}

TEST_CASE("encapsulated interface MEI 14 decodes as read device identification", "[modbus]") {
  RequestDecode d = decode(kReadDeviceId);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.subfunction == 14);
  CHECK(d.request.anomalies == kAnomalyNone);
  CHECK_FALSE(d.request.changes_state());

  const Bytes canopen_bytes = adu(1, function::kEncapsulatedInterface, Pdu{}.u8(13).fill(5));
  RequestDecode canopen = decode(canopen_bytes);
  CHECK(canopen.request.subfunction == 13);
  CHECK(canopen.request.anomalies == kAnomalyNone);
  CHECK(canopen.request.changes_state());

  const Bytes other_bytes = adu(1, function::kEncapsulatedInterface, Pdu{}.u8(15).u8(1).u8(0));
  RequestDecode other = decode(other_bytes);
  CHECK(other.request.subfunction == 15);
  CHECK(other.request.anomalies == kNonPublicSubfunction);

  CHECK(anomalies_of(adu(1, function::kEncapsulatedInterface)) == kTruncatedPdu);
  CHECK(anomalies_of(adu(1, function::kEncapsulatedInterface, Pdu{}.u8(14).u8(1))) == kTruncatedPdu);
  CHECK(anomalies_of(adu(1, function::kEncapsulatedInterface, Pdu{}.u8(14).u8(1).u8(0).u8(9))) ==
        kTrailingBytes);
}

// =======================================================================================
// Limits and anomalies

TEST_CASE("quantity limits are accepted at the boundary and flagged one past it", "[modbus]") {
  struct Case {
    const char* what;
    Bytes bytes;
    std::uint32_t anomalies;
  };
  const Case cases[] = {
      {"FC1 qty 2000", adu(1, 1, Pdu{}.u16(0).u16(2000)), kAnomalyNone},
      {"FC1 qty 2001", adu(1, 1, Pdu{}.u16(0).u16(2001)), kQuantityOutOfRange},
      {"FC1 qty 0", adu(1, 1, Pdu{}.u16(0).u16(0)), kQuantityOutOfRange},
      {"FC2 qty 2000", adu(1, 2, Pdu{}.u16(0).u16(2000)), kAnomalyNone},
      {"FC2 qty 2001", adu(1, 2, Pdu{}.u16(0).u16(2001)), kQuantityOutOfRange},
      {"FC3 qty 125", adu(1, 3, Pdu{}.u16(0).u16(125)), kAnomalyNone},
      {"FC3 qty 126", adu(1, 3, Pdu{}.u16(0).u16(126)), kQuantityOutOfRange},
      {"FC3 qty 0", adu(1, 3, Pdu{}.u16(0).u16(0)), kQuantityOutOfRange},
      {"FC4 qty 125", adu(1, 4, Pdu{}.u16(0).u16(125)), kAnomalyNone},
      {"FC4 qty 126", adu(1, 4, Pdu{}.u16(0).u16(126)), kQuantityOutOfRange},
      // 1968 coils = 246 bytes; 1969 coils = 247 bytes still fits in a 253-byte PDU
      {"FC15 qty 1968", adu(1, 15, Pdu{}.u16(0).u16(1968).u8(246).fill(246)), kAnomalyNone},
      {"FC15 qty 1969", adu(1, 15, Pdu{}.u16(0).u16(1969).u8(247).fill(247)), kQuantityOutOfRange},
      {"FC15 qty 0", adu(1, 15, Pdu{}.u16(0).u16(0).u8(0)), kQuantityOutOfRange},
      // 123 registers = 246 bytes; 124 would need 248 bytes, more than a PDU can hold
      {"FC16 qty 123", adu(1, 16, Pdu{}.u16(0).u16(123).u8(246).fill(246)), kAnomalyNone},
      {"FC16 qty 124", adu(1, 16, Pdu{}.u16(0).u16(124).u8(246).fill(246)),
       kQuantityOutOfRange | kByteCountMismatch},
      {"FC16 qty 0", adu(1, 16, Pdu{}.u16(0).u16(0).u8(0)), kQuantityOutOfRange},
      {"FC23 read 125 write 121", adu(1, 23, Pdu{}.u16(0).u16(125).u16(500).u16(121).u8(242).fill(242)),
       kAnomalyNone},
      {"FC23 read 126", adu(1, 23, Pdu{}.u16(0).u16(126).u16(500).u16(1).u8(2).fill(2)), kQuantityOutOfRange},
      {"FC23 read 0", adu(1, 23, Pdu{}.u16(0).u16(0).u16(500).u16(1).u8(2).fill(2)), kQuantityOutOfRange},
      {"FC23 write 122", adu(1, 23, Pdu{}.u16(0).u16(1).u16(500).u16(122).u8(242).fill(242)),
       kQuantityOutOfRange | kByteCountMismatch},
      {"FC23 write 0", adu(1, 23, Pdu{}.u16(0).u16(1).u16(500).u16(0).u8(0)), kQuantityOutOfRange},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    RequestDecode d = decode(c.bytes);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.request.anomalies == c.anomalies);
  }
  // Out-of-range quantities are still reported as received, for the policy and the log.
  const Bytes d_bytes = adu(1, 3, Pdu{}.u16(10).u16(126));
  RequestDecode d = decode(d_bytes);
  CHECK(d.request.read.table == Table::holding_registers);
  CHECK(d.request.read.start == 10);
  CHECK(d.request.read.count == 126);
}

TEST_CASE("a byte count that disagrees with the quantity is a byte count mismatch", "[modbus]") {
  const Bytes bytes = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x0A,  // length: unit + 9-byte PDU
      0x01,        // unit id
      0x10,        // function: write multiple registers
      0x00, 0x00,  // start 0
      0x00, 0x02,  // quantity 2
      0x03,        // byte count 3, should be 4
      0x00, 0x01,  // 3 value bytes, as announced
      0x02,        //
  };
  RequestDecode d = decode(bytes);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.anomalies == kByteCountMismatch);

  // FC 15: 10 coils need 2 bytes, not 1
  CHECK(anomalies_of(adu(1, 15, Pdu{}.u16(0).u16(10).u8(1).u8(0xFF))) == kByteCountMismatch);
  // FC 23: 2 registers written need 4 bytes, not 2
  CHECK(anomalies_of(adu(1, 23, Pdu{}.u16(0).u16(1).u16(0).u16(2).u8(2).u16(7))) ==
        kByteCountMismatch);
}

TEST_CASE("a byte count larger than the bytes present is a byte count mismatch", "[modbus]") {
  const Bytes bytes = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x09,  // length: unit + 8-byte PDU
      0x01,        // unit id
      0x10,        // function: write multiple registers
      0x00, 0x00,  // start 0
      0x00, 0x02,  // quantity 2
      0x04,        // byte count 4 = 2 * 2
      0x00, 0x01,  // only 2 value bytes present
  };
  RequestDecode d = decode(bytes);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.anomalies == kByteCountMismatch);
  CHECK(d.request.values.size() == 2);  // what is there, never past the ADU
}

TEST_CASE("bytes after the PDU a function defines are trailing bytes", "[modbus]") {
  const Bytes bytes = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x08,  // length: unit + 7-byte PDU
      0x01,        // unit id
      0x03,        // function: read holding registers
      0x00, 0x00,  // start 0
      0x00, 0x01,  // quantity 1
      0xDE, 0xAD,  // trailing bytes
  };
  RequestDecode d = decode(bytes);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.size == 14);
  CHECK(d.request.read.count == 1);
  CHECK(d.request.pdu_data.size() == 6);
  CHECK(d.request.anomalies == kTrailingBytes);

  // FC 16 with one byte beyond its byte count: values stop at the byte count
  const Bytes fc16_bytes = adu(1, 16, Pdu{}.u16(0).u16(1).u8(2).u16(0x1234).u8(0xEE));
  RequestDecode fc16 = decode(fc16_bytes);
  CHECK(fc16.request.anomalies == kTrailingBytes);
  CHECK(to_bytes(fc16.request.values) == Bytes{0x12, 0x34});
  // FC 5, 6, 22, 24, 20 and 21
  CHECK(anomalies_of(adu(1, 5, Pdu{}.u16(0).u16(0xFF00).u8(0))) == kTrailingBytes);
  CHECK(anomalies_of(adu(1, 6, Pdu{}.u16(0).u16(1).u8(0))) == kTrailingBytes);
  CHECK(anomalies_of(adu(1, 22, Pdu{}.u16(0).u16(1).u16(2).u8(0))) == kTrailingBytes);
  CHECK(anomalies_of(adu(1, 24, Pdu{}.u16(0).u8(0))) == kTrailingBytes);
  CHECK(anomalies_of(adu(1, 20, Pdu{}.u8(7).u8(6).u16(1).u16(1).u16(1).u8(0))) == kTrailingBytes);
  CHECK(anomalies_of(adu(1, 21, Pdu{}.u8(9).u8(6).u16(1).u16(1).u16(1).u16(0).u8(0))) ==
        kTrailingBytes);
}

TEST_CASE("a PDU shorter than the function's fixed part is truncated", "[modbus]") {
  const Bytes bytes = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x05,  // length: unit + 4-byte PDU
      0x01,        // unit id
      0x03,        // function: read holding registers
      0x00, 0x00,  // start 0
      0x00,        // half a quantity
  };
  RequestDecode d = decode(bytes);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.anomalies == kTruncatedPdu);
  CHECK_FALSE(d.request.read.active());

  struct Case {
    const char* what;
    Bytes bytes;
  };
  const Case cases[] = {
      {"FC1 no data", adu(1, 1)},
      {"FC5 3 bytes", adu(1, 5, Pdu{}.u16(0).u8(0xFF))},
      {"FC6 2 bytes", adu(1, 6, Pdu{}.u16(0))},
      {"FC15 4 bytes", adu(1, 15, Pdu{}.u16(0).u16(8))},
      {"FC16 4 bytes", adu(1, 16, Pdu{}.u16(0).u16(1))},
      {"FC20 no byte count", adu(1, 20)},
      {"FC21 no byte count", adu(1, 21)},
      {"FC22 5 bytes", adu(1, 22, Pdu{}.u16(0).u16(0).u8(0))},
      {"FC23 8 bytes", adu(1, 23, Pdu{}.u16(0).u16(1).u16(0).u16(1))},
      {"FC24 1 byte", adu(1, 24, Pdu{}.u8(0))},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    RequestDecode t = decode(c.bytes);
    REQUIRE(t.status == DecodeStatus::ok);
    CHECK(t.request.anomalies == kTruncatedPdu);
    CHECK(t.request.values.empty());
  }
  // Writes stay writes even when truncated.
  const Bytes truncated_coil = adu(1, 5, Pdu{}.u16(0));
  CHECK(decode(truncated_coil).request.changes_state());
}

TEST_CASE("write single coil with a value other than 0000 or FF00 is an invalid coil value", "[modbus]") {
  const Bytes bytes = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x06,  // length
      0x01,        // unit id
      0x05,        // function: write single coil
      0x00, 0x01,  // address 1
      0x00, 0x01,  // value 0x0001: neither ON nor OFF
  };
  CHECK(decode(bytes).request.anomalies == kInvalidCoilValue);
  CHECK(anomalies_of(adu(1, 5, Pdu{}.u16(1).u16(0xFFFF))) == kInvalidCoilValue);
  CHECK(anomalies_of(adu(1, 5, Pdu{}.u16(1).u16(0x00FF))) == kInvalidCoilValue);
}

TEST_CASE("a range past address 65535 is an address overflow", "[modbus]") {
  const Bytes bytes = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x06,  // length
      0x01,        // unit id
      0x03,        // function: read holding registers
      0xFF, 0xFF,  // start 65535
      0x00, 0x02,  // quantity 2: 65535 and 65536
  };
  RequestDecode d = decode(bytes);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.anomalies == kAddressOverflow);
  CHECK(d.request.read.start == 65535);
  CHECK(d.request.read.count == 2);

  CHECK(anomalies_of(adu(1, 3, Pdu{}.u16(65535).u16(1))) == kAnomalyNone);
  CHECK(anomalies_of(adu(1, 1, Pdu{}.u16(65000).u16(1000))) == kAddressOverflow);
  CHECK(anomalies_of(adu(1, 16, Pdu{}.u16(65535).u16(2).u8(4).fill(4))) == kAddressOverflow);
  CHECK(anomalies_of(adu(1, 15, Pdu{}.u16(65530).u16(7).u8(1).u8(0))) == kAddressOverflow);
  CHECK(anomalies_of(adu(1, 23, Pdu{}.u16(65535).u16(2).u16(0).u16(1).u8(2).fill(2))) ==
        kAddressOverflow);
  CHECK(anomalies_of(adu(1, 23, Pdu{}.u16(0).u16(1).u16(65535).u16(2).u8(4).fill(4))) ==
        kAddressOverflow);
  // FIFO: the modelled range is 32 registers from the pointer
  CHECK(anomalies_of(adu(1, 24, Pdu{}.u16(65504))) == kAnomalyNone);
  CHECK(anomalies_of(adu(1, 24, Pdu{}.u16(65505))) == kAddressOverflow);
}

TEST_CASE("unit id 0 is a broadcast", "[modbus]") {
  const Bytes bytes = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x06,  // length
      0x00,        // unit id 0: serial broadcast behind a gateway
      0x06,        // function: write single register
      0x00, 0x01,  // address 1
      0x00, 0x03,  // value 3
  };
  RequestDecode d = decode(bytes);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.mbap.unit_id == 0);
  CHECK(d.request.anomalies == kBroadcast);
  CHECK(d.request.write.start == 1);
}

TEST_CASE("function codes outside the public set are non-public and assumed to change state", "[modbus]") {
  const Bytes umas = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x05,  // length: unit + 4-byte PDU
      0x01,        // unit id
      0x5A,        // function 90: Schneider UMAS
      0x00,        // session key
      0x41,        // UMAS STOP_PLC
      0x00,        // data
  };
  RequestDecode d = decode(umas);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.function == 90);
  CHECK(d.request.anomalies == kNonPublicFunction);
  CHECK(d.request.pdu_data.size() == 3);
  CHECK_FALSE(d.request.read.active());
  CHECK_FALSE(d.request.write.active());
  CHECK(d.request.changes_state());

  for (std::uint8_t fc : {0, 9, 10, 13, 14, 18, 19, 25, 40, 41, 42, 65, 72, 91, 100, 110, 125, 126, 127}) {
    CAPTURE(int(fc));
    const Bytes other_bytes = adu(1, fc, Pdu{}.u8(0x01));
    RequestDecode other = decode(other_bytes);
    CHECK(other.request.anomalies == kNonPublicFunction);
    CHECK(other.request.changes_state());
  }
}

TEST_CASE("a request function byte with the exception bit is flagged as such", "[modbus]") {
  const Bytes d_bytes = adu(1, 0x83, Pdu{}.u8(0x02));
  RequestDecode d = decode(d_bytes);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.request.function == 0x83);
  CHECK(d.request.anomalies == (kExceptionFunction | kNonPublicFunction));
  CHECK(anomalies_of(adu(1, 0xFF)) == (kExceptionFunction | kNonPublicFunction));
}

// =======================================================================================
// Framing

TEST_CASE("a protocol id other than 0 or a Length outside 2..254 is malformed", "[modbus]") {
  struct Case {
    const char* what;
    Bytes bytes;
    FramingError error;
  };
  const Case cases[] = {
      {"protocol id 1",
       {
           0x00, 0x01,  // transaction id
           0x00, 0x01,  // protocol id 1
           0x00, 0x06,  // length
           0x01,        // unit id
           0x03,        // function
           0x00, 0x00, 0x00, 0x01,
       },
       FramingError::bad_protocol_id},
      {"Length 0",
       {
           0x00, 0x01,  // transaction id
           0x00, 0x00,  // protocol id
           0x00, 0x00,  // length 0
           0x01,        // unit id
       },
       FramingError::bad_length},
      {"Length 1",
       {
           0x00, 0x01,  // transaction id
           0x00, 0x00,  // protocol id
           0x00, 0x01,  // length 1: a unit id and no function
           0x01,        // unit id
       },
       FramingError::bad_length},
      {"Length 255",
       {
           0x00, 0x01,  // transaction id
           0x00, 0x00,  // protocol id
           0x00, 0xFF,  // length 255: one more than a PDU can hold
           0x01,        // unit id
       },
       FramingError::bad_length},
      {"Length 65535",
       {
           0x00, 0x01,  // transaction id
           0x00, 0x00,  // protocol id
           0xFF, 0xFF,  // length 65535
           0x01,        // unit id
       },
       FramingError::bad_length},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    RequestDecode d = decode(c.bytes);
    CHECK(d.status == DecodeStatus::malformed);
    CHECK(d.error == c.error);
    CHECK(d.size == 0);
    ResponseDecode r = decode_response(c.bytes);
    CHECK(r.status == DecodeStatus::malformed);
    CHECK(r.error == c.error);
  }
}

TEST_CASE("Length 2 and Length 254 are the smallest and largest frames", "[modbus]") {
  RequestDecode smallest = decode(kReadExceptionStatus);
  CHECK(smallest.status == DecodeStatus::ok);
  CHECK(smallest.size == 8);
  const Bytes largest = adu(1, 100, Pdu{}.fill(252));  // user-defined function, 252 data bytes
  REQUIRE(largest.size() == kMaxAduSize);
  RequestDecode d = decode(largest);
  CHECK(d.status == DecodeStatus::ok);
  CHECK(d.size == kMaxAduSize);
  CHECK(d.request.mbap.length == kMaxLength);
}

TEST_CASE("need_more asks for the header, then for the whole ADU", "[modbus]") {
  for (std::size_t n = 0; n < kMbapSize; ++n) {
    CAPTURE(n);
    RequestDecode d = decode_request(std::span<const std::uint8_t>(kWriteRegisters).first(n));
    CHECK(d.status == DecodeStatus::need_more);
    CHECK(d.error == FramingError::none);
    CHECK(d.size == kMbapSize);
  }
  for (std::size_t n = kMbapSize; n < kWriteRegisters.size(); ++n) {
    CAPTURE(n);
    RequestDecode d = decode_request(std::span<const std::uint8_t>(kWriteRegisters).first(n));
    CHECK(d.status == DecodeStatus::need_more);
    CHECK(d.size == 6 + 0x0D);
  }
  CHECK(decode(kWriteRegisters).status == DecodeStatus::ok);
}

TEST_CASE("a bad header is rejected as soon as it is in, without waiting for the body", "[modbus]") {
  const Bytes header_only = {
      0x00, 0x01,  // transaction id
      0x00, 0x00,  // protocol id
      0x01, 0x00,  // length 256
      0x01,        // unit id
  };
  CHECK(decode(header_only).status == DecodeStatus::malformed);
}

TEST_CASE("two back-to-back requests in one buffer decode one after another", "[modbus]") {
  const Bytes stream = concat({&kReadHolding, &kWriteRegisters});
  RequestDecode first = decode(stream);
  REQUIRE(first.status == DecodeStatus::ok);
  CHECK(first.size == kReadHolding.size());
  CHECK(first.request.function == 3);
  CHECK(first.request.mbap.transaction_id == 3);

  RequestDecode second = decode_request(std::span<const std::uint8_t>(stream).subspan(first.size));
  REQUIRE(second.status == DecodeStatus::ok);
  CHECK(second.size == kWriteRegisters.size());
  CHECK(second.request.function == 16);
  CHECK(second.request.mbap.transaction_id == 0x10);
  CHECK(second.request.register_value(1) == 258);

  CHECK(decode_request(std::span<const std::uint8_t>(stream).subspan(first.size + second.size)).status ==
        DecodeStatus::need_more);
}

TEST_CASE("a stream split at every byte offset decodes the same requests as unsplit", "[modbus]") {
  // Every fixture, plus anomalies, back to back: one stream of about 300 bytes.
  const Bytes trailing = adu(1, 3, Pdu{}.u16(0).u16(1).u16(0xDEAD));
  const Bytes truncated = adu(1, 16, Pdu{}.u16(0).u16(1));
  const Bytes umas = adu(1, 90, Pdu{}.u8(0).u8(0x41));
  const Bytes broadcast = adu(0, 6, Pdu{}.u16(1).u16(2));
  std::vector<const Bytes*> parts = kCleanRequests;
  for (const Bytes* b : {&trailing, &truncated, &umas, &broadcast}) parts.push_back(b);

  Bytes stream;
  for (const Bytes* p : parts) stream.insert(stream.end(), p->begin(), p->end());
  std::vector<Snapshot> expected;
  {
    Bytes buffer = stream;
    drain(buffer, expected);
    REQUIRE(buffer.empty());
  }
  REQUIRE(expected.size() == parts.size());

  for (std::size_t split = 0; split <= stream.size(); ++split) {
    CAPTURE(split);
    std::vector<Snapshot> got;
    Bytes buffer(stream.begin(), stream.begin() + static_cast<long>(split));
    drain(buffer, got);
    buffer.insert(buffer.end(), stream.begin() + static_cast<long>(split), stream.end());
    drain(buffer, got);
    CHECK(buffer.empty());
    REQUIRE(got == expected);
  }

  // And one byte at a time.
  std::vector<Snapshot> got;
  Bytes buffer;
  for (std::uint8_t b : stream) {
    buffer.push_back(b);
    drain(buffer, got);
  }
  CHECK(got == expected);
}

// =======================================================================================
// Encoding

TEST_CASE("every public request re-encodes to the same fields with the new transaction id", "[modbus]") {
  for (const Bytes* fixture : kCleanRequests) {
    RequestDecode d = decode(*fixture);
    CAPTURE(int(d.request.function));
    REQUIRE(d.status == DecodeStatus::ok);
    REQUIRE(d.request.anomalies == kAnomalyNone);

    std::uint8_t out[kMaxAduSize];
    const std::size_t n = encode_request(d.request, 0xBEEF, out);
    REQUIRE(n == fixture->size());
    const Bytes encoded(out, out + n);
    CHECK(encoded[0] == 0xBE);  // transaction id
    CHECK(encoded[1] == 0xEF);
    CHECK(Bytes(encoded.begin() + 2, encoded.end()) == Bytes(fixture->begin() + 2, fixture->end()));

    RequestDecode again = decode(encoded);
    REQUIRE(again.status == DecodeStatus::ok);
    Snapshot a = snapshot(again);
    Snapshot b = snapshot(d);
    CHECK(a.mbap.transaction_id == 0xBEEF);
    b.mbap.transaction_id = 0xBEEF;
    CHECK(a == b);
  }
}

TEST_CASE("re-encoding recomputes Length from the PDU that is written", "[modbus]") {
  RequestDecode d = decode(kWriteRegisters);
  REQUIRE(d.status == DecodeStatus::ok);
  Request r = d.request;
  r.mbap.length = 200;  // a stale field must not leak into the output
  std::uint8_t out[kMaxAduSize];
  const std::size_t n = encode_request(r, 1, out);
  REQUIRE(n == kWriteRegisters.size());
  CHECK(out[4] == 0x00);
  CHECK(out[5] == 0x0D);
}

TEST_CASE("requests with quantity or address anomalies still re-encode faithfully", "[modbus]") {
  for (const Bytes& bytes : {adu(0, 3, Pdu{}.u16(65535).u16(200)), adu(1, 5, Pdu{}.u16(1).u16(0x1234)),
                             adu(1, 90, Pdu{}.fill(20)), adu(1, 8, Pdu{}.u16(0x99).fill(7)),
                             adu(1, 20, Pdu{}.u8(7).u8(5).u16(1).u16(0x3000).u16(1))}) {
    RequestDecode d = decode(bytes);
    CAPTURE(int(d.request.function));
    REQUIRE(d.status == DecodeStatus::ok);
    std::uint8_t out[kMaxAduSize];
    const std::size_t n = encode_request(d.request, 0x0001, out);
    CHECK(Bytes(out, out + n) == bytes);
  }
}

TEST_CASE("re-encoding a request with trailing bytes drops them", "[modbus]") {
  const Bytes bytes = {
      0x00, 0x07,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x0B,  // length: unit + 10-byte PDU
      0x01,        // unit id
      0x06,        // function: write single register
      0x00, 0x01,  // address 1
      0x00, 0x03,  // value 3
      0x00, 0x06,  // smuggled: a second "write" another parser might see
      0x00, 0x04,  //
      0x00, 0xFF,  //
  };
  RequestDecode d = decode(bytes);
  REQUIRE(d.status == DecodeStatus::ok);
  REQUIRE(d.request.anomalies == kTrailingBytes);
  std::uint8_t out[kMaxAduSize];
  const std::size_t n = encode_request(d.request, 0x0107, out);
  const Bytes expected = {
      0x01, 0x07,  // new transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x06,  // length recomputed
      0x01,        // unit id
      0x06,        // function: write single register
      0x00, 0x01,  // address 1
      0x00, 0x03,  // value 3
  };
  CHECK(Bytes(out, out + n) == expected);

  // Variable-length functions keep only what their structure defines.
  struct Case {
    const char* what;
    Bytes in;
    Bytes pdu_out;  // function + data
  };
  const Case cases[] = {
      {"FC16", adu(1, 16, Pdu{}.u16(0).u16(1).u8(2).u16(7).u8(0xEE)), {16, 0, 0, 0, 1, 2, 0, 7}},
      {"FC8 sub 10", adu(1, 8, Pdu{}.u16(10).u16(0).u8(0xEE)), {8, 0, 10, 0, 0}},
      {"FC20", adu(1, 20, Pdu{}.u8(7).u8(6).u16(1).u16(2).u16(3).u8(0xEE)), {20, 7, 6, 0, 1, 0, 2, 0, 3}},
      {"FC21", adu(1, 21, Pdu{}.u8(9).u8(6).u16(1).u16(2).u16(1).u16(9).u8(0xEE)),
       {21, 9, 6, 0, 1, 0, 2, 0, 1, 0, 9}},
      {"FC43 MEI 14", adu(1, 43, Pdu{}.u8(14).u8(1).u8(0).u8(0xEE)), {43, 14, 1, 0}},
      {"FC7", adu(1, 7, Pdu{}.u8(0xEE)), {7}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    RequestDecode t = decode(c.in);
    REQUIRE(t.status == DecodeStatus::ok);
    CHECK((t.request.anomalies & kTrailingBytes) != 0);
    const std::size_t m = encode_request(t.request, 1, out);
    REQUIRE(m == 7 + c.pdu_out.size());
    CHECK(Bytes(out + 7, out + m) == c.pdu_out);
    CHECK(anomalies_of(Bytes(out, out + m)) == (t.request.anomalies & ~std::uint32_t{kTrailingBytes}));
  }
}

TEST_CASE("encode_request refuses truncated and byte-count-mismatched requests and small buffers", "[modbus]") {
  std::uint8_t out[kMaxAduSize];
  const Bytes truncated_bytes = adu(1, 3, Pdu{}.u16(0));
  RequestDecode truncated = decode(truncated_bytes);
  REQUIRE(truncated.request.anomalies == kTruncatedPdu);
  CHECK(encode_request(truncated.request, 1, out) == 0);

  const Bytes mismatch_bytes = adu(1, 16, Pdu{}.u16(0).u16(2).u8(4).u16(1));
  RequestDecode mismatch = decode(mismatch_bytes);
  REQUIRE(mismatch.request.anomalies == kByteCountMismatch);
  CHECK(encode_request(mismatch.request, 1, out) == 0);

  RequestDecode ok = decode(kWriteRegisters);
  CHECK(encode_request(ok.request, 1, std::span<std::uint8_t>(out, kWriteRegisters.size() - 1)) == 0);
  CHECK(encode_request(ok.request, 1, std::span<std::uint8_t>(out, kWriteRegisters.size())) ==
        kWriteRegisters.size());
  CHECK(encode_request(ok.request, 1, std::span<std::uint8_t>()) == 0);
}

TEST_CASE("an exception response is function | 0x80 and the code, 9 bytes", "[modbus]") {
  std::uint8_t out[16];
  const std::size_t n = encode_exception(0x1234, 1, function::kWriteMultipleRegisters,
                                         ExceptionCode::illegal_function, out);
  const Bytes expected = {
      0x12, 0x34,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x03,  // length: unit + function + code
      0x01,        // unit id
      0x90,        // function 16 | 0x80
      0x01,        // exception code: illegal function
  };
  REQUIRE(n == 9);
  CHECK(Bytes(out, out + n) == expected);

  CHECK(encode_exception(1, 1, 3, ExceptionCode::gateway_target_failed, std::span<std::uint8_t>(out, 8)) == 0);
  CHECK(encode_exception(1, 7, 3, ExceptionCode::gateway_path_unavailable, out) == 9);
  CHECK(out[6] == 7);
  CHECK(out[7] == 0x83);
  CHECK(out[8] == 0x0A);
}

// =======================================================================================
// Responses

TEST_CASE("a read holding registers response decodes and answers its request", "[modbus]") {
  const Bytes response = {
      0x00, 0x03,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x09,  // length: unit + 8-byte PDU
      0x01,        // unit id
      0x03,        // function: read holding registers
      0x06,        // byte count 6 = 2 * 3
      0x02, 0x2B,  // register 107
      0x00, 0x00,  // register 108
      0x00, 0x64,  // register 109
  };
  ResponseDecode d = decode_response(response);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.size == response.size());
  CHECK(d.response.function == 3);
  CHECK_FALSE(d.response.is_exception);
  CHECK(d.response.pdu_data.size() == 7);
  CHECK(d.response.anomalies == kAnomalyNone);
  CHECK(response_matches(decode(kReadHolding).request, d.response));
}

TEST_CASE("an exception response decodes its code and answers any request with that function", "[modbus]") {
  const Bytes response = {
      0x00, 0x03,  // transaction id
      0x00, 0x00,  // protocol id
      0x00, 0x03,  // length
      0x01,        // unit id
      0x83,        // function 3 | 0x80
      0x02,        // exception code: illegal data address
  };
  ResponseDecode d = decode_response(response);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.response.is_exception);
  CHECK(d.response.exception_code == 0x02);
  CHECK(d.response.anomalies == kAnomalyNone);
  CHECK(response_matches(decode(kReadHolding).request, d.response));
  CHECK_FALSE(response_matches(decode(kReadInput).request, d.response));  // fc 4, unit 17

  CHECK(decode_response(adu(1, 0x83)).response.anomalies == kTruncatedPdu);
  CHECK(decode_response(adu(1, 0x83, Pdu{}.u8(2).u8(0))).response.anomalies == kTrailingBytes);
}

TEST_CASE("response byte counts and fixed sizes are checked against the bytes present", "[modbus]") {
  struct Case {
    const char* what;
    Bytes bytes;
    std::uint32_t anomalies;
  };
  const Case cases[] = {
      {"FC1 bc 1 + 1", adu(1, 1, Pdu{}.u8(1).u8(0x05)), kAnomalyNone},
      {"FC2 bc 2 + 1", adu(1, 2, Pdu{}.u8(2).u8(0x05)), kByteCountMismatch},
      {"FC3 bc 2 + 3", adu(1, 3, Pdu{}.u8(2).u16(1).u8(0)), kTrailingBytes},
      {"FC4 no bc", adu(1, 4), kTruncatedPdu},
      {"FC23 bc 4 + 4", adu(1, 23, Pdu{}.u8(4).u16(1).u16(2)), kAnomalyNone},
      {"FC5 echo", adu(1, 5, Pdu{}.u16(1).u16(0xFF00)), kAnomalyNone},
      {"FC6 short", adu(1, 6, Pdu{}.u16(1).u8(0)), kTruncatedPdu},
      {"FC15 long", adu(1, 15, Pdu{}.u16(1).u16(8).u8(0)), kTrailingBytes},
      {"FC16 echo", adu(1, 16, Pdu{}.u16(1).u16(8)), kAnomalyNone},
      {"FC22 echo", adu(1, 22, Pdu{}.u16(1).u16(2).u16(3)), kAnomalyNone},
      {"FC22 short", adu(1, 22, Pdu{}.u16(1).u16(2)), kTruncatedPdu},
      {"FC24 2 values", adu(1, 24, Pdu{}.u16(6).u16(2).u16(0x1B8).u16(0x1284)), kAnomalyNone},
      {"FC24 32 values", adu(1, 24, Pdu{}.u16(66).u16(32).fill(64)), kQuantityOutOfRange},
      {"FC24 bc vs count", adu(1, 24, Pdu{}.u16(4).u16(2).u16(1)), kByteCountMismatch},
      {"FC90 anything", adu(1, 90, Pdu{}.fill(3)), kAnomalyNone},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    ResponseDecode d = decode_response(c.bytes);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.response.anomalies == c.anomalies);
  }
}

TEST_CASE("response_matches compares unit, function, byte counts and echoes", "[modbus]") {
  struct Case {
    const char* what;
    Bytes request;
    Bytes response;
    bool matches;
  };
  const Case cases[] = {
      {"FC1 10 coils, 2 bytes", adu(1, 1, Pdu{}.u16(0).u16(10)), adu(1, 1, Pdu{}.u8(2).u16(0)), true},
      {"FC1 10 coils, 1 byte", adu(1, 1, Pdu{}.u16(0).u16(10)), adu(1, 1, Pdu{}.u8(1).u8(0)), false},
      {"FC2 8 inputs, 1 byte", adu(1, 2, Pdu{}.u16(0).u16(8)), adu(1, 2, Pdu{}.u8(1).u8(0)), true},
      {"FC3 3 regs, bc 6", kReadHolding, adu(1, 3, Pdu{}.u8(6).fill(6)), true},
      {"FC3 3 regs, bc 4", kReadHolding, adu(1, 3, Pdu{}.u8(4).fill(4)), false},
      {"FC3 wrong function", kReadHolding, adu(1, 4, Pdu{}.u8(6).fill(6)), false},
      {"FC3 wrong unit", kReadHolding, adu(2, 3, Pdu{}.u8(6).fill(6)), false},
      {"FC3 exception", kReadHolding, adu(1, 0x83, Pdu{}.u8(2)), true},
      {"FC3 exception of another function", kReadHolding, adu(1, 0x84, Pdu{}.u8(2)), false},
      {"FC3 exception from another unit", kReadHolding, adu(9, 0x83, Pdu{}.u8(2)), false},
      {"FC4 1 reg, bc 2", kReadInput, adu(17, 4, Pdu{}.u8(2).u16(0)), true},
      {"FC23 read 6, bc 12", kReadWriteRegisters, adu(1, 23, Pdu{}.u8(12).fill(12)), true},
      {"FC23 read 6, bc 6 (write count)", kReadWriteRegisters, adu(1, 23, Pdu{}.u8(6).fill(6)), false},
      {"FC5 echo", kWriteCoil, adu(1, 5, Pdu{}.u16(172).u16(0xFF00)), true},
      {"FC5 other value", kWriteCoil, adu(1, 5, Pdu{}.u16(172).u16(0x0000)), false},
      {"FC6 echo", kWriteRegister, adu(1, 6, Pdu{}.u16(1).u16(3)), true},
      {"FC6 other address", kWriteRegister, adu(1, 6, Pdu{}.u16(2).u16(3)), false},
      {"FC6 empty", kWriteRegister, adu(1, 6), false},
      {"FC22 echo", kMaskWrite, adu(1, 22, Pdu{}.u16(4).u16(0xF2).u16(0x25)), true},
      {"FC22 other mask", kMaskWrite, adu(1, 22, Pdu{}.u16(4).u16(0xF2).u16(0x26)), false},
      {"FC15 echo", kWriteCoils, adu(1, 15, Pdu{}.u16(19).u16(10)), true},
      {"FC15 other quantity", kWriteCoils, adu(1, 15, Pdu{}.u16(19).u16(9)), false},
      {"FC16 echo", kWriteRegisters, adu(1, 16, Pdu{}.u16(100).u16(3)), true},
      {"FC16 other start", kWriteRegisters, adu(1, 16, Pdu{}.u16(101).u16(3)), false},
      {"FC16 exception", kWriteRegisters, adu(1, 0x90, Pdu{}.u8(1)), true},
      {"FC8 echo", kDiagnosticsEcho, adu(1, 8, Pdu{}.u16(0).u16(0xA537).u16(0x1234)), true},
      {"FC43 answer", kReadDeviceId, adu(0xFF, 43, Pdu{}.u8(14).u8(1).u8(1).u8(0).u8(0).u8(0)), true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    RequestDecode request = decode(c.request);
    ResponseDecode response = decode_response(c.response);
    REQUIRE(request.status == DecodeStatus::ok);
    REQUIRE(response.status == DecodeStatus::ok);
    CHECK(response_matches(request.request, response.response) == c.matches);
  }
}

TEST_CASE("encode_response copies the response with the new transaction id", "[modbus]") {
  const Bytes response = {
      0x00, 0x42,  // transaction id (the proxy's, upstream)
      0x00, 0x00,  // protocol id
      0x00, 0x05,  // length
      0x01,        // unit id
      0x03,        // function: read holding registers
      0x02,        // byte count 2
      0x12, 0x34,  // register
  };
  ResponseDecode d = decode_response(response);
  REQUIRE(d.status == DecodeStatus::ok);
  std::uint8_t out[kMaxAduSize];
  const std::size_t n = encode_response(d.response, 0x0007, out);
  Bytes expected = response;
  expected[0] = 0x00;  // the client's transaction id
  expected[1] = 0x07;
  CHECK(Bytes(out, out + n) == expected);
  CHECK(encode_response(d.response, 7, std::span<std::uint8_t>(out, response.size() - 1)) == 0);
}

TEST_CASE("decode_response frames like decode_request", "[modbus]") {
  CHECK(decode_response(Bytes{0x00, 0x01, 0x00}).size == kMbapSize);
  CHECK(decode_response(Bytes{0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x01, 0x03}).size == 11);
  const Bytes two = concat({&kReadExceptionStatus, &kReadExceptionStatus});
  ResponseDecode d = decode_response(two);
  CHECK(d.status == DecodeStatus::ok);
  CHECK(d.size == 8);
}

// =======================================================================================
// Text

TEST_CASE("describe summarises a write multiple registers request without its values", "[modbus]") {
  RequestDecode d = decode(kWriteRegisters);
  CHECK(describe_to_string(d.request) == "unit 1 fc 16 write holding_registers 100+3");
}

TEST_CASE("describe names sub-functions, both FC 23 ranges and the anomalies", "[modbus]") {
  CHECK(describe_to_string(decode(kReadWriteRegisters).request) ==
        "unit 1 fc 23 read holding_registers 3+6 write holding_registers 14+3");
  CHECK(describe_to_string(decode(kDiagnosticsListenOnly).request) == "unit 1 fc 8 sub 4");
  CHECK(describe_to_string(decode(kReadDeviceId).request) == "unit 255 fc 43 mei 14");
  CHECK(describe_to_string(decode(kReadFileRecord).request) == "unit 1 fc 20 read file_records");
  const Bytes odd = adu(0, 3, Pdu{}.u16(65535).u16(126).u8(0));
  CHECK(describe_to_string(decode(odd).request) ==
        "unit 0 fc 3 read holding_registers 65535+126 "
        "[quantity_out_of_range,address_overflow,trailing_bytes,broadcast]");
  const Bytes umas = adu(1, 90, Pdu{}.u8(0));
  CHECK(describe_to_string(decode(umas).request) == "unit 1 fc 90 [non_public_function]");
}

TEST_CASE("describe truncates to the buffer and always terminates it", "[modbus]") {
  RequestDecode d = decode(kWriteRegisters);
  char text[11];
  std::memset(text, 'x', sizeof text);
  const std::size_t n = describe(d.request, text);
  CHECK(n == 10);
  CHECK(std::string(text) == "unit 1 fc ");
  char one[1] = {'x'};
  CHECK(describe(d.request, one) == 0);
  CHECK(one[0] == '\0');
  CHECK(describe(d.request, std::span<char>()) == 0);
}

TEST_CASE("table names are the snake_case enumerator names", "[modbus]") {
  CHECK(std::string(table_name(Table::none)) == "none");
  CHECK(std::string(table_name(Table::coils)) == "coils");
  CHECK(std::string(table_name(Table::discrete_inputs)) == "discrete_inputs");
  CHECK(std::string(table_name(Table::input_registers)) == "input_registers");
  CHECK(std::string(table_name(Table::holding_registers)) == "holding_registers");
  CHECK(std::string(table_name(Table::file_records)) == "file_records");
}

TEST_CASE("register and coil accessors return 0 and false outside what was written", "[modbus]") {
  const Request read = decode(kReadHolding).request;
  CHECK(read.register_value(0) == 0);
  CHECK_FALSE(read.coil_value(0));
  const Request coil = decode(kWriteCoil).request;
  CHECK(coil.register_value(0) == 0);  // FC 5 is a coil, not a register
  const Request mask = decode(kMaskWrite).request;
  CHECK(mask.register_value(0) == 0);  // FC 22 values are masks
  Request empty;
  CHECK(empty.register_value(0) == 0);
  CHECK_FALSE(empty.coil_value(0));
}
