// UniqueFd: sole ownership of a file descriptor (closed when the owner goes away), for descriptors the reactor
// does not manage, e.g. ones received over a Unix socket with SCM_RIGHTS.
//
//     rfarm::UniqueFd fd(::memfd_create("x", MFD_CLOEXEC));
//     int raw = fd.release();   // the caller owns raw now
#pragma once

#include <unistd.h>

#include <utility>

namespace rfarm {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the descriptor held (if any) and takes fd.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace rfarm
