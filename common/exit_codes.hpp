// The exit status of every `conduit` verb (and of the programs beside it), so that scripts
// and systemd can tell "it failed" from "you called it wrongly":
//   0  success
//   1  a runtime failure (a file could not be written, the gateway refused, a recording
//      does not verify, ...)
//   2  bad usage or bad configuration: an unknown verb or option, a missing argument, a
//      configuration error (fix the command line or the file, then run it again)
#pragma once

namespace conduit::common {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

}  // namespace conduit::common
