// A pre-check for untrusted CBOR before libcbor's cbor_load() sees it.
//
// libcbor 0.8 allocates a definite array or map for its declared size before reading any
// item, so a 9-byte header can ask for gigabytes (found by throwing mutated requests at the
// soft authenticator under ASan). This walk checks, without allocating, that the input is
// exactly one well-formed item whose declared lengths fit in the bytes that are left, with
// definite lengths only (CTAP2 canonical CBOR, CTAP 2.1 §8) and bounded nesting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace conduit::soft_fido2 {

namespace cbor_check_detail {

// CTAP requests nest four deep (params, array, map, value); leave room, refuse abuse.
inline constexpr int kMaxDepth = 8;

inline bool skip_item(std::span<const std::uint8_t>& in, int depth) {
  if (in.empty() || depth > kMaxDepth) return false;
  const std::uint8_t major = in[0] >> 5;
  const std::uint8_t info = in[0] & 0x1f;
  in = in.subspan(1);
  std::uint64_t value = info;
  if (info >= 24) {
    if (info > 27) return false;  // 28-30 reserved, 31 indefinite length or "break"
    const std::size_t width = std::size_t{1} << (info - 24);
    if (in.size() < width) return false;
    value = 0;
    for (std::size_t i = 0; i < width; ++i) value = value << 8 | in[i];
    in = in.subspan(width);
  }
  switch (major) {
    case 2:  // byte string
    case 3:  // text string
      if (value > in.size()) return false;
      in = in.subspan(static_cast<std::size_t>(value));
      return true;
    case 4:    // array: every item takes at least one byte
    case 5: {  // map: twice as many items
      if (value > in.size()) return false;
      const std::uint64_t items = major == 5 ? 2 * value : value;
      for (std::uint64_t i = 0; i < items; ++i) {
        if (!skip_item(in, depth + 1)) return false;
      }
      return true;
    }
    case 6:  // tag: one tagged item follows
      return skip_item(in, depth + 1);
    default:  // 0, 1 integers; 7 simple values and floats, already consumed
      return true;
  }
}

}  // namespace cbor_check_detail

inline bool is_well_formed_cbor(std::span<const std::uint8_t> data) {
  return cbor_check_detail::skip_item(data, 0) && data.empty();
}

}  // namespace conduit::soft_fido2
