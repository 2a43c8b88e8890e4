// common/private_file: keys, certificates, databases and recording directories get exactly
// their mode, never through a symlink, and a failed chmod is an error. Real files in a
// temporary directory; the failing chmod is a real one, by a process that does not own the
// file.
#include "common/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ios>
#include <iterator>
#include <string>

#include <catch2/catch.hpp>

#include "tests/unit/file_mode.hpp"
#include "tests/unit/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using conduit::common::FileStep;
using conduit::test::mode_of;
using conduit::test::ScopedUmask;
namespace common = conduit::common;

struct TempDir : conduit::test::TempDir {
  TempDir() : conduit::test::TempDir("conduit-private-file-test-") {}
};

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_plain(const fs::path& path, const std::string& contents, mode_t mode) {
  { std::ofstream(path, std::ios::binary) << contents; }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

boost::system::error_code errno_code(int err) { return {err, boost::system::generic_category()}; }

// Runs `body` in a child process as the unprivileged user nobody and returns its exit
// status. Root may chmod anything, so this is how a test run as root meets a real EPERM
// from the kernel. The child only calls the code under test and _exits: no Catch there.
int exit_status_as_nobody(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    constexpr uid_t kNobody = 65534;
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(100);
    ::_exit(body());
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

// 0 when `result` failed at set_mode with EPERM, the exit status the tests below expect.
int set_mode_refused(const common::FileResult<void>& result) {
  if (result) return 1;
  if (result.error().step != FileStep::set_mode) return 2;
  return result.error().code == errno_code(EPERM) ? 0 : 3;
}

// A file someone would like us to overwrite or chmod ("victim", 0644), and symlinks to it
// planted where the code under test writes.
struct PlantedLinks {
  TempDir dir;
  fs::path target = dir.path() / "victim";

  PlantedLinks() { write_plain(target, "victim", 0644); }
  fs::path plant(const std::string& name) const {
    fs::create_symlink(target, dir.path() / name);
    return dir.path() / name;
  }
  void check_target_untouched() const {
    CHECK(read_all(target) == "victim");
    CHECK(mode_of(target) == 0644);  // not tightened to 0600 either
  }
};

}  // namespace

TEST_CASE("a new private file has exactly its mode under a permissive and under a strict umask", "[common][private_file]") {
  TempDir dir;
  // 0277 would narrow 0600 to 0400; 0 would widen nothing but must not leave 0666 either.
  for (const mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}, mode_t{0277}}) {
    for (const mode_t mode : {mode_t{0600}, mode_t{0644}}) {
      INFO("umask " << std::oct << mask << ", mode " << mode);
      const ScopedUmask umask(mask);
      const std::string name = std::to_string(mask) + "-" + std::to_string(mode);

      const fs::path created = dir.path() / ("new-" + name);
      REQUIRE(common::write_new_file(created, "secret", mode));
      CHECK(mode_of(created) == mode);
      CHECK(read_all(created) == "secret");

      const fs::path replaced = dir.path() / ("replaced-" + name);
      REQUIRE(common::replace_file(replaced, "secret", mode));
      CHECK(mode_of(replaced) == mode);

      const fs::path database = dir.path() / ("db-" + name);
      REQUIRE(common::open_or_create_private_file(database, mode));
      CHECK(mode_of(database) == mode);
      CHECK(fs::file_size(database) == 0);

      const auto descriptor = common::create_new_file(dir.path() / ("fd-" + name), mode, O_APPEND);
      REQUIRE(descriptor);
      CHECK((::fcntl(*descriptor, F_GETFL) & O_APPEND) != 0);
      CHECK((::fcntl(*descriptor, F_GETFD) & FD_CLOEXEC) != 0);
      ::close(*descriptor);
      CHECK(mode_of(dir.path() / ("fd-" + name)) == mode);
    }
  }
}

TEST_CASE("creating a private file refuses a file that is already there and leaves it as it was", "[common][private_file]") {
  TempDir dir;
  const fs::path path = dir.path() / "audit.key";
  write_plain(path, "keep me", 0644);
  const auto written = common::write_new_file(path, "new", 0600);
  REQUIRE_FALSE(written);
  CHECK(written.error().step == FileStep::create);
  CHECK(written.error().code == errno_code(EEXIST));
  CHECK(written.error().path == path);
  CHECK(written.error().message() == "cannot create " + path.string() + ": File exists");
  CHECK(read_all(path) == "keep me");
  CHECK(mode_of(path) == 0644);
}

TEST_CASE("creating a private file refuses a symlink planted at its path and does not touch the target", "[common][private_file]") {
  const PlantedLinks links;
  const fs::path path = links.plant("device.key");

  SECTION("a new file") {
    const auto written = common::write_new_file(path, "attacker's wish", 0600);
    REQUIRE_FALSE(written);
    CHECK(written.error().step == FileStep::create);
    CHECK(written.error().code == errno_code(EEXIST));
  }
  SECTION("a database file") {
    const auto opened = common::open_or_create_private_file(path, 0600);
    REQUIRE_FALSE(opened);
    CHECK(opened.error().step == FileStep::open);
    CHECK(opened.error().code == errno_code(ELOOP));
  }
  CHECK(fs::is_symlink(path));
  links.check_target_untouched();
}

TEST_CASE("a dangling symlink at a new file's path is refused and its target never created", "[common][private_file]") {
  TempDir dir;
  const fs::path target = dir.path() / "would-be-created";
  const fs::path path = dir.path() / "ca.key";
  fs::create_symlink(target, path);
  CHECK_FALSE(common::write_new_file(path, "key", 0600));
  CHECK_FALSE(common::open_or_create_private_file(path, 0600));
  CHECK_FALSE(fs::exists(target));
}

TEST_CASE("an atomic replace leaves the new content with the asked-for mode and no temporary file", "[common][private_file]") {
  TempDir dir;
  const fs::path path = dir.path() / "client.key";
  write_plain(path, "old", 0644);
  REQUIRE(common::replace_file(path, "new", 0600));
  CHECK(read_all(path) == "new");
  CHECK(mode_of(path) == 0600);
  CHECK_FALSE(fs::exists(fs::symlink_status(dir.path() / "client.key.tmp")));
}

TEST_CASE("a replace that cannot write its temporary file leaves the old file as it was", "[common][private_file]") {
  TempDir dir;
  const fs::path path = dir.path() / "client.crt";
  write_plain(path, "old", 0644);
  // A non-empty directory where the temporary file goes: it cannot be removed or created.
  const fs::path temporary = dir.path() / "client.crt.tmp";
  fs::create_directory(temporary);
  write_plain(temporary / "inside", "", 0600);

  const auto replaced = common::replace_file(path, "new", 0600);
  REQUIRE_FALSE(replaced);
  CHECK(replaced.error().step == FileStep::create);
  CHECK(replaced.error().path == temporary);
  CHECK(read_all(path) == "old");
  CHECK(mode_of(path) == 0644);
}

TEST_CASE("a replace removes a symlink planted at its temporary path without following it", "[common][private_file]") {
  const PlantedLinks links;
  links.plant("client.key.tmp");
  const fs::path path = links.dir.path() / "client.key";
  REQUIRE(common::replace_file(path, "new", 0600));
  CHECK(read_all(path) == "new");
  links.check_target_untouched();
}

TEST_CASE("a replace over a symlink replaces the link, not its target", "[common][private_file]") {
  const PlantedLinks links;
  const fs::path path = links.plant("client.crt");
  REQUIRE(common::replace_file(path, "new", 0600));
  CHECK_FALSE(fs::is_symlink(path));
  CHECK(read_all(path) == "new");
  CHECK(mode_of(path) == 0600);
  links.check_target_untouched();
}

TEST_CASE("open_or_create tightens an existing file and keeps its content", "[common][private_file]") {
  TempDir dir;
  const fs::path path = dir.path() / "index.db";
  write_plain(path, "rows", 0644);
  REQUIRE(common::open_or_create_private_file(path, 0600));
  CHECK(mode_of(path) == 0600);
  CHECK(read_all(path) == "rows");
}

TEST_CASE("open_or_create refuses a directory and a FIFO where the file should be", "[common][private_file]") {
  TempDir dir;
  const fs::path directory = dir.path() / "credentials.db";
  fs::create_directory(directory);
  const auto on_directory = common::open_or_create_private_file(directory, 0600);
  REQUIRE_FALSE(on_directory);
  CHECK(on_directory.error().step == FileStep::open);

  const fs::path fifo = dir.path() / "index.db";
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  const auto on_fifo = common::open_or_create_private_file(fifo, 0600);
  REQUIRE_FALSE(on_fifo);
  CHECK(on_fifo.error().step == FileStep::open);
  CHECK(on_fifo.error().code == errno_code(EINVAL));
  CHECK(mode_of(fifo) == 0644);
}

TEST_CASE("make_private_directory leaves a new directory and an existing one at exactly 0700", "[common][private_file]") {
  TempDir dir;
  // 077 narrows nothing of 0700; 0 would leave 0777 if the mode were not set.
  for (const mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    INFO("umask " << std::oct << mask);
    const ScopedUmask umask(mask);
    const fs::path nested = dir.path() / std::to_string(mask) / "recordings";
    REQUIRE(common::make_private_directory(nested));
    CHECK(mode_of(nested) == 0700);
  }

  const fs::path existing = dir.path() / "audit";
  fs::create_directory(existing);
  REQUIRE(::chmod(existing.c_str(), 0755) == 0);
  REQUIRE(common::make_private_directory(existing));
  CHECK(mode_of(existing) == 0700);
  REQUIRE(common::make_private_directory(existing));  // again: nothing to do

  const fs::path trailing = dir.path() / "trailing";
  REQUIRE(common::make_private_directory(trailing.string() + "/"));
  CHECK(mode_of(trailing) == 0700);
}

TEST_CASE("make_private_directory reports a file where the directory or a parent should be", "[common][private_file]") {
  TempDir dir;
  const fs::path file = dir.path() / "audit";
  write_plain(file, "not a directory", 0600);

  const auto made = common::make_private_directory(file);
  REQUIRE_FALSE(made);
  CHECK(made.error().step == FileStep::create);
  CHECK(made.error().code == errno_code(ENOTDIR));
  CHECK(made.error().message() == "cannot create " + file.string() + ": Not a directory");

  const auto below = common::make_private_directory(file / "recordings");
  REQUIRE_FALSE(below);
  CHECK(below.error().step == FileStep::create);
  CHECK(read_all(file) == "not a directory");
}

TEST_CASE("a chmod that fails is reported as an error, not ignored", "[common][private_file]") {
  if (::geteuid() != 0) {
    // Not root: "/" belongs to root and is not 0700, so setting its mode fails with EPERM.
    REQUIRE(::geteuid() != 0);
    CHECK(set_mode_refused(common::make_private_directory("/")) == 0);
    return;
  }
  // Root: files made here by root, changed by a process running as nobody, which may read
  // and write them but, not owning them, may not change their mode.
  TempDir dir;
  REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
  const fs::path directory = dir.path() / "recordings";
  fs::create_directory(directory);
  REQUIRE(::chmod(directory.c_str(), 0755) == 0);
  const fs::path database = dir.path() / "index.db";
  write_plain(database, "rows", 0666);

  SECTION("make_private_directory on a directory it does not own") {
    CHECK(exit_status_as_nobody([&] { return set_mode_refused(common::make_private_directory(directory)); }) == 0);
    CHECK(mode_of(directory) == 0755);
  }
  SECTION("open_or_create on a file it does not own") {
    CHECK(exit_status_as_nobody([&] { return set_mode_refused(common::open_or_create_private_file(database, 0600)); }) ==
          0);
    CHECK(mode_of(database) == 0666);
    CHECK(read_all(database) == "rows");
  }
}

TEST_CASE("a file error names its step and path in one sentence", "[common][private_file]") {
  const common::FileError error{errno_code(EACCES), FileStep::set_mode, "/var/lib/conduit/pki/ca.key"};
  CHECK(error.message() == "cannot set the mode of /var/lib/conduit/pki/ca.key: Permission denied");
  CHECK(std::string(common::describe(FileStep::sync_directory)) == "sync the directory");
}
