// Creating the files and directories that hold what only the gateway's user (or the
// technician) may read: keys, certificates, credential and session databases, recordings.
//
// The same rules everywhere:
// - never through a symlink planted at the path (O_NOFOLLOW, and O_EXCL for new files);
// - the mode is exactly the one asked for, whatever the umask: it is checked on the open
//   descriptor and set with fchmod when the umask narrowed (or the caller asked to widen)
//   it, while the file is still empty;
// - a failed chmod/fchmod is an error, never ignored: a key left world-readable because a
//   chmod failed is worse than a refusal to start;
// - a file created here and not finished (a failed write, sync or close) is removed.
//
// Errors: FileResult<T>, i.e. boost::system::result<T, FileError>. A FileError carries the
// errno (generic_category), which step failed, and the path that step acted on, so that
// each caller can keep its own sentence or use FileError::message(): "cannot <step>
// <path>: <reason>". Nothing throws except std::bad_alloc.
//
// Thread-safe (no shared state), but see replace_file about two writers of the same path.
// POSIX only (Linux: O_NOFOLLOW, O_CLOEXEC).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace conduit::common {

enum class FileStep : std::uint8_t {
  create,          // creating a new file or directory (EEXIST: something, maybe a symlink, is there)
  open,            // opening an existing one (ELOOP: a symlink; EINVAL/ENOTDIR: the wrong kind of file)
  stat,
  set_mode,        // fchmod/chmod
  write,
  sync,
  close,
  rename,
  sync_directory,  // fsync of the directory after a rename
};

// The verb of "cannot <verb> <path>": "create", "open", "stat", "set the mode of", "write",
// "sync", "close", "rename", "sync the directory".
const char* describe(FileStep step) noexcept;

struct FileError {
  boost::system::error_code code;  // an errno in generic_category
  FileStep step = FileStep::create;
  std::filesystem::path path;      // the file or directory `step` acted on

  std::string message() const;  // "cannot <describe(step)> <path>: <strerror>"
};

std::ostream& operator<<(std::ostream& out, const FileError& error);  // message()

// For FileResult::value(): throws std::system_error with message().
[[noreturn]] void throw_exception_from_error(const FileError& error, const boost::source_location& location);

template <typename T>
using FileResult = boost::system::result<T, FileError>;

// Creates `path`, which must not exist (not even as a dangling symlink), with exactly
// `mode`, and returns the open descriptor (O_WRONLY | O_CLOEXEC | extra_flags, e.g.
// O_APPEND), which the caller owns and closes. If the mode cannot be set the file is
// removed. Failures: create (EEXIST when anything is at the path), stat, set_mode.
FileResult<int> create_new_file(const std::filesystem::path& path, mode_t mode, int extra_flags = 0);

// create_new_file, then writes all of `contents`, fsyncs and closes. On any failure the
// new file is removed. Failures: those of create_new_file, then write, sync, close.
FileResult<void> write_new_file(const std::filesystem::path& path, std::string_view contents, mode_t mode);

// Replaces `path` atomically: a reader sees the old file or the new one, never part of
// one; the new file has exactly `mode` from its first byte and is durable when this
// returns. Writes "<path>.tmp" in the same directory with write_new_file (a left-over
// temporary file from a crash is removed first; a symlink there is removed, never
// followed), renames it over `path` (a symlink at `path` is replaced, not followed) and
// fsyncs the directory. On failure the temporary file is removed and `path` is as it was,
// unless only the directory sync failed (then the new file is in place but may not survive
// a power cut). Two processes replacing the same path at once may make one of them fail;
// neither leaves a mix. Failures: those of write_new_file (on the temporary file), rename,
// sync_directory.
FileResult<void> replace_file(const std::filesystem::path& path, std::string_view contents, mode_t mode);

// For a file another library then opens by name (SQLite): creates `path` empty with
// exactly `mode` if it is missing, or tightens (sets) an existing file's mode to `mode`.
// Refuses a symlink (open, ELOOP) and anything but a regular file (open, EINVAL).
// Failures: open, stat, set_mode.
FileResult<void> open_or_create_private_file(const std::filesystem::path& path, mode_t mode);

// Creates `dir` (and any missing parents, with the umask's default mode) and leaves `dir`
// itself at exactly 0700: a new directory is created 0700, an existing one is set to 0700
// (a symlink to a directory is followed, as the data directory may be one). Failures:
// create (parents or dir; ENOTDIR when a file is where the directory should be), open,
// stat, set_mode.
FileResult<void> make_private_directory(const std::filesystem::path& dir);

// fsync of a directory, so that entries just created or renamed in it survive a power
// cut. A file system that cannot sync directories (fsync gives EINVAL) counts as done.
// Failures: open, sync_directory.
FileResult<void> sync_directory(const std::filesystem::path& dir);

}  // namespace conduit::common
