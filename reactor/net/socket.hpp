// Socket: the part every socket type shares: ownership of the descriptor and its reactor state, close(),
// addresses and options. Movable; the state the kernel and the backend refer to stays put on the heap.
//
// close() completes every pending operation with std::errc::operation_canceled (later in the loop turn).
// Destroying a socket closes it too, and drops the socket's own callback-style handlers without calling them
// (they usually capture the object being destroyed). A socket that created a Unix socket file by binding a
// path removes that file when it closes, unless the path names another file by then (bind.hpp).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <system_error>

#include "lib/error.hpp"
#include "reactor/backend/detail/io_op.hpp"
#include "reactor/net/address.hpp"
#include "reactor/loop/handle_kind.hpp"
#include "reactor/net/socket_options.hpp"

namespace rfarm {

class Reactor;

namespace detail {
// The Unix socket file a socket's bind created (bind.cpp), with the identity it had right after the bind.
struct SocketFile {
  std::string path;  // as bound: a relative path resolves against the working directory of the time
  dev_t device = 0;
  ino_t inode = 0;
};

// What few sockets need, behind one pointer that most connections leave null: an idle connection's state is
// most of its memory at tens of thousands of connections, and malloc rounds each 8 bytes saved to 16.
struct SocketExtras {
  std::unique_ptr<SocketFile> socket_file;  // removed by close() while the path still names it (bind.hpp)
  // A socket type's callback-style operations (a stream socket's StreamHandlerOps), made by its first async_*
  // call. Destroyed with the state, so pending ones are abandoned.
  std::unique_ptr<void, void (*)(void*)> handler_ops{nullptr, nullptr};
};

// Heap state of a socket: the backend's handle plus whatever a socket type keeps beside it. Kept apart from
// the socket object so moving a socket moves one pointer.
struct SocketState : IoHandle {
  SocketState(Reactor& r, int fd, bool is_stream) noexcept : IoHandle(fd, is_stream), reactor(&r) {}
  virtual ~SocketState() = default;
  // Runs before the backend cancels the operations it holds: a socket type cancels operations it parked
  // outside the backend (an accept waiting out an EMFILE back-off).
  virtual void before_close() noexcept {}
  // What the reactor's live-handle count (debug builds) files this socket under while it is open.
  virtual HandleKind handle_kind() const noexcept { return HandleKind::socket; }
  SocketExtras& extras_made() {
    if (!extras) extras = std::make_unique<SocketExtras>();
    return *extras;
  }
  Reactor* reactor;
  std::unique_ptr<SocketExtras> extras;
};
}  // namespace detail

class Socket {
 public:
  Socket() noexcept = default;
  Socket(Socket&&) noexcept = default;
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~Socket() { close(); }

  bool is_open() const noexcept { return state_ && state_->fd >= 0; }
  int native_handle() const noexcept { return state_ ? state_->fd : -1; }
  Reactor& reactor() const noexcept { return *state_->reactor; }

  void close() noexcept;
  // Leaves the Unix socket file this socket's bind created in place when it closes: for a descriptor handed
  // to another process that goes on serving the path.
  void keep_socket_file() noexcept {
    if (state_ && state_->extras) state_->extras->socket_file.reset();
  }

  Result<Address> local_address() const;
  Result<Address> remote_address() const;

  // Any option, any time after creation.
  template <option::SocketOption O>
  std::error_code set(O opt) noexcept {
    return set_option(O::level, O::name, opt.data(), opt.size());
  }
  template <option::SocketOption O>
  Result<O> get() const noexcept {
    O opt;
    socklen_t size = opt.size();
    if (std::error_code ec = get_option(O::level, O::name, opt.data(), &size)) return fail(ec);
    opt.resize(size);
    return opt;
  }
  std::error_code set_option(int level, int name, const void* value, socklen_t size) noexcept;
  std::error_code get_option(int level, int name, void* value, socklen_t* size) const noexcept;

  // For the socket layer and for users' own operations.
  detail::SocketState* state() const noexcept { return state_.get(); }

 protected:
  // Takes an open state: counted by its reactor's live-handle check (debug builds) until close().
  explicit Socket(std::unique_ptr<detail::SocketState> state) noexcept;
  std::unique_ptr<detail::SocketState> state_;
};

// Creates a non-blocking, close-on-exec socket descriptor.
Result<int> open_socket_fd(int family, int type, int protocol = 0) noexcept;

}  // namespace rfarm
