// The admin verbs of `conduit` (README "For the plant admin"): users, devices and keys in
// the credential store (run on the gateway host, as root or the gateway's user), and
// revoke / lockdown, which talk to the running gateway over its admin socket so that they
// take effect at once. Each returns the process exit status (0 ok, 1 failed, 2 usage) and
// prints one line on stderr when something is wrong.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "mfa/fido_client.hpp"

namespace conduit::proxy {

struct AdminOptions {
  std::filesystem::path data_dir;     // credential store and site CA
  std::filesystem::path config_file;  // key enroll: the auth section (rp_id, AAGUIDs)
  std::filesystem::path socket;       // empty: <data_dir>/admin.sock
  std::string name;                   // user, device or key id
  std::vector<std::string> roles;
  std::vector<std::string> users;     // device enroll: users bound to the device
  std::filesystem::path csr;
  std::filesystem::path out;
  int days = 0;
  int hours = 24;
  mfa::KeyOptions key;
  std::string kind;                   // revoke: user, key, device, certificate
  std::string reason;
  std::string role;                   // lockdown
  std::string asset;                  // lockdown
  bool json = false;                  // stats
};

int user_add(const AdminOptions& options);
int user_list(const AdminOptions& options);
int device_request(const AdminOptions& options);  // on the device: key + CSR
int device_enroll(const AdminOptions& options);   // on the gateway: sign the CSR, record the device
int key_enroll(const AdminOptions& options);      // on the gateway, with the key plugged in there
int key_code(const AdminOptions& options);        // a one-time code for `conduit login --enroll`
int key_list(const AdminOptions& options);
int revoke(const AdminOptions& options);
int lockdown(const AdminOptions& options);
int lockdown_lift(const AdminOptions& options);
int admin_status(const AdminOptions& options);
int admin_stats(const AdminOptions& options);  // counters, sorted by name; --json: the object

}  // namespace conduit::proxy
