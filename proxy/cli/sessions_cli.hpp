// The security team's verbs (README "For the security team"): `conduit sessions list |
// show | hold`, `conduit replay`, `conduit export`, `conduit verify`. They read the
// session index and the recordings under <data_dir>/recordings, and need only the audit
// key's public half (<data_dir>/audit/audit.pub), so they also work on a copy of the data
// directory on another machine. Each returns the process exit status: 0 ok, 1 failed (for
// verify: a recording did not verify), 2 usage.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace conduit::proxy {

struct SessionsOptions {
  std::filesystem::path data_dir;
  std::string id;
  // list filters
  std::string user, device, asset, since, until;  // times: "2026-11-22", "2026-11-22T10:00[:00]" (UTC)
  bool had_denials = false, had_writes = false, open_only = false, json = false;
  std::size_t limit = 100;
  // hold
  bool release = false;
  // replay
  bool follow = false;
  double speed = 0;  // 0: print at once; otherwise paced, 2 = twice as fast
  bool show_seals = false;
  // export
  std::string format;             // pcap | jsonl
  std::filesystem::path out;      // default: <id>.pcap / <id>.jsonl
  bool force = false;             // replace an existing file
  // verify
  bool all = false;
};

int sessions_list(const SessionsOptions& options);
int sessions_show(const SessionsOptions& options);
int sessions_hold(const SessionsOptions& options);
int replay(const SessionsOptions& options);
int export_session(const SessionsOptions& options);
int verify(const SessionsOptions& options);

}  // namespace conduit::proxy
