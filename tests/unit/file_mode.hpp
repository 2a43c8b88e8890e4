// The permission bits of a file the code under test wrote, for tests that pin them (0600 keys
// and databases). lstat, so a symlink planted at the path shows as itself, not its target.
// ScopedUmask sets the process umask for one test (tests run on one thread).
#pragma once

#include <sys/stat.h>

#include <filesystem>

#include <catch2/catch.hpp>

namespace conduit::test {

inline mode_t mode_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

// Sets the process umask for one test and puts the old one back.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;
  ~ScopedUmask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

}  // namespace conduit::test
