// A minimal CBOR encoder for the soft authenticator's responses (RFC 8949 §3).
//
// CTAP2 wants canonical CBOR (CTAP 2.1 §8): shortest-form heads, definite lengths, and map
// keys in canonical order (unsigned ints ascending, then negative ints by magnitude, then
// text keys shorter first, then bytewise). This writer always emits shortest heads and
// definite lengths; the caller writes map entries in canonical order. Hand-written because
// libcbor's builders keep the integer width they were built with, which makes shortest form
// the caller's job anyway.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace conduit::soft_fido2 {

class CborWriter {
 public:
  CborWriter& integer(std::int64_t value) {
    if (value >= 0) {
      head(0, static_cast<std::uint64_t>(value));
    } else {
      head(1, static_cast<std::uint64_t>(-(value + 1)));
    }
    return *this;
  }
  CborWriter& bytes(std::span<const std::uint8_t> value) {
    head(2, value.size());
    out_.insert(out_.end(), value.begin(), value.end());
    return *this;
  }
  CborWriter& text(std::string_view value) {
    head(3, value.size());
    out_.insert(out_.end(), value.begin(), value.end());
    return *this;
  }
  // Heads of containers: the caller then writes `count` items (maps: key, value, ...).
  CborWriter& array(std::size_t count) {
    head(4, count);
    return *this;
  }
  CborWriter& map(std::size_t count) {
    head(5, count);
    return *this;
  }
  CborWriter& boolean(bool value) {
    out_.push_back(value ? 0xf5 : 0xf4);
    return *this;
  }
  // An item that is already CBOR (e.g. a COSE key inside a response).
  CborWriter& encoded(std::span<const std::uint8_t> item) {
    out_.insert(out_.end(), item.begin(), item.end());
    return *this;
  }

  const std::vector<std::uint8_t>& data() const { return out_; }
  std::vector<std::uint8_t> take() { return std::move(out_); }

 private:
  void head(std::uint8_t major, std::uint64_t value) {
    const auto type = static_cast<std::uint8_t>(major << 5);
    int extra = 0;
    if (value < 24) {
      out_.push_back(static_cast<std::uint8_t>(type | value));
      return;
    }
    if (value <= 0xff) {
      out_.push_back(type | 24);
      extra = 1;
    } else if (value <= 0xffff) {
      out_.push_back(type | 25);
      extra = 2;
    } else if (value <= 0xffffffff) {
      out_.push_back(type | 26);
      extra = 4;
    } else {
      out_.push_back(type | 27);
      extra = 8;
    }
    for (int i = extra - 1; i >= 0; --i) {
      out_.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
    }
  }

  std::vector<std::uint8_t> out_;
};

}  // namespace conduit::soft_fido2
