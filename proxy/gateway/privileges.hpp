// Dropping root after the listeners are bound. Throws std::runtime_error if the user does
// not exist or any step fails; the gateway must not go on running as root by accident.
#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>

namespace conduit::proxy {

struct DroppedTo {
  uid_t uid;
  gid_t gid;
};

DroppedTo drop_privileges(const std::string& user);

// Before dropping: hands `dir` and what is in it to `user`, for a directory the gateway
// keeps creating files in afterwards (session recordings). Throws std::runtime_error.
void give_directory_to(const std::filesystem::path& dir, const std::string& user);

}  // namespace conduit::proxy
