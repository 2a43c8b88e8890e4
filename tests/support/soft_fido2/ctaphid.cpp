#include "tests/support/soft_fido2/ctaphid.hpp"

#include <algorithm>
#include <utility>

namespace conduit::soft_fido2 {
namespace {

constexpr std::uint8_t kInitFlag = 0x80;
constexpr std::size_t kInitData = kReportSize - 7;
constexpr std::size_t kContData = kReportSize - 5;
constexpr std::size_t kNonceSize = 8;
// CTAPHID_INIT reply fields after nonce and CID (CTAP 2.1 §11.2.9.1.3).
constexpr std::uint8_t kProtocolVersion = 2;
constexpr std::uint8_t kDeviceMajor = 1, kDeviceMinor = 0, kDeviceBuild = 0;

// The CID is an opaque 4-byte value to clients; we keep it big-endian on the wire.
std::uint32_t read_cid(std::span<const std::uint8_t> report) {
  return static_cast<std::uint32_t>(report[0]) << 24 | static_cast<std::uint32_t>(report[1]) << 16 |
         static_cast<std::uint32_t>(report[2]) << 8 | report[3];
}

void write_cid(Report& report, std::uint32_t cid) {
  for (int i = 0; i < 4; ++i) report[i] = static_cast<std::uint8_t>(cid >> (24 - 8 * i));
}

}  // namespace

std::vector<Report> fragment(std::uint32_t cid, std::uint8_t command,
                             std::span<const std::uint8_t> payload) {
  std::vector<Report> reports;
  Report first{};
  write_cid(first, cid);
  first[4] = static_cast<std::uint8_t>(kInitFlag | command);
  first[5] = static_cast<std::uint8_t>(payload.size() >> 8);
  first[6] = static_cast<std::uint8_t>(payload.size());
  std::size_t sent = std::min(payload.size(), kInitData);
  std::copy_n(payload.begin(), sent, first.begin() + 7);
  reports.push_back(first);
  for (std::uint8_t seq = 0; sent < payload.size(); ++seq) {
    Report next{};
    write_cid(next, cid);
    next[4] = seq;
    const std::size_t n = std::min(payload.size() - sent, kContData);
    std::copy_n(payload.begin() + static_cast<std::ptrdiff_t>(sent), n, next.begin() + 5);
    reports.push_back(next);
    sent += n;
  }
  return reports;
}

std::vector<Report> error_report(std::uint32_t cid, HidError error) {
  const std::uint8_t code = error;
  return fragment(cid, kHidError, {&code, 1});
}

HidSession::HidSession(CborHandler cbor_handler) : cbor_handler_(std::move(cbor_handler)) {}

std::vector<Report> HidSession::on_report(std::span<const std::uint8_t> datagram) {
  if (datagram.size() < 4) return {};  // not even a CID to answer on
  const std::uint32_t cid = read_cid(datagram);
  if (datagram.size() != kReportSize) {
    if (pending_ && pending_->cid == cid) pending_.reset();
    return error_report(cid, kHidErrInvalidLen);
  }
  if (cid == 0) return error_report(cid, kHidErrInvalidChannel);
  return (datagram[4] & kInitFlag) != 0 ? on_init_packet(cid, datagram)
                                         : on_continuation(cid, datagram);
}

std::vector<Report> HidSession::on_timeout() {
  if (!pending_) return {};
  const std::uint32_t cid = pending_->cid;
  pending_.reset();
  return error_report(cid, kHidErrMsgTimeout);
}

std::vector<Report> HidSession::on_init_packet(std::uint32_t cid,
                                               std::span<const std::uint8_t> report) {
  const auto command = static_cast<std::uint8_t>(report[4] & ~kInitFlag);
  const std::size_t length = static_cast<std::size_t>(report[5]) << 8 | report[6];
  if (pending_) {
    // §11.2.4: INIT may interrupt anything; another init packet on the busy channel breaks
    // its sequence; other channels wait their turn.
    if (pending_->cid == cid) {
      pending_.reset();
      if (command != kHidInit) return error_report(cid, kHidErrInvalidSeq);
    } else if (command != kHidInit) {
      return error_report(cid, kHidErrChannelBusy);
    }
  }
  if (cid == kBroadcastCid ? command != kHidInit : channels_.count(cid) == 0) {
    return error_report(cid, kHidErrInvalidChannel);
  }
  if (length > kMaxHidMessage) return error_report(cid, kHidErrInvalidLen);
  const auto data = report.subspan(7);
  if (length <= kInitData) return dispatch(cid, command, data.first(length));
  pending_ = Pending{cid, command, length, 0, std::vector<std::uint8_t>(data.begin(), data.end())};
  return {};
}

std::vector<Report> HidSession::on_continuation(std::uint32_t cid,
                                                std::span<const std::uint8_t> report) {
  // Spurious continuation packets (no transaction, or another channel's) are ignored.
  if (!pending_ || pending_->cid != cid) return {};
  if (report[4] != pending_->next_seq) {
    pending_.reset();
    return error_report(cid, kHidErrInvalidSeq);
  }
  ++pending_->next_seq;
  const std::size_t n = std::min(pending_->expected - pending_->payload.size(), kContData);
  pending_->payload.insert(pending_->payload.end(), report.begin() + 5, report.begin() + 5 + n);
  if (pending_->payload.size() < pending_->expected) return {};
  Pending done = std::move(*pending_);
  pending_.reset();
  return dispatch(done.cid, done.command, done.payload);
}

std::vector<Report> HidSession::dispatch(std::uint32_t cid, std::uint8_t command,
                                         std::span<const std::uint8_t> payload) {
  switch (command) {
    case kHidInit:
      return init(cid, payload);
    case kHidPing:
      return fragment(cid, kHidPing, payload);
    case kHidWink:
      return fragment(cid, kHidWink, {});
    case kHidCancel:
      return {};
    case kHidCbor:
      if (payload.empty()) return error_report(cid, kHidErrInvalidLen);
      return fragment(cid, kHidCbor, cbor_handler_(payload));
    default:  // MSG (we are CTAP2-only), LOCK, vendor commands
      return error_report(cid, kHidErrInvalidCmd);
  }
}

std::vector<Report> HidSession::init(std::uint32_t cid, std::span<const std::uint8_t> nonce) {
  if (nonce.size() != kNonceSize) return error_report(cid, kHidErrInvalidLen);
  std::uint32_t assigned = cid;
  if (cid == kBroadcastCid) {
    assigned = next_cid_++;
    if (next_cid_ == kBroadcastCid) next_cid_ = 1;  // never hand out 0 or broadcast
    channels_.insert(assigned);
  }
  std::vector<std::uint8_t> reply(nonce.begin(), nonce.end());
  Report cid_bytes{};
  write_cid(cid_bytes, assigned);
  reply.insert(reply.end(), cid_bytes.begin(), cid_bytes.begin() + 4);
  reply.insert(reply.end(), {kProtocolVersion, kDeviceMajor, kDeviceMinor, kDeviceBuild,
                             kHidCapabilities});
  // The reply goes out on the channel the request came in on (broadcast for a new CID).
  return fragment(cid, kHidInit, reply);
}

}  // namespace conduit::soft_fido2
