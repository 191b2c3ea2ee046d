// TempDir: a private directory for a test's files (Unix socket paths, payloads), removed with its files.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace rfarm::test {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/rfarm-test-XXXXXX";
    if (char* made = ::mkdtemp(tmpl.data())) path_ = made;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    for (const std::string& f : files_) ::unlink(f.c_str());
    if (!path_.empty()) ::rmdir(path_.c_str());
  }

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  // A path inside the directory; the file (if one gets created) is removed with the directory.
  std::string file(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

}  // namespace rfarm::test
