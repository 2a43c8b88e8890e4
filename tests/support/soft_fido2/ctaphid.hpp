// CTAPHID, the USB HID framing of CTAP (CTAP 2.1 §11.2), authenticator side, without I/O:
// feed it the 64-byte reports a client sent, get back the reports to send.
//
//   init packet:         CID(4) CMD|0x80 BCNTH BCNTL DATA(57)
//   continuation packet: CID(4) SEQ(0..0x7f)       DATA(59)
//
// Channels: INIT on the broadcast CID 0xffffffff allocates a new CID; INIT on an allocated
// CID resynchronises it. One transaction at a time: an init packet from another channel
// while a message is half received gets ERR_CHANNEL_BUSY. Commands: INIT, PING (echo),
// WINK (empty reply), CANCEL (ignored: we never keep a request pending), CBOR (handed to
// the CTAP2 handler); MSG (U2F), LOCK and anything else get ERR_INVALID_CMD. The transport
// owner calls on_timeout() when a half-received message stalls (ERR_MSG_TIMEOUT).
//
// One HidSession per connected client; not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <vector>

namespace conduit::soft_fido2 {

inline constexpr std::size_t kReportSize = 64;
inline constexpr std::uint32_t kBroadcastCid = 0xffffffff;
// 57 bytes in the init packet + 128 continuation packets of 59.
inline constexpr std::size_t kMaxHidMessage = 57 + 128 * 59;

using Report = std::array<std::uint8_t, kReportSize>;

enum HidCommand : std::uint8_t {
  kHidPing = 0x01,
  kHidMsg = 0x03,
  kHidLock = 0x04,
  kHidInit = 0x06,
  kHidWink = 0x08,
  kHidCbor = 0x10,
  kHidCancel = 0x11,
  kHidKeepalive = 0x3b,
  kHidError = 0x3f,
};

enum HidError : std::uint8_t {
  kHidErrInvalidCmd = 0x01,
  kHidErrInvalidPar = 0x02,
  kHidErrInvalidLen = 0x03,
  kHidErrInvalidSeq = 0x04,
  kHidErrMsgTimeout = 0x05,
  kHidErrChannelBusy = 0x06,
  kHidErrInvalidChannel = 0x0b,
};

// Capabilities in the INIT reply: WINK, CBOR, and NMSG (no U2F MSG command).
inline constexpr std::uint8_t kHidCapabilities = 0x01 | 0x04 | 0x08;

class HidSession {
 public:
  // Gets a CTAP2 request (command byte + CBOR), returns status byte + CBOR.
  using CborHandler = std::function<std::vector<std::uint8_t>(std::span<const std::uint8_t>)>;

  explicit HidSession(CborHandler cbor_handler);

  // One datagram as received; anything but 64 bytes is answered ERR_INVALID_LEN when its
  // CID is readable, and otherwise dropped. Returns the reports to send, maybe none.
  std::vector<Report> on_report(std::span<const std::uint8_t> datagram);
  // Abandons the half-received message, if any, with ERR_MSG_TIMEOUT.
  std::vector<Report> on_timeout();
  // True while a message is half received: the transport should time it out.
  bool receiving() const { return pending_.has_value(); }

 private:
  struct Pending {
    std::uint32_t cid;
    std::uint8_t command;
    std::size_t expected;
    std::uint8_t next_seq;
    std::vector<std::uint8_t> payload;
  };

  std::vector<Report> on_init_packet(std::uint32_t cid, std::span<const std::uint8_t> report);
  std::vector<Report> on_continuation(std::uint32_t cid, std::span<const std::uint8_t> report);
  std::vector<Report> dispatch(std::uint32_t cid, std::uint8_t command,
                               std::span<const std::uint8_t> payload);
  std::vector<Report> init(std::uint32_t cid, std::span<const std::uint8_t> nonce);

  CborHandler cbor_handler_;
  std::set<std::uint32_t> channels_;
  std::uint32_t next_cid_ = 1;
  std::optional<Pending> pending_;
};

// Splits a response into an init packet and continuation packets (zero-padded).
std::vector<Report> fragment(std::uint32_t cid, std::uint8_t command,
                             std::span<const std::uint8_t> payload);
std::vector<Report> error_report(std::uint32_t cid, HidError error);

}  // namespace conduit::soft_fido2
