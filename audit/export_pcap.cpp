#include "audit/export_pcap.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string>

namespace conduit::audit {

namespace {

constexpr std::size_t kEthernetHeader = 14;
constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kTcpHeader = 20;
constexpr std::size_t kTcpSynOptions = 8;  // MSS (4), NOP (1), window scale (3)
constexpr std::uint8_t kWindowScale = 7;
constexpr std::uint16_t kWindow = 0xFFFF;
constexpr std::uint64_t kAckEvery = 1 << 20;

constexpr std::uint8_t kFin = 0x01;
constexpr std::uint8_t kSyn = 0x02;
constexpr std::uint8_t kPsh = 0x08;
constexpr std::uint8_t kAck = 0x10;

// Fixed initial sequence numbers: the capture is synthesized, and fixed values make the
// same recording export to the same bytes.
constexpr std::uint32_t kClientIsn = 0x10000000;
constexpr std::uint32_t kAssetIsn = 0x20000000;

struct Endpoint {
  bool v6 = false;
  std::array<std::uint8_t, 16> ip{};  // IPv4 in the first 4 bytes
  std::uint16_t port = 0;
};

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint e;
  std::string host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    host = host.substr(0, host.find('%'));  // a zone id ("fe80::1%eth0") has no place on the wire
    port = text.substr(close + 2);
    e.v6 = true;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 0xFFFF) return std::nullopt;
  e.port = static_cast<std::uint16_t>(value);
  if (inet_pton(e.v6 ? AF_INET6 : AF_INET, host.c_str(), e.ip.data()) != 1) return std::nullopt;
  return e;
}

Endpoint to_mapped_v6(Endpoint e) {
  if (e.v6) return e;
  std::array<std::uint8_t, 16> mapped{};
  mapped[10] = 0xFF;
  mapped[11] = 0xFF;
  std::copy_n(e.ip.begin(), 4, mapped.begin() + 12);
  e.ip = mapped;
  e.v6 = true;
  return e;
}

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v));
}
void put32_le(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put16_le(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

// RFC 1071 one's-complement sum of 16-bit big-endian words; an odd last byte is padded.
std::uint32_t sum16(std::uint32_t sum, std::span<const std::uint8_t> bytes) {
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += static_cast<std::uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  if (i < bytes.size()) sum += static_cast<std::uint32_t>(bytes[i] << 8);
  return sum;
}
std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

struct Side {
  Endpoint endpoint;
  std::uint8_t mac_last = 0;
  std::uint32_t next_seq = 0;
  std::uint16_t ip_id = 0;
  std::uint64_t unacked = 0;  // bytes sent since the other side last acknowledged
};

// Builds the packets of one synthesized TCP conversation into a pcap byte string.
class Conversation {
 public:
  Conversation(Endpoint client, Endpoint asset) {
    sides_[0] = Side{client, 0x01, kClientIsn + 1, 1, 0};
    sides_[1] = Side{asset, 0x02, kAssetIsn + 1, 1, 0};
    put32_le(out_, kPcapMagicMicroseconds);  // written little-endian; readers detect the order
    put16_le(out_, 2);                       // version 2.4
    put16_le(out_, 4);
    put32_le(out_, 0);  // thiszone: timestamps are UTC
    put32_le(out_, 0);  // sigfigs
    put32_le(out_, kPcapSnaplen);
    put32_le(out_, kLinktypeEthernet);
  }

  void handshake(std::uint64_t wall_us) {
    segment(0, wall_us, kSyn, {}, true);
    segment(1, wall_us, kSyn | kAck, {}, true);
    segment(0, wall_us, kAck, {}, false);
  }

  void data(Direction direction, std::uint64_t wall_us, std::span<const std::uint8_t> payload) {
    const int from = direction == Direction::client_to_asset ? 0 : 1;
    const std::size_t mss = sides_[0].endpoint.v6 ? kPcapMaxSegmentIpv6 : kPcapMaxSegmentIpv4;
    while (!payload.empty()) {
      const std::size_t n = std::min(mss, payload.size());
      segment(from, wall_us, n == payload.size() ? kPsh | kAck : kAck, payload.first(n), false);
      payload = payload.subspan(n);
    }
    if (sides_[from].unacked >= kAckEvery) segment(1 - from, wall_us, kAck, {}, false);
  }

  void close(std::uint64_t wall_us) {
    segment(0, wall_us, kFin | kAck, {}, false);
    segment(1, wall_us, kFin | kAck, {}, false);
    segment(0, wall_us, kAck, {}, false);
  }

  std::vector<std::uint8_t> take() { return std::move(out_); }

 private:
  void segment(int from, std::uint64_t wall_us, std::uint8_t flags, std::span<const std::uint8_t> payload,
               bool syn_options) {
    Side& s = sides_[from];
    Side& peer = sides_[1 - from];
    const bool v6 = s.endpoint.v6;
    const std::size_t ip_header = v6 ? kIpv6Header : kIpv4Header;
    const std::size_t tcp_header = kTcpHeader + (syn_options ? kTcpSynOptions : 0);
    const std::size_t tcp_length = tcp_header + payload.size();
    const std::size_t frame_size = kEthernetHeader + ip_header + tcp_length;

    // Record header, then the frame, filled in place (sized up front: no insert()).
    put32_le(out_, static_cast<std::uint32_t>(wall_us / 1'000'000));
    put32_le(out_, static_cast<std::uint32_t>(wall_us % 1'000'000));
    put32_le(out_, static_cast<std::uint32_t>(frame_size));
    put32_le(out_, static_cast<std::uint32_t>(frame_size));
    const std::size_t at = out_.size();
    out_.resize(at + frame_size, 0);
    std::uint8_t* eth = out_.data() + at;
    eth[0] = 0x02;
    eth[5] = peer.mac_last;
    eth[6] = 0x02;
    eth[11] = s.mac_last;
    put16(eth + 12, v6 ? 0x86DD : 0x0800);

    std::uint8_t* ip = eth + kEthernetHeader;
    std::uint8_t* tcp = ip + ip_header;
    std::uint32_t pseudo = 0;
    if (v6) {
      put32(ip, 0x60000000);  // version 6, no traffic class or flow label
      put16(ip + 4, static_cast<std::uint16_t>(tcp_length));
      ip[6] = 6;  // next header: TCP
      ip[7] = 64;
      std::copy_n(s.endpoint.ip.begin(), 16, ip + 8);
      std::copy_n(peer.endpoint.ip.begin(), 16, ip + 24);
      pseudo = sum16(0, {ip + 8, 32}) + static_cast<std::uint32_t>(tcp_length) + 6;
    } else {
      ip[0] = 0x45;
      put16(ip + 2, static_cast<std::uint16_t>(kIpv4Header + tcp_length));
      put16(ip + 4, s.ip_id++);
      put16(ip + 6, 0x4000);  // don't fragment
      ip[8] = 64;
      ip[9] = 6;
      std::copy_n(s.endpoint.ip.begin(), 4, ip + 12);
      std::copy_n(peer.endpoint.ip.begin(), 4, ip + 16);
      put16(ip + 10, fold(sum16(0, {ip, kIpv4Header})));
      pseudo = sum16(0, {ip + 12, 8}) + static_cast<std::uint32_t>(tcp_length) + 6;
    }

    put16(tcp, s.endpoint.port);
    put16(tcp + 2, peer.endpoint.port);
    put32(tcp + 4, (flags & kSyn) ? s.next_seq - 1 : s.next_seq);
    put32(tcp + 8, (flags & kAck) ? peer.next_seq : 0);
    tcp[12] = static_cast<std::uint8_t>((tcp_header / 4) << 4);
    tcp[13] = flags;
    put16(tcp + 14, kWindow);
    if (syn_options) {
      const std::uint16_t mss = static_cast<std::uint16_t>(v6 ? kPcapMaxSegmentIpv6 : kPcapMaxSegmentIpv4);
      tcp[20] = 2;  // MSS
      tcp[21] = 4;
      put16(tcp + 22, mss);
      tcp[24] = 1;  // NOP
      tcp[25] = 3;  // window scale
      tcp[26] = 3;
      tcp[27] = kWindowScale;
    }
    std::copy(payload.begin(), payload.end(), tcp + tcp_header);
    put16(tcp + 16, fold(sum16(pseudo, {tcp, tcp_length})));

    // SYN and FIN take one sequence number each. The SYN's was taken in advance (next_seq
    // starts at ISN + 1) so that the handshake ACKs need no special case.
    s.next_seq += static_cast<std::uint32_t>(payload.size()) + ((flags & kFin) ? 1u : 0u);
    s.unacked += payload.size();
    if (flags & kAck) peer.unacked = 0;
  }

  std::array<Side, 2> sides_;
  std::vector<std::uint8_t> out_;
};

}  // namespace

ExportResult<std::vector<std::uint8_t>> export_pcap(std::span<const std::uint8_t> recording) {
  RecordingReader reader(recording);
  Record record;
  ReadResult r = reader.next(record);
  if (r.status != ReadStatus::ok) return export_error(r);
  const Header& header = std::get<Header>(record.body);

  std::optional<Endpoint> client = parse_endpoint(header.client_address);
  std::optional<Endpoint> asset = parse_endpoint(header.asset_address);
  if (!client) client = parse_endpoint(kPcapPlaceholderClient);
  if (!asset) asset = parse_endpoint(kPcapPlaceholderAsset);
  if (client->v6 != asset->v6) {
    client = to_mapped_v6(*client);
    asset = to_mapped_v6(*asset);
  }

  Conversation conversation(*client, *asset);
  conversation.handshake(header.start_wall_us);
  std::uint64_t end_us = header.start_wall_us;
  bool closed = false;
  // Read to the end even after the close event: a malformed record anywhere makes the
  // whole recording an error, as for the other exporters.
  for (;;) {
    r = reader.next(record);
    if (r.status == ReadStatus::end || r.status == ReadStatus::torn) break;
    if (r.status != ReadStatus::ok) return export_error(r);
    if (closed) continue;  // only seals may follow the close (FORMAT.md §3); nothing to send after a FIN
    if (const auto* d = std::get_if<DataRecord>(&record.body)) {
      conversation.data(d->direction, d->wall_us, d->payload);
      end_us = d->wall_us;
    } else if (const auto* e = std::get_if<EventRecord>(&record.body)) {
      end_us = e->wall_us;
      closed = e->kind == EventKind::close;
    }
  }
  conversation.close(end_us);
  return conversation.take();
}

}  // namespace conduit::audit
