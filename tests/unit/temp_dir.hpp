// A fresh directory under the system temp dir for one test, removed with everything in it
// when the test ends. The prefix names the test file in the path, for debugging.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace conduit::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "conduit-test-") {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() / (prefix + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directory(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace conduit::test
