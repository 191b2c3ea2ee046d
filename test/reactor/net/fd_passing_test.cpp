// Descriptor passing (SCM_RIGHTS) and peer credentials (SO_PEERCRED) with Python's socket.send_fds /
// recv_fds as the peer, in both directions, on seqpacket, stream and datagram Unix sockets.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <array>
#include <string>

#include "reactor/net/datagram_socket.hpp"
#include "reactor/net/fd_passing.hpp"
#include "reactor/net/seqpacket_socket.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/child_process.hpp"
#include "test/support/temp_dir.hpp"

namespace rfarm::test {
namespace {

class FdPassingTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!program_runs({python3(), "-c", "import socket; socket.send_fds; socket.recv_fds"}))
      GTEST_SKIP() << "python3 with socket.send_fds / recv_fds (3.9+) is missing";
  }
};

std::string text(const std::array<std::byte, 4096>& b, std::size_t n) { return std::string(as_chars(ConstBytes(b.data(), n))); }

// A memfd holding `content`.
UniqueFd memfd_with(const std::string& content) {
  UniqueFd fd(::memfd_create("rfarm-test", MFD_CLOEXEC));
  if (fd && ::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) fd.reset();
  return fd;
}

ino_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

// How many descriptors this process has open.
int open_fd_count() {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0) ++n;
  return n;
}

// argv: socket type ("seqpacket"/"stream"), path. Connects, prints its pid; receives one message with descriptors, prints
// "<data>:<inode>:<content>" of the first; then makes a memfd with "from-python", sends it with b'back', and
// prints its inode. Queued messages (and descriptors in flight) outlive its exit.
constexpr const char* kPythonFdPeer = R"(
import os, socket, sys
kind = socket.SOCK_SEQPACKET if sys.argv[1] == 'seqpacket' else socket.SOCK_STREAM
s = socket.socket(socket.AF_UNIX, kind); s.settimeout(5); s.connect(sys.argv[2])
print(os.getpid(), flush=True)
data, fds, flags, addr = socket.recv_fds(s, 100, 4)
print('%s:%d:%s' % (data.decode(), os.fstat(fds[0]).st_ino, os.pread(fds[0], 100, 0).decode()), flush=True)
m = os.memfd_create('py'); os.write(m, b'from-python')
socket.send_fds(s, [b'back'], [m])
print(os.fstat(m).st_ino, flush=True)
)";

}  // namespace

TEST_P(FdPassingTest, SeqPacketPassesDescriptorsBothWaysAndKnowsThePeer) {
  TempDir dir;
  std::string path = dir.file("fds.sock");
  auto listener = SeqPacketListener::listen(reactor(), Address::unix_path(path).value());
  ASSERT_TRUE(listener);
  auto py = ChildProcess::spawn({python3(), "-c", kPythonFdPeer, "seqpacket", path});
  ASSERT_TRUE(py);
  auto pid = py->read_line(5s);
  ASSERT_TRUE(pid);
  UniqueFd ours = memfd_with("from-rfarm");
  ASSERT_TRUE(ours);
  auto conn = run([&]() -> Task<Result<SeqPacketSocket>> { co_return co_await listener->accept(); }());
  ASSERT_TRUE(conn) << conn.error().message();

  auto cred = conn->peer_credentials();
  ASSERT_TRUE(cred) << cred.error().message();
  EXPECT_EQ(cred->pid(), std::stoi(*pid));
  EXPECT_EQ(cred->uid(), ::getuid());
  EXPECT_EQ(cred->gid(), ::getgid());

  std::array<std::byte, 4096> buffer{};
  int fd = ours.get();
  auto sent = run([&]() -> Task<Result<std::size_t>> { co_return co_await conn->send_fds(as_bytes("here"), std::span(&fd, 1)); }());
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(py->read_line(5s), "here:" + std::to_string(inode_of(ours.get())) + ":from-rfarm");

  auto msg = run([&]() -> Task<Result<MessageWithFds>> { co_return co_await conn->recv_with_fds(buffer); }());
  ASSERT_TRUE(msg) << msg.error().message();
  EXPECT_EQ(text(buffer, msg->size), "back");
  ASSERT_EQ(msg->fds.size(), 1u);
  auto py_inode = py->read_line(5s);
  ASSERT_TRUE(py_inode);
  EXPECT_EQ(std::to_string(inode_of(msg->fds[0].get())), *py_inode) << "not the file Python sent";
  char content[32] = {};
  EXPECT_EQ(::pread(msg->fds[0].get(), content, sizeof content, 0), 11);
  EXPECT_STREQ(content, "from-python");
  EXPECT_TRUE(::fcntl(msg->fds[0].get(), F_GETFD) & FD_CLOEXEC) << "received descriptors must be close-on-exec";
  conn->close();
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(FdPassingTest, StreamSocketsPassDescriptorsAndKnowThePeer) {
  TempDir dir;
  std::string path = dir.file("stream.sock");
  auto listener = StreamListener::listen(reactor(), Address::unix_path(path).value());
  ASSERT_TRUE(listener);
  auto py = ChildProcess::spawn({python3(), "-c", kPythonFdPeer, "stream", path});
  ASSERT_TRUE(py);
  auto pid = py->read_line(5s);
  ASSERT_TRUE(pid);
  auto conn = run([&]() -> Task<Result<StreamSocket>> { co_return co_await listener->accept(); }());
  ASSERT_TRUE(conn);
  auto cred = conn->get<option::PeerCredentials>();
  ASSERT_TRUE(cred);
  EXPECT_EQ(cred->pid(), std::stoi(*pid));

  UniqueFd ours = memfd_with("from-rfarm");
  int fd = ours.get();
  std::array<std::byte, 4096> buffer{};
  auto sent = run([&]() -> Task<Result<std::size_t>> { co_return co_await send_fds(*conn, as_bytes("here"), std::span(&fd, 1)); }());
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 4u);
  EXPECT_EQ(py->read_line(5s), "here:" + std::to_string(inode_of(ours.get())) + ":from-rfarm");
  auto msg = run([&]() -> Task<Result<MessageWithFds>> { co_return co_await recv_with_fds(*conn, buffer); }());
  ASSERT_TRUE(msg) << msg.error().message();
  ASSERT_EQ(msg->fds.size(), 1u);
  auto py_inode = py->read_line(5s);
  ASSERT_TRUE(py_inode);
  EXPECT_EQ(std::to_string(inode_of(msg->fds[0].get())), *py_inode);
  conn->close();
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(FdPassingTest, TooManyDescriptorsFailWithControlTruncatedAndLeakNothing) {
  auto pair = DatagramSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto& [ours, theirs] = *pair;
  // Python gets the other end (inherited as fd 3) and sends kMaxPassedFds + 6 descriptors in one datagram.
  int peer = ::dup(theirs.native_handle());
  ASSERT_GE(peer, 0);
  theirs.close();
  std::string script = R"(
import os, socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
r, w = os.pipe()
socket.send_fds(s, [b'many'], [r] * int(sys.argv[2]))
socket.send_fds(s, [b'one'], [w])
print('sent', flush=True)
)";
  ::fcntl(peer, F_SETFD, 0);  // inherited by the child
  auto py = ChildProcess::spawn({python3(), "-c", script, std::to_string(peer), std::to_string(kMaxPassedFds + 6)});
  ::close(peer);
  ASSERT_TRUE(py);
  ASSERT_EQ(py->read_line(5s), "sent");
  EXPECT_EQ(py->wait(5s), 0);

  UniqueFd sentinel = memfd_with("still here");
  int before = open_fd_count();
  std::array<std::byte, 4096> buffer{};
  auto many = run([&]() -> Task<Result<MessageWithFds>> { co_return co_await ours.recv_with_fds(buffer); }());
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error(), make_error_code(Errc::control_truncated));
  EXPECT_EQ(open_fd_count(), before) << "the descriptors that arrived must be closed, and only those";
  EXPECT_GE(::fcntl(sentinel.get(), F_GETFD), 0);
  // The next message is unaffected.
  auto one = run([&]() -> Task<Result<MessageWithFds>> { co_return co_await ours.recv_with_fds(buffer); }());
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(text(buffer, one->size), "one");
  EXPECT_EQ(one->fds.size(), 1u);
}

TEST_P(FdPassingTest, CallbackStyleSendFdsOnAPair) {
  auto pair = SeqPacketSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd r(pipe_fds[0]), w(pipe_fds[1]);
  std::array<std::byte, 4096> buffer{};
  std::optional<Result<MessageWithFds>> got;
  std::optional<Result<std::size_t>> sent;
  int fd = w.get();
  b.async_recv_with_fds(buffer, [&](Result<MessageWithFds> m) { got = std::move(m); });
  a.async_send_fds(as_bytes("pipe"), std::span(&fd, 1), [&](Result<std::size_t> n) { sent = n; });
  ASSERT_TRUE(run_until([&] { return got && sent; }));
  ASSERT_TRUE(*got) << (*got).error().message();
  ASSERT_EQ((*got)->fds.size(), 1u);
  // Writing into the received descriptor comes out of our read end: the same pipe.
  ASSERT_EQ(::write((*got)->fds[0].get(), "z", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'z');
}

RFARM_INSTANTIATE_BACKEND_TESTS(FdPassingTest);

}  // namespace rfarm::test
