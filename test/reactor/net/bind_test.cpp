// Binding to a Unix socket path (reactor/net/bind.*), through every socket that binds one: StreamListener,
// SeqPacketListener and DatagramSocket. A stale socket file is replaced; a live socket, a regular file, a
// directory or a symlink is refused and left as it was; the socket that created a file removes it when it
// closes, but never a successor's.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "reactor/net/datagram_socket.hpp"
#include "reactor/net/seqpacket_socket.hpp"
#include "reactor/net/stream_listener.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/temp_dir.hpp"

namespace rfarm::test {
namespace {

using BindTest = BackendTest;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& data) { std::ofstream(path, std::ios::binary) << data; }

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_socket_file(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Leaves a stale socket file at path: a socket of `type` binds it and closes without removing it, as a
// server killed with SIGKILL does.
bool make_stale_socket(const std::string& path, int type = SOCK_STREAM) {
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0;
  ::close(fd);
  return ok && is_socket_file(path);
}

// Connects a stream client to path, accepts it, and checks one byte goes across: the listener is serving.
Task<Result<char>> one_byte_through(Reactor& reactor, StreamListener& listener, Address where) {
  auto client = co_await StreamSocket::connect(reactor, where, 2s);
  if (!client) co_return fail(client.error());
  auto server = co_await listener.accept();
  if (!server) co_return fail(server.error());
  if (auto sent = co_await client->send_all(as_bytes("x")); !sent) co_return fail(sent.error());
  char c = 0;
  auto got = co_await server->recv_exactly(MutableBytes(reinterpret_cast<std::byte*>(&c), 1));
  if (!got) co_return fail(got.error());
  co_return c;
}

}  // namespace

TEST_P(BindTest, ARegularFileIsRefusedAndLeftIntact) {
  TempDir dir;
  std::string path = dir.file("f");
  write_file(path, "hi\n");
  auto listener = StreamListener::listen(reactor(), Address::unix_path(path).value());
  ASSERT_FALSE(listener) << "listened on a regular file's path";
  EXPECT_EQ(listener.error(), std::errc::file_exists) << listener.error().message();
  EXPECT_EQ(read_file(path), "hi\n");
  // The same for the other sockets that bind a path.
  auto packet = SeqPacketListener::listen(reactor(), Address::unix_path(path).value());
  ASSERT_FALSE(packet);
  EXPECT_EQ(packet.error(), std::errc::file_exists) << packet.error().message();
  auto dgram = DatagramSocket::bind(reactor(), Address::unix_path(path).value());
  ASSERT_FALSE(dgram);
  EXPECT_EQ(dgram.error(), std::errc::file_exists) << dgram.error().message();
  EXPECT_EQ(read_file(path), "hi\n");
}

TEST_P(BindTest, ADirectoryIsRefused) {
  TempDir dir;
  std::string path = dir.file("d");
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  auto listener = StreamListener::listen(reactor(), Address::unix_path(path).value());
  struct stat st {};
  bool still_a_directory = ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  ::rmdir(path.c_str());
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error(), std::errc::file_exists) << listener.error().message();
  EXPECT_TRUE(still_a_directory);
}

TEST_P(BindTest, ASymlinkIsRefusedEvenToAStaleSocket) {
  TempDir dir;
  std::string target = dir.file("stale.sock");
  std::string link = dir.file("link.sock");
  ASSERT_TRUE(make_stale_socket(target));
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto listener = StreamListener::listen(reactor(), Address::unix_path(link).value());
  ASSERT_FALSE(listener) << "replaced a symlink";
  EXPECT_EQ(listener.error(), std::errc::file_exists) << listener.error().message();
  struct stat st {};
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_TRUE(is_socket_file(target));
}

TEST_P(BindTest, ALiveListenersPathIsRefusedAndItKeepsServing) {
  TempDir dir;
  std::string path = dir.file("live.sock");
  Address where = Address::unix_path(path).value();
  auto first = StreamListener::listen(reactor(), where);
  ASSERT_TRUE(first) << first.error().message();
  auto second = StreamListener::listen(reactor(), where);
  ASSERT_FALSE(second) << "a second listener took a live listener's path over";
  EXPECT_EQ(second.error(), std::errc::address_in_use) << second.error().message();
  // Neither can a socket of another type: the probe sees that someone holds the path.
  auto packet = SeqPacketListener::listen(reactor(), where);
  ASSERT_FALSE(packet);
  EXPECT_EQ(packet.error(), std::errc::address_in_use) << packet.error().message();
  auto dgram = DatagramSocket::bind(reactor(), where);
  ASSERT_FALSE(dgram);
  EXPECT_EQ(dgram.error(), std::errc::address_in_use) << dgram.error().message();
  auto c = run(one_byte_through(reactor(), *first, where));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(*c, 'x');
}

TEST_P(BindTest, ALiveDatagramSocketsPathIsRefused) {
  TempDir dir;
  std::string path = dir.file("dgram.sock");
  Address where = Address::unix_path(path).value();
  auto first = DatagramSocket::bind(reactor(), where);
  ASSERT_TRUE(first) << first.error().message();
  auto second = DatagramSocket::bind(reactor(), where);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use) << second.error().message();
  auto listener = StreamListener::listen(reactor(), where);
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error(), std::errc::address_in_use) << listener.error().message();
  EXPECT_TRUE(is_socket_file(path));
}

TEST_P(BindTest, AStaleSocketFileIsReplacedByEverySocketType) {
  TempDir dir;
  std::string path = dir.file("stale.sock");
  Address where = Address::unix_path(path).value();
  ASSERT_TRUE(make_stale_socket(path));
  auto listener = StreamListener::listen(reactor(), where);
  ASSERT_TRUE(listener) << listener.error().message();
  auto c = run(one_byte_through(reactor(), *listener, where));
  ASSERT_TRUE(c) << c.error().message();
  listener->close();

  ASSERT_TRUE(make_stale_socket(path, SOCK_DGRAM));
  auto packet = SeqPacketListener::listen(reactor(), where);
  ASSERT_TRUE(packet) << packet.error().message();
  packet->close();

  ASSERT_TRUE(make_stale_socket(path, SOCK_SEQPACKET));
  auto dgram = DatagramSocket::bind(reactor(), where);
  ASSERT_TRUE(dgram) << dgram.error().message();
}

TEST_P(BindTest, ClosingRemovesTheSocketFile) {
  TempDir dir;
  std::string path = dir.file("mine.sock");
  auto listener = StreamListener::listen(reactor(), Address::unix_path(path).value());
  ASSERT_TRUE(listener) << listener.error().message();
  ASSERT_TRUE(is_socket_file(path));
  listener->close();
  EXPECT_FALSE(exists(path)) << "close() left the listener's socket file behind";

  auto packet = SeqPacketListener::listen(reactor(), Address::unix_path(path).value());
  ASSERT_TRUE(packet) << packet.error().message();
  packet->close();
  EXPECT_FALSE(exists(path)) << "a seqpacket listener left its socket file behind";

  auto dgram = DatagramSocket::bind(reactor(), Address::unix_path(path).value());
  ASSERT_TRUE(dgram) << dgram.error().message();
  dgram->close();
  EXPECT_FALSE(exists(path)) << "a datagram socket left its socket file behind";
}

TEST_P(BindTest, DestroyingAMovedListenerRemovesTheSocketFileOnce) {
  TempDir dir;
  std::string path = dir.file("moved.sock");
  {
    auto listener = StreamListener::listen(reactor(), Address::unix_path(path).value());
    ASSERT_TRUE(listener) << listener.error().message();
    StreamListener moved = std::move(*listener);
    ASSERT_TRUE(is_socket_file(path));
  }
  EXPECT_FALSE(exists(path));
}

TEST_P(BindTest, ASuccessorsSocketSurvivesThePredecessorsLateClose) {
  TempDir dir;
  std::string path = dir.file("handover.sock");
  Address where = Address::unix_path(path).value();
  auto old_listener = StreamListener::listen(reactor(), where);
  ASSERT_TRUE(old_listener) << old_listener.error().message();
  // Someone removed the old file (an operator, a deploy script) and a successor bound the path afresh.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  auto successor = StreamListener::listen(reactor(), where);
  ASSERT_TRUE(successor) << successor.error().message();
  old_listener->close();
  EXPECT_TRUE(is_socket_file(path)) << "the old listener's close removed its successor's socket file";
  auto c = run(one_byte_through(reactor(), *successor, where));
  ASSERT_TRUE(c) << c.error().message();
}

TEST_P(BindTest, AbstractNamesNeedNoFile) {
  std::string name = "rfarm-bind-test-" + std::to_string(::getpid()) + "-" + std::string(to_string(GetParam()));
  Address where = Address::unix_abstract(name).value();
  auto first = StreamListener::listen(reactor(), where);
  ASSERT_TRUE(first) << first.error().message();
  auto second = StreamListener::listen(reactor(), where);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
  first->close();
  auto third = StreamListener::listen(reactor(), where);
  ASSERT_TRUE(third) << third.error().message();
}

TEST_P(BindTest, KeepSocketFileLeavesTheFileForAnotherProcess) {
  TempDir dir;
  std::string path = dir.file("kept.sock");
  auto dgram = DatagramSocket::bind(reactor(), Address::unix_path(path).value());
  ASSERT_TRUE(dgram) << dgram.error().message();
  dgram->keep_socket_file();
  dgram->close();
  EXPECT_TRUE(is_socket_file(path));
}

TEST_P(BindTest, RefusalsSayWhyInTheirOwnWords) {
  TempDir dir;
  std::string file = dir.file("file");
  write_file(file, "x");
  auto not_socket = StreamListener::listen(reactor(), Address::unix_path(file).value());
  ASSERT_FALSE(not_socket);
  EXPECT_EQ(not_socket.error(), make_error_code(Errc::unix_path_not_socket));
  std::string live = dir.file("live.sock");
  auto first = StreamListener::listen(reactor(), Address::unix_path(live).value());
  ASSERT_TRUE(first);
  auto in_use = StreamListener::listen(reactor(), Address::unix_path(live).value());
  ASSERT_FALSE(in_use);
  EXPECT_EQ(in_use.error(), make_error_code(Errc::unix_path_in_use));
  EXPECT_EQ(in_use.error(), Condition::address_in_use);
  EXPECT_NE(in_use.error().message().find("live socket"), std::string::npos) << in_use.error().message();
}

RFARM_INSTANTIATE_BACKEND_TESTS(BindTest);

}  // namespace rfarm::test
