// A libfido2 I/O transport that carries CTAPHID reports over a Unix-domain SOCK_SEQPACKET
// socket instead of /dev/hidraw, so the real libfido2 client code path (CTAPHID framing and
// CTAP2 CBOR, src/io.c) can talk to a software authenticator in CI without hardware.
//
// Wire contract: every datagram on the socket is exactly one 64-byte CTAPHID report, without
// the HID report-id byte. libfido2 hands the write callback report id 0 + 64 bytes; the id is
// stripped. The read callback receives one 64-byte datagram and honours libfido2's timeout in
// milliseconds (-1 = wait forever).
//
// Usage: fido_dev_t* dev = fido_dev_new(); use_unix_transport(dev);
//        fido_dev_open(dev, "unix:/run/user/1000/soft_fido2.sock");
// fido_dev_set_io_functions() marks the device "io_own", which makes libfido2 use 64-byte
// reports and its own CTAPHID framing; the CTAPHID_INIT reply's capabilities (CBOR) decide
// whether the device is FIDO2. Nothing else needs setting. Callbacks are reentrant: each
// opened device owns its socket, so separate devices may be used on separate threads.
#pragma once

#include <string_view>

#include <fido.h>

namespace conduit::mfa {

inline constexpr std::string_view kUnixDevicePrefix = "unix:";

// True if `path` names a socket authenticator ("unix:/path/to.sock").
bool is_unix_device_path(std::string_view path) noexcept;

// Installs the Unix-socket I/O functions on `dev` (before fido_dev_open); returns a
// FIDO_ERR_* / FIDO_OK. fido_dev_open then fails with FIDO_ERR_INTERNAL for a path that
// is not "unix:..." or a socket nobody listens on.
int use_unix_transport(fido_dev_t* dev) noexcept;

}  // namespace conduit::mfa
