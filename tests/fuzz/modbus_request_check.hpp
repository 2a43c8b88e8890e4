// The property the Modbus request fuzzer checks, shared with the corpus replay unit test
// so that CI runs exactly what the fuzzer runs (tests/unit/protocols/modbus_corpus_replay_test.cpp).
//
// For any bytes: requests are framed one after another until need_more or malformed, and
// every decoded request must re-encode to an ADU that decodes to the same request (same
// function, unit, sub-function, ranges, values and anomalies), minus trailing bytes, with
// the new transaction id; only kTruncatedPdu / kByteCountMismatch may refuse to re-encode.
// The same bytes are also decoded as responses, matched and re-encoded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "protocols/modbus/codec.hpp"

namespace conduit::fuzz {

namespace modbus_detail {

using namespace conduit::protocols::modbus;

inline bool same_bytes(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline bool same_range(const TableRange& a, const TableRange& b) noexcept {
  return a.table == b.table && a.start == b.start && a.count == b.count;
}

inline bool check_framing(DecodeStatus status, FramingError error, std::size_t size,
                          std::span<const std::uint8_t> input) noexcept {
  switch (status) {
    case DecodeStatus::ok:
      return error == FramingError::none && size >= kMbapSize + 1 && size <= kMaxAduSize && size <= input.size();
    case DecodeStatus::need_more:
      // Asks for strictly more than it has, and never more than one maximal ADU.
      return error == FramingError::none && size > input.size() && size <= kMaxAduSize;
    case DecodeStatus::malformed:
      return error != FramingError::none && size == 0;
  }
  return false;
}

inline bool check_request(const Request& request, std::size_t size) noexcept {
  if (request.pdu_data.size() != size - kMbapSize - 1) return false;
  if (request.write.active() && !request.changes_state()) return false;

  // Accessors stay inside `values` whatever the quantity field claims (ASan watches), and
  // answer 0 / false past what was written.
  const std::size_t probe = (request.write.count < 2048u ? request.write.count : 2048u) + 9u;
  for (std::size_t i = 0; i < probe; ++i) {
    const std::uint16_t reg = request.register_value(i);
    const bool coil = request.coil_value(i);
    if (i >= request.values.size() / 2 && reg != 0) return false;
    if (i >= request.write.count && coil) return false;
  }

  char text[96];
  const std::size_t text_length = describe(request, text);
  if (text_length >= sizeof text || text[text_length] != '\0') return false;
  char one[1];
  if (describe(request, one) != 0 || one[0] != '\0') return false;

  const std::uint16_t new_tid = static_cast<std::uint16_t>(request.mbap.transaction_id ^ 0xA5A5);
  std::uint8_t encoded[kMaxAduSize];
  const std::size_t length = encode_request(request, new_tid, encoded);
  const bool structural = (request.anomalies & (kTruncatedPdu | kByteCountMismatch)) != 0;
  if (structural) return length == 0;
  if (length == 0 || length > size) return false;  // re-encoding never adds bytes
  if (encode_request(request, new_tid, std::span<std::uint8_t>(encoded, length - 1)) != 0) return false;

  const RequestDecode again = decode_request(std::span<const std::uint8_t>(encoded, length));
  if (again.status != DecodeStatus::ok || again.size != length) return false;
  const Request& r = again.request;
  if (r.mbap.transaction_id != new_tid || r.mbap.protocol_id != 0 || r.mbap.length != length - 6) return false;
  if (r.mbap.unit_id != request.mbap.unit_id || r.function != request.function) return false;
  if (r.subfunction != request.subfunction) return false;
  if (!same_range(r.read, request.read) || !same_range(r.write, request.write)) return false;
  if (!same_bytes(r.values, request.values)) return false;
  if ((r.anomalies & kTrailingBytes) != 0) return false;
  if (r.anomalies != (request.anomalies & ~static_cast<std::uint32_t>(kTrailingBytes))) return false;
  if (r.changes_state() != request.changes_state()) return false;
  // The re-encoded PDU is the defined prefix of the received one, and all of it when
  // nothing trailed.
  if (r.pdu_data.size() > request.pdu_data.size()) return false;
  if (!same_bytes(r.pdu_data, request.pdu_data.first(r.pdu_data.size()))) return false;
  if ((request.anomalies & kTrailingBytes) == 0 && r.pdu_data.size() != request.pdu_data.size()) return false;
  // Without trailing bytes, moving the spans onto the re-encoded copy is decoding it again.
  if ((request.anomalies & kTrailingBytes) == 0) {
    const Request moved = rebase(request, std::span<const std::uint8_t>(encoded, length));
    if (moved.pdu_data.data() != r.pdu_data.data() || moved.pdu_data.size() != r.pdu_data.size()) return false;
    if (moved.values.size() != r.values.size() || (!r.values.empty() && moved.values.data() != r.values.data())) {
      return false;
    }
    if (moved.mbap.transaction_id != r.mbap.transaction_id || moved.mbap.length != r.mbap.length) return false;
    if (moved.anomalies != r.anomalies || !same_range(moved.read, r.read) || !same_range(moved.write, r.write)) {
      return false;
    }
  }
  return true;
}

inline bool check_response(const Request& request, const Response& response, std::size_t size) noexcept {
  if (response.pdu_data.size() != size - kMbapSize - 1) return false;
  if (response.is_exception != ((response.function & 0x80) != 0)) return false;
  (void)response_matches(request, response);

  // An exception built for this request always answers it.
  if (request.function < 0x80) {
    std::uint8_t exception[kMaxAduSize];
    const std::size_t n = encode_exception(7, request.mbap.unit_id, request.function,
                                           ExceptionCode::illegal_function, exception);
    if (n != 9) return false;
    const ResponseDecode decoded = decode_response(std::span<const std::uint8_t>(exception, n));
    if (decoded.status != DecodeStatus::ok || !decoded.response.is_exception ||
        decoded.response.anomalies != kAnomalyNone || !response_matches(request, decoded.response)) {
      return false;
    }
  }

  std::uint8_t encoded[kMaxAduSize];
  const std::size_t n = encode_response(response, 0xBEEF, encoded);
  if (n != size) return false;
  if (encode_response(response, 0xBEEF, std::span<std::uint8_t>(encoded, n - 1)) != 0) return false;
  const ResponseDecode again = decode_response(std::span<const std::uint8_t>(encoded, n));
  return again.status == DecodeStatus::ok && again.size == n && again.response.mbap.transaction_id == 0xBEEF &&
         again.response.function == response.function && again.response.anomalies == response.anomalies &&
         again.response.exception_code == response.exception_code &&
         same_bytes(again.response.pdu_data, response.pdu_data);
}

}  // namespace modbus_detail

// True when every property above holds for `input`.
inline bool check_modbus_request_stream(std::span<const std::uint8_t> input) noexcept {
  using namespace modbus_detail;
  std::span<const std::uint8_t> rest = input;
  // An ADU is at least 8 bytes, so this terminates after at most input.size() / 8 rounds.
  for (;;) {
    const RequestDecode decoded = decode_request(rest);
    if (!check_framing(decoded.status, decoded.error, decoded.size, rest)) return false;

    const ResponseDecode response = decode_response(rest);
    if (response.status != decoded.status || response.error != decoded.error || response.size != decoded.size) {
      return false;
    }
    if (decoded.status != DecodeStatus::ok) return true;

    if (!check_request(decoded.request, decoded.size)) return false;
    if (!check_response(decoded.request, response.response, response.size)) return false;
    rest = rest.subspan(decoded.size);
  }
}

}  // namespace conduit::fuzz
