// pcap export (audit/export_pcap.hpp): the file is parsed back here independently of the
// exporter — global header, packet count, Ethernet/IP/TCP fields, sequence and
// acknowledgement numbers per direction, checksums recomputed, timestamps from wall_us.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "audit/export_pcap.hpp"
#include "session_fixtures.hpp"

namespace {

using namespace conduit::audit;
using namespace conduit::audit::test;

std::uint32_t le32(const Bytes& b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<std::uint32_t>(b[at + 3]) << 24);
}
std::uint16_t le16(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>(b[at] | b[at + 1] << 8); }
std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t be32(const std::uint8_t* p) { return static_cast<std::uint32_t>(be16(p)) << 16 | be16(p + 2); }

// One's-complement sum (RFC 1071) over 16-bit big-endian words.
std::uint32_t ones_sum(std::uint32_t sum, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i + 1 < n; i += 2) sum += be16(p + i);
  if (n % 2 == 1) sum += static_cast<std::uint32_t>(p[n - 1] << 8);
  return sum;
}
std::uint16_t folded(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

struct Packet {
  std::uint64_t wall_us = 0;
  bool v6 = false;
  std::vector<std::uint8_t> src_ip, dst_ip;
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0;
  Bytes payload;
  bool ip_checksum_ok = true;
  bool tcp_checksum_ok = false;
};

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kPsh = 0x08, kAck = 0x10;

// Parses the pcap global header (checked) and every Ethernet/IP/TCP packet.
std::vector<Packet> parse_pcap(const Bytes& file) {
  REQUIRE(file.size() >= 24);
  CHECK(le32(file, 0) == 0xA1B2C3D4);
  CHECK(le16(file, 4) == 2);
  CHECK(le16(file, 6) == 4);
  CHECK(le32(file, 8) == 0);
  CHECK(le32(file, 12) == 0);
  CHECK(le32(file, 16) == 262144);
  CHECK(le32(file, 20) == 1);  // LINKTYPE_ETHERNET
  std::vector<Packet> packets;
  std::size_t at = 24;
  while (at < file.size()) {
    REQUIRE(file.size() - at >= 16);
    Packet p;
    p.wall_us = std::uint64_t{le32(file, at)} * 1'000'000 + le32(file, at + 4);
    const std::uint32_t incl = le32(file, at + 8);
    REQUIRE(le32(file, at + 12) == incl);
    REQUIRE(file.size() - at - 16 >= incl);
    const std::uint8_t* eth = file.data() + at + 16;
    at += 16 + incl;

    CHECK(eth[0] == 0x02);  // locally administered MACs
    CHECK(eth[6] == 0x02);
    const std::uint16_t ethertype = be16(eth + 12);
    REQUIRE((ethertype == 0x0800 || ethertype == 0x86DD));
    p.v6 = ethertype == 0x86DD;
    const std::uint8_t* ip = eth + 14;
    std::size_t ip_header = 0;
    std::size_t tcp_length = 0;
    std::uint32_t pseudo = 0;
    if (p.v6) {
      REQUIRE(ip[0] >> 4 == 6);
      REQUIRE(ip[6] == 6);
      ip_header = 40;
      tcp_length = be16(ip + 4);
      p.src_ip.assign(ip + 8, ip + 24);
      p.dst_ip.assign(ip + 24, ip + 40);
      pseudo = ones_sum(0, ip + 8, 32) + static_cast<std::uint32_t>(tcp_length) + 6;
    } else {
      REQUIRE(ip[0] == 0x45);
      REQUIRE(ip[9] == 6);
      ip_header = 20;
      tcp_length = be16(ip + 2) - 20u;
      p.ip_checksum_ok = folded(ones_sum(0, ip, 20)) == 0xFFFF;
      p.src_ip.assign(ip + 12, ip + 16);
      p.dst_ip.assign(ip + 16, ip + 20);
      pseudo = ones_sum(0, ip + 12, 8) + static_cast<std::uint32_t>(tcp_length) + 6;
    }
    REQUIRE(14 + ip_header + tcp_length == incl);
    const std::uint8_t* tcp = ip + ip_header;
    p.tcp_checksum_ok = folded(ones_sum(pseudo, tcp, tcp_length)) == 0xFFFF;
    p.src_port = be16(tcp);
    p.dst_port = be16(tcp + 2);
    p.seq = be32(tcp + 4);
    p.ack = be32(tcp + 8);
    const std::size_t data_offset = static_cast<std::size_t>(tcp[12] >> 4) * 4;
    p.flags = tcp[13];
    p.payload.assign(tcp + data_offset, tcp + tcp_length);
    packets.push_back(std::move(p));
  }
  return packets;
}

// Checks the TCP conversation: handshake first, FIN exchange last, checksums valid,
// sequence numbers continuous per direction, every ACK acknowledging all the peer sent.
void check_conversation(const std::vector<Packet>& packets) {
  REQUIRE(packets.size() >= 6);
  CHECK(packets[0].flags == kSyn);
  CHECK(packets[1].flags == (kSyn | kAck));
  CHECK(packets[2].flags == kAck);
  const std::size_t n = packets.size();
  CHECK(packets[n - 3].flags == (kFin | kAck));
  CHECK(packets[n - 2].flags == (kFin | kAck));
  CHECK(packets[n - 1].flags == kAck);

  const std::uint16_t client_port = packets[0].src_port;
  std::uint32_t next[2] = {packets[0].seq, packets[1].seq};  // [0] client, [1] asset
  for (std::size_t i = 0; i < n; ++i) {
    const Packet& p = packets[i];
    INFO("packet " << i);
    CHECK(p.ip_checksum_ok);
    CHECK(p.tcp_checksum_ok);
    const int from = p.src_port == client_port ? 0 : 1;
    CHECK(p.seq == next[from]);
    if (p.flags & kAck) CHECK(p.ack == next[1 - from]);
    next[from] += static_cast<std::uint32_t>(p.payload.size()) + ((p.flags & (kSyn | kFin)) ? 1u : 0u);
    CHECK(p.payload.size() <= (p.v6 ? 1440u : 1460u));
  }
}

Bytes data_of(const std::vector<Packet>& packets, std::uint16_t src_port) {
  Bytes out;
  for (const Packet& p : packets) {
    if (p.src_port == src_port) out.insert(out.end(), p.payload.begin(), p.payload.end());
  }
  return out;
}

Bytes concat(std::initializer_list<const Bytes*> parts) {
  std::size_t size = 0;
  for (const Bytes* b : parts) size += b->size();
  Bytes out(size);
  std::size_t at = 0;
  for (const Bytes* b : parts) {
    std::copy(b->begin(), b->end(), out.begin() + static_cast<std::ptrdiff_t>(at));
    at += b->size();
  }
  return out;
}

}  // namespace

TEST_CASE("a modbus session exports as a handshake, one segment per ADU and a FIN exchange", "[audit][export]") {
  const ModbusSession s = modbus_session();
  const auto pcap = export_pcap(s.bytes);
  REQUIRE(pcap.has_value());
  const std::vector<Packet> packets = parse_pcap(*pcap);
  REQUIRE(packets.size() == 3 + 6 + 3);
  check_conversation(packets);

  const Packet& syn = packets[0];
  CHECK_FALSE(syn.v6);
  CHECK(syn.src_ip == std::vector<std::uint8_t>{10, 20, 0, 7});
  CHECK(syn.dst_ip == std::vector<std::uint8_t>{10, 30, 0, 5});
  CHECK(syn.src_port == 50312);
  CHECK(syn.dst_port == 502);

  // Data in record order, each stamped with its record's wall time, PSH on each ADU.
  const std::vector<std::pair<std::uint64_t, const Bytes*>> want = {
      {0, &kReadRequest},          {2'000, &kReadResponse}, {1'234'000, &kWriteRequest},
      {1'236'000, &kWriteEcho}, {2'001'000, &kDeniedWrite}, {2'003'000, &kException}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    const Packet& p = packets[3 + i];
    INFO("data packet " << i);
    CHECK(p.wall_us == kStartWallUs + want[i].first);
    CHECK(p.payload == *want[i].second);
    CHECK(p.flags == (kPsh | kAck));
    CHECK(p.src_port == (i % 2 == 0 ? 50312 : 502));
  }
  CHECK(packets[0].wall_us == kStartWallUs - 500'000);  // the header's start time
  CHECK(packets[2].wall_us == kStartWallUs - 500'000);
  for (std::size_t i = packets.size() - 3; i < packets.size(); ++i) CHECK(packets[i].wall_us == s.close_wall_us);
}

TEST_CASE("a payload larger than one segment is split into segments of at most 1460 bytes", "[audit][export]") {
  const TcpSession s = tcp_session();
  const std::vector<Packet> packets = parse_pcap(export_pcap(s.bytes).value());
  REQUIRE(packets.size() == 3 + 3 + 1 + 3);
  check_conversation(packets);
  CHECK(packets[3].payload.size() == 1460);
  CHECK(packets[4].payload.size() == 1460);
  CHECK(packets[5].payload.size() == 80);
  CHECK(packets[3].flags == kAck);
  CHECK(packets[4].flags == kAck);
  CHECK(packets[5].flags == (kPsh | kAck));
  CHECK(data_of(packets, 40000) == s.upload);
  CHECK(data_of(packets, 8080) == s.response);
  CHECK(packets[9].wall_us == kStartWallUs + 900'000);  // the close event
}

TEST_CASE("IPv6 addresses produce IPv6 packets with 1440-byte segments", "[audit][export]") {
  const TcpSession s = tcp_session("[fd00:7::10]:40000", "[fd00:3::5]:8080");
  const std::vector<Packet> packets = parse_pcap(export_pcap(s.bytes).value());
  REQUIRE(packets.size() == 3 + 3 + 1 + 3);
  check_conversation(packets);
  for (const Packet& p : packets) CHECK(p.v6);
  const std::vector<std::uint8_t> client = {0xfd, 0x00, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10};
  CHECK(packets[0].src_ip == client);
  CHECK(packets[3].payload.size() == 1440);
  CHECK(packets[5].payload.size() == 3000 - 2 * 1440);
  CHECK(data_of(packets, 40000) == s.upload);
}

TEST_CASE("an IPv6 client of an IPv4 asset is exported as IPv4-mapped IPv6", "[audit][export]") {
  const ModbusSession s = modbus_session("[2001:db8::7]:50312", "10.30.0.5:502");
  const std::vector<Packet> packets = parse_pcap(export_pcap(s.bytes).value());
  check_conversation(packets);
  const std::vector<std::uint8_t> mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 30, 0, 5};
  CHECK(packets[0].v6);
  CHECK(packets[0].dst_ip == mapped);
}

TEST_CASE("missing or unparsable addresses become the 127.0.0.1:1 and 127.0.0.2:502 placeholders",
          "[audit][export]") {
  for (const auto& [client, asset] : std::vector<std::pair<std::string, std::string>>{
           {"", ""}, {"not an address", "10.0.0.1"}, {"10.0.0.1:0", "[::1]"}, {"1.2.3.4:70000", "host:502"}}) {
    INFO(client << " / " << asset);
    const ModbusSession s = modbus_session(client, asset);
    const std::vector<Packet> packets = parse_pcap(export_pcap(s.bytes).value());
    check_conversation(packets);
    CHECK(packets[0].src_ip == std::vector<std::uint8_t>{127, 0, 0, 1});
    CHECK(packets[0].src_port == 1);
    CHECK(packets[0].dst_ip == std::vector<std::uint8_t>{127, 0, 0, 2});
    CHECK(packets[0].dst_port == 502);
  }
}

TEST_CASE("a torn tail exports the records before it and closes at the last one", "[audit][export]") {
  const ModbusSession s = modbus_session();
  const std::vector<Record> records = records_of(s.bytes);
  const Record& denied = records[5];
  const Bytes torn(s.bytes.begin(), s.bytes.begin() + static_cast<std::ptrdiff_t>(denied.offset + 10));
  const std::vector<Packet> packets = parse_pcap(export_pcap(torn).value());
  REQUIRE(packets.size() == 3 + 4 + 3);
  check_conversation(packets);
  CHECK(packets.back().wall_us == kStartWallUs + 1'236'000);  // the write echo, record 4
  CHECK(data_of(packets, 50312) == concat({&kReadRequest, &kWriteRequest}));
}

TEST_CASE("a recording that does not read is an error naming the record, not a partial capture",
          "[audit][export]") {
  const ModbusSession s = modbus_session();
  const std::vector<Record> records = records_of(s.bytes);

  Bytes flipped = s.bytes;
  flipped[records[2].offset + 20] ^= 0x01;
  const auto bad = export_pcap(flipped);
  REQUIRE(bad.has_error());
  CHECK(bad.error().status == ReadStatus::malformed);
  CHECK(bad.error().record_index == 2);
  CHECK(bad.error().offset == records[2].offset);
  CHECK(bad.error().message.find("CRC") != std::string::npos);
  CHECK_THROWS_WITH(bad.value(), Catch::Contains("record 2"));

  // After the close event nothing is exported, but a bad record there still fails.
  Bytes bad_after_close = s.bytes;
  const Record& last_seal = records[10];
  bad_after_close.resize(s.bytes.size() + last_seal.frame.size());
  std::copy(last_seal.frame.begin(), last_seal.frame.end(), bad_after_close.begin() + static_cast<std::ptrdiff_t>(s.bytes.size()));
  bad_after_close[last_seal.offset + 10] ^= 0x01;
  CHECK(export_pcap(bad_after_close).error().record_index == 10);

  Bytes version2 = s.bytes;
  version2[8] = 2;
  CHECK(export_pcap(version2).error().status == ReadStatus::unsupported_version);
  const Bytes text = {'h', 'e', 'l', 'l', 'o', '\n'};
  CHECK(export_pcap(text).error().status == ReadStatus::malformed);
  const Bytes preamble_only(s.bytes.begin(), s.bytes.begin() + kPreambleSize);
  CHECK(export_pcap(preamble_only).error().status == ReadStatus::torn);
}

TEST_CASE("the same recording always exports to the same bytes", "[audit][export]") {
  const ModbusSession s = modbus_session();
  CHECK(export_pcap(s.bytes).value() == export_pcap(s.bytes).value());
}

TEST_CASE("a long one-way burst gets an ACK from the receiver after every MiB", "[audit][export]") {
  auto w = RecordingWriter::start(session_header("tcp", "192.0.2.10:40000", "198.51.100.5:8080")).value();
  const Bytes chunk(kMaxPayload, 0x5A);
  for (int i = 0; i < 40; ++i) {  // 2.5 MiB from the asset, nothing back
    REQUIRE(w.append_data(data_at(static_cast<std::uint64_t>(i) * 1000, Direction::asset_to_client,
                                  RecordedDecision::none, "", "", chunk)));
  }
  Bytes bytes;
  w.drain_into(bytes);
  const std::vector<Packet> packets = parse_pcap(export_pcap(bytes).value());
  check_conversation(packets);
  std::size_t pure_acks = 0;
  for (std::size_t i = 3; i + 3 < packets.size(); ++i) {
    if (packets[i].payload.empty() && packets[i].flags == kAck) ++pure_acks;
  }
  CHECK(pure_acks == 2);  // after 1 MiB (16 records) and 2 MiB (32 records)
  CHECK(data_of(packets, 8080).size() == 40 * kMaxPayload);
}
