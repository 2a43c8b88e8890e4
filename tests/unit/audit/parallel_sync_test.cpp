#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <vector>

#include "audit/parallel_sync.hpp"
#include "tests/unit/temp_dir.hpp"

using conduit::audit::ParallelSync;

TEST_CASE("parallel sync reports each file's result at its own index", "[audit]") {
  conduit::test::TempDir dir;
  std::vector<int> fds;
  for (int i = 0; i < 20; ++i) {
    int fd = ::open((dir.path() / std::to_string(i)).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "x", 1) == 1);
    fds.push_back(fd);
  }
  fds[7] = -1;  // not a descriptor: fdatasync fails with EBADF
  ParallelSync syncer(4);
  for (int round = 0; round < 3; ++round) {
    std::vector<int> errors(fds.size(), -1);
    syncer.sync(fds, errors);
    for (std::size_t i = 0; i < fds.size(); ++i) CHECK(errors[i] == (i == 7 ? EBADF : 0));
  }
  std::vector<int> one_error(1, -1);
  syncer.sync(std::vector<int>{fds[0]}, one_error);  // one file: on the calling thread
  CHECK(one_error[0] == 0);
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
}
