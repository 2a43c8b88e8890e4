#include "common/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ostream>
#include <system_error>
#include <utility>

namespace conduit::common {
namespace {

namespace fs = std::filesystem;

FileError error_of(int err, FileStep step, const fs::path& path) {
  return {boost::system::error_code(err, boost::system::generic_category()), step, path};
}

// close() that reports a real failure (on NFS and some others, a write error only shows
// up here) but not EINTR: on Linux the descriptor is closed anyway, and retrying could
// close one another thread just opened.
int close_fd(int fd) noexcept {
  if (::close(fd) == 0 || errno == EINTR) return 0;
  return errno;
}

// Checks the mode on the descriptor and sets it when it differs: the umask may have
// narrowed it at creation (or, for a certificate, made it unreadable to the services that
// need it), and an existing file may be wider. A file that already has the mode is left
// alone, so that a file owned by another user but already right is no error.
FileResult<void> ensure_mode(int fd, mode_t mode, const fs::path& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return error_of(errno, FileStep::stat, path);
  if ((info.st_mode & 07777) != mode && ::fchmod(fd, mode) != 0) return error_of(errno, FileStep::set_mode, path);
  return {};
}

bool write_all(int fd, std::string_view contents) noexcept {
  while (!contents.empty()) {
    const ssize_t written = ::write(fd, contents.data(), contents.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    contents.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

fs::path directory_of(const fs::path& path) {
  fs::path dir = path.parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

}  // namespace

const char* describe(FileStep step) noexcept {
  switch (step) {
    case FileStep::create: return "create";
    case FileStep::open: return "open";
    case FileStep::stat: return "stat";
    case FileStep::set_mode: return "set the mode of";
    case FileStep::write: return "write";
    case FileStep::sync: return "sync";
    case FileStep::close: return "close";
    case FileStep::rename: return "rename";
    case FileStep::sync_directory: return "sync the directory";
  }
  return "use";
}

std::string FileError::message() const {
  return std::string("cannot ") + describe(step) + " " + path.string() + ": " + code.message();
}

std::ostream& operator<<(std::ostream& out, const FileError& error) { return out << error.message(); }

void throw_exception_from_error(const FileError& error, const boost::source_location&) {
  throw std::system_error(std::error_code(error.code.value(), std::generic_category()), error.message());
}

FileResult<int> create_new_file(const fs::path& path, mode_t mode, int extra_flags) {
  // O_EXCL with O_CREAT fails on any existing entry, a symlink included (dangling or not);
  // O_NOFOLLOW says so once more for readers of this line.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | extra_flags, mode);
  if (fd < 0) return error_of(errno, FileStep::create, path);
  if (auto moded = ensure_mode(fd, mode, path); !moded) {
    ::close(fd);
    ::unlink(path.c_str());
    return moded.error();
  }
  return fd;
}

FileResult<void> write_new_file(const fs::path& path, std::string_view contents, mode_t mode) {
  auto created = create_new_file(path, mode);
  if (!created) return created.error();
  const int fd = *created;
  const auto fail = [&](FileStep step, int err, bool close) {
    if (close) ::close(fd);
    ::unlink(path.c_str());
    return error_of(err, step, path);
  };
  if (!write_all(fd, contents)) return fail(FileStep::write, errno, true);
  if (::fsync(fd) != 0) return fail(FileStep::sync, errno, true);
  if (const int err = close_fd(fd); err != 0) return fail(FileStep::close, err, false);
  return {};
}

FileResult<void> replace_file(const fs::path& path, std::string_view contents, mode_t mode) {
  fs::path temporary = path;
  temporary += ".tmp";
  // A crash may have left one behind; unlink removes a symlink itself, never its target.
  // Whatever cannot be removed makes the create below fail (EEXIST).
  ::unlink(temporary.c_str());
  if (auto written = write_new_file(temporary, contents, mode); !written) return written;
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temporary.c_str());
    return error_of(err, FileStep::rename, path);
  }
  return sync_directory(directory_of(path));
}

FileResult<void> open_or_create_private_file(const fs::path& path, mode_t mode) {
  // Without O_EXCL: an existing regular file is the normal case.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return error_of(errno, FileStep::open, path);
  struct stat info {};
  FileResult<void> result;
  if (::fstat(fd, &info) != 0) {
    result = error_of(errno, FileStep::stat, path);
  } else if (!S_ISREG(info.st_mode)) {
    result = error_of(EINVAL, FileStep::open, path);
  } else {
    result = ensure_mode(fd, mode, path);
  }
  // Nothing was written through this descriptor: its close has nothing to report.
  ::close(fd);
  return result;
}

FileResult<void> make_private_directory(const fs::path& path) {
  constexpr mode_t kMode = 0700;
  // "a/b/" names the directory "a/b": create that one 0700, not its parent.
  const fs::path dir = path.has_filename() || !path.has_parent_path() ? path : path.parent_path();
  const fs::path parent = dir.parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return error_of(ec.value(), FileStep::create, parent);
  }
  // Created 0700 (the umask can only narrow that, and is corrected below), so a new
  // directory is never wider than asked for, not even for a moment.
  if (::mkdir(dir.c_str(), kMode) != 0 && errno != EEXIST) return error_of(errno, FileStep::create, dir);
  // Through a descriptor, so that the directory checked is the one whose mode is set.
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    // ENOTDIR: a file is where the directory should be, so it could not be created.
    return error_of(err, err == ENOTDIR ? FileStep::create : FileStep::open, dir);
  }
  FileResult<void> moded = ensure_mode(fd, kMode, dir);
  ::close(fd);
  return moded;
}

FileResult<void> sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return error_of(errno, FileStep::open, dir);
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  if (err != 0 && err != EINVAL) return error_of(err, FileStep::sync_directory, dir);
  return {};
}

}  // namespace conduit::common
