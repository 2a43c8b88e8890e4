// Session recording → classic libpcap file, for Wireshark, tshark, Zeek and Suricata
// (reference: protocols.md §7, approach A; FORMAT.md for the input).
//
// The recording holds what crossed the gateway, not packets, so the capture is
// synthesized: one TCP conversation between the header's client_address and
// asset_address over Ethernet (fixed locally administered MACs 02:00:00:00:00:01 for the
// client, :02 for the asset) and IPv4 or IPv6 as the addresses are written:
//  - a three-way handshake at the header's start_wall_us;
//  - each data record's payload as TCP segments of at most 1460 bytes (1440 over IPv6,
//    the MSS that fits a 1500-byte MTU), stamped with the record's wall_us, PSH on the
//    last one, sequence and acknowledgement numbers continuous per direction, IPv4 and
//    TCP checksums correct;
//  - a FIN/ACK exchange (client FIN, asset FIN, client ACK) at the close event, or at the
//    last data or event record when there is none (a torn or unclosed recording).
// Events, seals and empty payloads make no packets; records after the close event are
// not exported. The SYNs carry MSS and window scale (7) options so that a one-way burst
// of many records does not read as "window full"; after every 1 MiB that one side sends
// without hearing from the other, the receiver sends a pure ACK.
//
// What the capture is not:
//  - the gateway terminates the client's connection and opens its own to the asset, so
//    the capture shows what the client sent and what the client received. A denied
//    request appears (it never reached the asset) and the exception after it came from
//    the gateway. Timestamps, sequence numbers and MACs are synthesized.
//  - missing or unparsable addresses become the placeholders 127.0.0.1:1 (client) and
//    127.0.0.2:502 (asset); when one address is IPv6 and the other IPv4, the IPv4 one is
//    written as IPv4-mapped IPv6 (::ffff:a.b.c.d), since one conversation has one family.
//
// Modbus: Wireshark tells queries from responses by the Modbus/TCP port, 502 by default.
// For another asset port N, `-o mbtcp.tcp.port:N` (with `-d tcp.port==N,mbtcp` alone,
// tshark 4.0 decodes the ADUs but reports "Unable to classify as query or response").
//
// Pure function, thread-safe; the output holds the whole capture in memory (about the
// recording's size plus 70 bytes per segment).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "audit/export_error.hpp"

namespace conduit::audit {

inline constexpr std::uint32_t kPcapMagicMicroseconds = 0xA1B2C3D4;
inline constexpr std::uint32_t kPcapSnaplen = 262144;
inline constexpr std::uint32_t kLinktypeEthernet = 1;
inline constexpr std::size_t kPcapMaxSegmentIpv4 = 1460;
inline constexpr std::size_t kPcapMaxSegmentIpv6 = 1440;
inline constexpr std::string_view kPcapPlaceholderClient = "127.0.0.1:1";
inline constexpr std::string_view kPcapPlaceholderAsset = "127.0.0.2:502";

// Errors: the recording does not read (bad magic, unsupported version, malformed record,
// or no complete header). A torn tail exports the records before it.
ExportResult<std::vector<std::uint8_t>> export_pcap(std::span<const std::uint8_t> recording);

}  // namespace conduit::audit
