// echo-server's message transports, driven by Python: udp: echoes every datagram to its sender (many per
// recvmmsg / sendmmsg), unixpacket: echoes records with their boundaries. And the mcast tool, send and receive.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "test/support/child_process.hpp"
#include "test/support/temp_dir.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

std::string echo_server() {
  const char* p = std::getenv("RFARM_ECHO_SERVER");
  return p && *p ? p : "echo-server";
}

// Starts echo-server on `endpoint`; returns it and its first line (the bound endpoint).
std::pair<Result<ChildProcess>, std::string> start_server(const std::string& endpoint, const char* backend) {
  auto server = ChildProcess::spawn({echo_server(), "--listen", endpoint, "--backend", backend});
  std::string first;
  if (server) first = server->read_line(5s).value_or("");
  return {std::move(server), first};
}

class EchoServerDgramTest : public ::testing::TestWithParam<const char*> {};

}  // namespace

TEST_P(EchoServerDgramTest, UdpEchoesEveryDatagramToItsSender) {
  auto [server, endpoint] = start_server("udp:127.0.0.1:0", GetParam());
  ASSERT_TRUE(server) << server.error().message();
  ASSERT_TRUE(endpoint.starts_with("udp:127.0.0.1:")) << "first line: " << endpoint;
  std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  // Two clients, 200 datagrams each, sent in bursts of 20 per client (so the server sees batches, yet its
  // receive buffer cannot overflow: UDP would drop the excess), all must come back intact to their sender.
  auto py = ChildProcess::spawn({python3(), "-c", R"(
import socket, sys
port = int(sys.argv[1])
clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
got = [set(), set()]
for c in clients: c.settimeout(5)
for burst in range(10):
    for i in range(burst * 20, burst * 20 + 20):
        for k, c in enumerate(clients):
            c.sendto(b'%d-%d-' % (k, i) + b'x' * (i * 7), ('127.0.0.1', port))
    for k, c in enumerate(clients):
        for i in range(20):
            d = c.recv(65536)
            assert d.startswith(b'%d-' % k), d[:20]
            got[k].add(d)
for k in range(2): print('client %d: %d echoed' % (k, len(got[k])), flush=True)
)", port});
  ASSERT_TRUE(py);
  EXPECT_EQ(py->read_line(10s), "client 0: 200 echoed");
  EXPECT_EQ(py->read_line(10s), "client 1: 200 echoed");
  EXPECT_EQ(py->wait(10s), 0);
  server->terminate();
  EXPECT_EQ(server->wait(5s), 0) << "echo-server did not stop cleanly on SIGTERM";
}

TEST_P(EchoServerDgramTest, UnixPacketEchoKeepsRecordBoundaries) {
  TempDir dir;
  std::string path = dir.file("echo.sock");
  auto [server, endpoint] = start_server("unixpacket:" + path, GetParam());
  ASSERT_TRUE(server);
  ASSERT_EQ(endpoint, "unixpacket:" + path);
  auto py = ChildProcess::spawn({python3(), "-c", R"(
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.settimeout(5); s.connect(sys.argv[1])
records = [b'a', b'bb' * 1000, b'ccc', b'd' * 60000]
for r in records: s.send(r)
print(','.join(str(len(s.recv(65536))) for r in records), flush=True)
)", path});
  ASSERT_TRUE(py);
  EXPECT_EQ(py->read_line(10s), "1,2000,3,60000");
  EXPECT_EQ(py->wait(10s), 0);
  server->terminate();
  EXPECT_EQ(server->wait(5s), 0);
}

TEST_P(EchoServerDgramTest, UnixPacketEchoesA100000ByteRecordWhole) {
  TempDir dir;
  std::string path = dir.file("big.sock");
  auto [server, endpoint] = start_server("unixpacket:" + path, GetParam());
  ASSERT_TRUE(server);
  ASSERT_EQ(endpoint, "unixpacket:" + path);
  // Larger than 64 KiB, within the default socket buffers (net.core.wmem_default is 212992): the record must
  // come back whole, or the server must refuse it by closing the connection; never cut.
  auto py = ChildProcess::spawn({python3(), "-c", R"(
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.settimeout(5); s.connect(sys.argv[1])
record = bytes(i * 7 % 251 for i in range(100000))
s.send(record)
back = s.recv(1 << 20)
print(len(back), back == record, flush=True)
s.send(b'after')
print(s.recv(100).decode(), flush=True)
)", path});
  ASSERT_TRUE(py);
  EXPECT_EQ(py->read_line(10s), "100000 True");
  EXPECT_EQ(py->read_line(10s), "after");
  EXPECT_EQ(py->wait(10s), 0);
  server->terminate();
  EXPECT_EQ(server->wait(5s), 0);
}

TEST_P(EchoServerDgramTest, UdpEchoesTheLargestDatagramWhole) {
  auto [server, endpoint] = start_server("udp:127.0.0.1:0", GetParam());
  ASSERT_TRUE(server);
  ASSERT_TRUE(endpoint.starts_with("udp:127.0.0.1:")) << "first line: " << endpoint;
  std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  auto py = ChildProcess::spawn({python3(), "-c", R"(
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
for size in (65507, 1, 40000):   # 65507: the largest IPv4 UDP payload (65535 - 20 - 8)
    d = bytes(i * 13 % 251 for i in range(size))
    s.sendto(d, ('127.0.0.1', int(sys.argv[1])))
    back = s.recv(1 << 17)
    print(len(back), back == d, flush=True)
)", port});
  ASSERT_TRUE(py);
  EXPECT_EQ(py->read_line(10s), "65507 True");
  EXPECT_EQ(py->read_line(10s), "1 True");
  EXPECT_EQ(py->read_line(10s), "40000 True");
  EXPECT_EQ(py->wait(10s), 0);
  server->terminate();
  EXPECT_EQ(server->wait(5s), 0);
}

TEST_P(EchoServerDgramTest, UnixPacketRemovesItsSocketFileOnACleanExitAndRefusesAFile) {
  TempDir dir;
  std::string path = dir.file("packet.sock");
  auto [server, endpoint] = start_server("unixpacket:" + path, GetParam());
  ASSERT_TRUE(server);
  ASSERT_EQ(endpoint, "unixpacket:" + path);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  server->terminate();
  EXPECT_EQ(server->wait(5s), 0);
  EXPECT_NE(::lstat(path.c_str(), &st), 0) << "the socket file is still there after a clean exit";

  std::string file = dir.file("regular");
  {
    std::ofstream out(file);
    out << "keep me\n";
  }
  auto [refused, line] = start_server("unixpacket:" + file, GetParam());
  ASSERT_TRUE(refused);
  EXPECT_EQ(line, "") << "echo-server started on a regular file's path";
  EXPECT_NE(refused->wait(5s), 0);
  std::ifstream in(file);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "keep me\n");
}

INSTANTIATE_TEST_SUITE_P(Backends, EchoServerDgramTest, ::testing::Values("epoll", "uring"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace rfarm::test
