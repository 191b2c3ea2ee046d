// Unix-domain record sockets with Python as the peer: SOCK_SEQPACKET (listener, record boundaries,
// truncation, abstract names, file modes) and SOCK_DGRAM (bound path, abstract, unnamed senders).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <string>

#include "reactor/net/datagram_socket.hpp"
#include "reactor/net/seqpacket_socket.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/child_process.hpp"
#include "test/support/temp_dir.hpp"

namespace rfarm::test {
namespace {

using SeqPacketSocketTest = BackendTest;

// argv: address (a path, or @name for an abstract one). Connects, sends three records, one of 100 bytes,
// then prints every record echoed back, one per line, as "<length>:<first 20 bytes>".
constexpr const char* kPythonRecordClient = R"(
import socket, sys
addr = sys.argv[1]
if addr.startswith('@'): addr = '\0' + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.settimeout(5); s.connect(addr)
for r in [b'one', b'two-two', b'x' * 100]: s.send(r)
for i in range(3):
    r = s.recv(4096)
    print('%d:%s' % (len(r), r[:20].decode()), flush=True)
)";

std::string text(const std::array<std::byte, 4096>& b, std::size_t n) { return std::string(as_chars(ConstBytes(b.data(), n))); }

// Accepts one connection; echoes three records, each received into a buffer of `limit` bytes.
Task<Result<std::vector<Datagram>>> echo_three_records(SeqPacketListener& listener, std::size_t limit) {
  auto conn = co_await listener.accept();
  if (!conn) co_return fail(conn.error());
  std::vector<Datagram> records;
  std::array<std::byte, 4096> buffer{};
  for (int i = 0; i < 3; ++i) {
    auto r = co_await conn->recv(MutableBytes(buffer.data(), limit));
    if (!r) co_return fail(r.error());
    records.push_back(*r);
    auto sent = co_await conn->send(ConstBytes(buffer.data(), r->size));
    if (!sent) co_return fail(sent.error());
  }
  co_return records;
}

}  // namespace

TEST_P(SeqPacketSocketTest, RecordsKeepTheirBoundariesAndTheFileGetsItsMode) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("records.sock");
  auto listener = SeqPacketListener::listen(reactor(), Address::unix_path(path).value(), {.bind = {.unix_mode = 0600}});
  ASSERT_TRUE(listener) << listener.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto py = ChildProcess::spawn({python3(), "-c", kPythonRecordClient, path});
  ASSERT_TRUE(py);
  auto records = run(echo_three_records(*listener, 4096));
  ASSERT_TRUE(records) << records.error().message();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].size, 3u);
  EXPECT_EQ((*records)[1].size, 7u);
  EXPECT_EQ((*records)[2].size, 100u);
  EXPECT_FALSE((*records)[2].truncated);
  EXPECT_EQ(py->read_line(5s), "3:one");
  EXPECT_EQ(py->read_line(5s), "7:two-two");
  EXPECT_EQ(py->read_line(5s), "100:xxxxxxxxxxxxxxxxxxxx");
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(SeqPacketSocketTest, ARecordLongerThanTheBufferIsAnErrorAndTheNextOneIsIntact) {
  std::string name = "rfarm-seqpacket-" + std::to_string(::getpid()) + "-" + std::string(to_string(GetParam()));
  auto listener = SeqPacketListener::listen(reactor(), Address::unix_abstract(name).value());
  ASSERT_TRUE(listener) << listener.error().message();
  auto py = ChildProcess::spawn({python3(), "-c", kPythonRecordClient, "@" + name});
  ASSERT_TRUE(py);
  // 5-byte buffer: "two-two" and the 100 bytes do not fit. Each is an error (answered "cut"), never a short
  // record, and the rest of a cut record never shows up as a record of its own.
  std::vector<std::error_code> errors;
  auto answered = run([&]() -> Task<Result<int>> {
    auto conn = co_await listener->accept();
    if (!conn) co_return fail(conn.error());
    std::array<std::byte, 5> buffer{};
    for (int i = 0; i < 3; ++i) {
      auto r = co_await conn->recv(buffer);
      errors.push_back(r ? std::error_code{} : r.error());
      ConstBytes reply = r ? ConstBytes(buffer.data(), r->size) : as_bytes("cut");
      if (auto sent = co_await conn->send(reply); !sent) co_return fail(sent.error());
    }
    co_return 3;
  }());
  ASSERT_TRUE(answered) << answered.error().message();
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_FALSE(errors[0]);
  EXPECT_EQ(errors[1], std::errc::message_size) << errors[1].message();
  EXPECT_EQ(errors[2], std::errc::message_size) << errors[2].message();
  EXPECT_EQ(py->read_line(5s), "3:one");
  EXPECT_EQ(py->read_line(5s), "3:cut");
  EXPECT_EQ(py->read_line(5s), "3:cut");
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(SeqPacketSocketTest, ConnectsToAPythonListenerAndSeesItsEnd) {
  TempDir dir;
  std::string path = dir.file("py.sock");
  auto py = ChildProcess::spawn({python3(), "-c", R"(
import socket, sys
l = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); l.bind(sys.argv[1]); l.listen(1); l.settimeout(5)
print('ready', flush=True)
c, _ = l.accept(); c.settimeout(5)
r = c.recv(100); c.send(b'got:' + r); c.close()
)", path});
  ASSERT_TRUE(py);
  ASSERT_EQ(py->read_line(5s), "ready");
  std::array<std::byte, 4096> buffer{};
  auto result = run([&]() -> Task<Result<std::string>> {
    auto sock = co_await SeqPacketSocket::connect(reactor(), Address::unix_path(path).value());
    if (!sock) co_return fail(sock.error());
    if (auto sent = co_await sock->send(as_bytes("record")); !sent) co_return fail(sent.error());
    auto r = co_await sock->recv(buffer);
    if (!r) co_return fail(r.error());
    std::string got = text(buffer, r->size);
    auto end = co_await sock->recv(buffer);
    if (!end) co_return fail(end.error());
    co_return got + "|" + std::to_string(end->size);
  }());
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(*result, "got:record|0");
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(SeqPacketSocketTest, CallbackStyleOnAPair) {
  auto pair = SeqPacketSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  std::array<std::byte, 4096> buffer{};
  std::optional<Result<Datagram>> got;
  std::optional<Result<std::size_t>> sent;
  b.async_recv(buffer, [&](Result<Datagram> d) { got = d; });
  a.async_send(as_bytes("callback record"), [&](Result<std::size_t> n) { sent = n; });
  ASSERT_TRUE(run_until([&] { return got && sent; }));
  ASSERT_TRUE(*got && *sent);
  EXPECT_EQ(text(buffer, (*got)->size), "callback record");
}

TEST_P(SeqPacketSocketTest, UnixDatagramsBetweenPathsAbstractAndUnnamed) {
  TempDir dir;
  std::string path = dir.file("dgram.sock");
  auto sock = DatagramSocket::bind(reactor(), Address::unix_path(path).value(), {.unix_mode = 0640});
  ASSERT_TRUE(sock) << sock.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  // Python sends from a bound path, from an abstract name, and from an unnamed socket; it prints the replies.
  std::string py_path = dir.file("py.sock");
  std::string abstract = "rfarm-dgram-" + std::to_string(::getpid()) + "-" + std::string(to_string(GetParam()));
  auto py = ChildProcess::spawn({python3(), "-c", R"(
import socket, sys
target, mine, abstract = sys.argv[1], sys.argv[2], sys.argv[3]
a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); a.settimeout(5); a.bind(mine)
b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); b.settimeout(5); b.bind('\0' + abstract)
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
a.sendto(b'from-path', target); b.sendto(b'from-abstract', target); c.sendto(b'from-unnamed', target)
print(a.recv(100).decode(), flush=True); print(b.recv(100).decode(), flush=True)
)", path, py_path, abstract});
  ASSERT_TRUE(py);
  std::array<std::byte, 4096> buffer{};
  std::vector<Datagram> got;
  auto ok = run([&]() -> Task<bool> {
    for (int i = 0; i < 3; ++i) {
      auto d = co_await sock->recv_from(buffer);
      if (!d) co_return false;
      got.push_back(*d);
      if (!d->sender.unix_name().empty())
        if (!co_await sock->send_to(as_bytes("re:" + text(buffer, d->size)), d->sender)) co_return false;
    }
    co_return true;
  }());
  ASSERT_TRUE(ok);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].sender, Address::unix_path(py_path).value());
  EXPECT_EQ(got[1].sender, Address::unix_abstract(abstract).value());
  EXPECT_EQ(got[2].sender.family(), AddressFamily::unspecified) << "an unnamed sender has no address";
  EXPECT_EQ(py->read_line(5s), "re:from-path");
  EXPECT_EQ(py->read_line(5s), "re:from-abstract");
  EXPECT_EQ(py->wait(5s), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(SeqPacketSocketTest);

}  // namespace rfarm::test
