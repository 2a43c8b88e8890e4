#include "proxy/gateway/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace conduit::proxy {
namespace {

void check(int rc, const char* step) {
  if (rc != 0) throw std::runtime_error(std::string("cannot drop privileges: ") + step + ": " + std::strerror(errno));
}

}  // namespace

DroppedTo drop_privileges(const std::string& user) {
  errno = 0;
  const passwd* entry = getpwnam(user.c_str());
  if (!entry) throw std::runtime_error("cannot drop privileges: no user named \"" + user + "\"");
  DroppedTo to{entry->pw_uid, entry->pw_gid};
  // Order matters: groups and gid while still root, uid last.
  check(setgroups(0, nullptr), "setgroups");
  check(setresgid(to.gid, to.gid, to.gid), "setresgid");
  check(setresuid(to.uid, to.uid, to.uid), "setresuid");
  check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS");
  if (to.uid != 0 && setuid(0) == 0) throw std::runtime_error("cannot drop privileges: regained root");
  // Core dumps of a process that held the CA-issued server key stay off.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return to;
}

void give_directory_to(const std::filesystem::path& dir, const std::string& user) {
  const passwd* entry = getpwnam(user.c_str());
  if (!entry) throw std::runtime_error("no user named \"" + user + "\"");
  auto give = [&](const std::filesystem::path& path) {
    if (::lchown(path.c_str(), entry->pw_uid, entry->pw_gid) != 0) {
      throw std::runtime_error("cannot hand " + path.string() + " to " + user + ": " + std::strerror(errno));
    }
  };
  give(dir);
  for (const auto& item : std::filesystem::directory_iterator(dir)) give(item.path());
}

}  // namespace conduit::proxy
