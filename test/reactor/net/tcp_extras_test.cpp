// TCP extras on StreamSocket against a Python peer: urgent data both ways (out of band, inline, the mark),
// abortive close, keep-alive / user timeout / quick-ack / congestion control, TCP_INFO counters, and Fast Open
// carrying data in the SYN (in a network namespace of the test's own, where the server side may be enabled).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>
#include <fstream>
#include <sstream>
#include <string>

#include "reactor/net/socket_options.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/child_process.hpp"
#include "test/support/netns.hpp"

namespace rfarm::test {
namespace {

// Connects to our listener (argv[1] = port), waits for our one-byte "go" (our options are set by then),
// then sends "abc", "!" as urgent data and "def" corked into one segment, so all of it arrives at once; reads
// until we close.
const char* kUrgentSender = R"(
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
assert s.recv(1) == b"g"
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
s.sendall(b"abc")
s.send(b"!", socket.MSG_OOB)
s.sendall(b"def")
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
while s.recv(100): pass
print("done", flush=True)
)";

// Connects, waits for urgent data (select's exceptional set), reads it out of band, then the stream until we
// close; prints both.
const char* kUrgentReceiver = R"(
import socket, select, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
r, w, x = select.select([], [], [s], 10)
assert x, "no urgent data within 10 s"
oob = s.recv(1, socket.MSG_OOB)
data = b""
while True:
    chunk = s.recv(100)
    if not chunk: break
    data += chunk
print("oob=%s data=%s" % (oob.decode(), data.decode()), flush=True)
)";

// Connects and reports how the connection ends from its side: "reset" or "eof".
const char* kEndWatcher = R"(
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
try:
    while s.recv(100): pass
    print("eof", flush=True)
except ConnectionResetError:
    print("reset", flush=True)
)";

// Connects, sends "hello", resets the connection (SO_LINGER 0).
const char* kResetter = R"(
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
assert s.recv(1) == b"g"
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print("reset sent", flush=True)
)";

// Connects, receives argv[2] bytes, answers "ok", reads until we close.
const char* kCounter = R"(
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
want, got = int(sys.argv[2]), 0
while got < want:
    chunk = s.recv(65536)
    if not chunk: break
    got += len(chunk)
s.sendall(b"ok")
while s.recv(100): pass
print(got, flush=True)
)";

class TcpExtrasTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    if (!program_runs({python3(), "-c", "import socket, select"})) GTEST_SKIP() << "python3 is missing";
  }

  // A listener on 127.0.0.1 and a Python peer connecting to it, accepted.
  struct Peer {
    StreamListener listener;
    ChildProcess python;
    StreamSocket conn;
  };
  Result<Peer> python_peer(const char* script, std::vector<std::string> extra_args = {}) {
    auto listener = listen_loopback();
    if (!listener) return fail(listener.error());
    std::vector<std::string> argv{python3(), "-c", script, std::to_string(listener->local_address()->port())};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    auto python = ChildProcess::spawn(argv);
    if (!python) return fail(python.error());
    auto conn = run(accept_from(*listener));
    if (!conn) return fail(conn.error());
    return Peer{std::move(*listener), std::move(*python), std::move(*conn)};
  }

  static Task<Result<StreamSocket>> accept_from(StreamListener& listener) { co_return co_await listener.accept(); }

  // Whether this backend's wait_urgent wakes up when urgent data arrives. io_uring completes a poll with the
  // wake-up's key, and TCP's urgent wake-up carries no EPOLLPRI (Linux 6.18): a backend that polls POLLPRI
  // alone never wakes (it needs POLLPRI | POLLRDBAND; urgent_ops.hpp re-checks).
  bool urgent_wakes_up() {
    auto pair = tcp_pair();
    if (!pair) return false;
    bool woke = false;
    pair->second.async_wait_urgent([&](std::error_code) { woke = true; });
    run_for(2ms);
    if (::send(pair->first.native_handle(), "u", 1, MSG_OOB) != 1) return false;
    return run_until([&] { return woke; }, 500ms);
  }
};

#define SKIP_UNLESS_URGENT_WAKES_UP()                                                                        \
  if (!urgent_wakes_up())                                                                                    \
  GTEST_SKIP() << to_string(GetParam())                                                                      \
               << " backend: wait_urgent is never woken by TCP urgent data (io_uring: POLL_ADD must ask "     \
                  "POLLPRI | POLLRDBAND, reactor/backend/uring/uring_submit.cpp)"

// Reads until want bytes arrived or the stream ends.
Task<std::string> read_bytes(StreamSocket& sock, std::size_t want) {
  std::string all;
  std::array<std::byte, 256> buffer;
  while (all.size() < want) {
    auto n = co_await sock.recv(buffer);
    if (!n || *n == 0) break;
    all.append(as_chars(ConstBytes(buffer.data(), *n)));
  }
  co_return all;
}

TEST_P(TcpExtrasTest, ReceivesPythonsUrgentByteOutOfBand) {
  SKIP_UNLESS_URGENT_WAKES_UP();
  auto peer = python_peer(kUrgentSender);
  ASSERT_TRUE(peer) << peer.error().message();
  StreamSocket& conn = peer->conn;
  auto [urgent, stream] = run([](StreamSocket& s) -> Task<std::pair<Result<std::byte>, std::string>> {
    co_await s.send_all(as_bytes("g"));
    auto b = co_await s.recv_urgent();
    co_return std::pair{b, co_await read_bytes(s, 6)};
  }(conn));
  ASSERT_TRUE(urgent) << urgent.error().message();
  EXPECT_EQ(static_cast<char>(*urgent), '!');
  EXPECT_EQ(stream, "abcdef") << "the urgent byte is taken out of the stream";
  conn.close();
  run_for(1ms);
  EXPECT_EQ(peer->python.read_line(5s), "done");
}

// A read stops short at the urgent mark with more data queued behind it: that short read must not be taken
// for "the socket is drained" (the epoll backend's readiness hint once was, and the rest never came).
TEST_P(TcpExtrasTest, UrgentDataFromThePeerDoesNotStallOrdinaryReads) {
  auto peer = python_peer(kUrgentSender);
  ASSERT_TRUE(peer) << peer.error().message();
  StreamSocket& conn = peer->conn;
  auto stream = run([](StreamSocket& s) -> Task<std::string> {
    co_await s.send_all(as_bytes("g"));
    co_return co_await read_bytes(s, 6);  // pending before the data comes: all of it arrives in one event
  }(conn));
  EXPECT_EQ(stream, "abcdef") << "the urgent byte, not read out of band, is left out of the stream";
}

TEST_P(TcpExtrasTest, ReceivesUrgentByteWithCallbacks) {
  SKIP_UNLESS_URGENT_WAKES_UP();
  auto peer = python_peer(kUrgentSender);
  ASSERT_TRUE(peer) << peer.error().message();
  StreamSocket& conn = peer->conn;
  std::optional<std::error_code> waited;
  std::optional<Result<std::byte>> urgent;
  conn.async_send(as_bytes("g"), [](Result<std::size_t>) {});
  conn.async_wait_urgent([&](std::error_code ec) {
    waited = ec;
    conn.async_recv_urgent([&](Result<std::byte> b) { urgent = b; });
  });
  ASSERT_TRUE(run_until([&] { return urgent.has_value(); }));
  EXPECT_FALSE(*waited) << waited->message();
  ASSERT_TRUE(*urgent) << urgent->error().message();
  EXPECT_EQ(static_cast<char>(**urgent), '!');
  EXPECT_EQ(run(read_bytes(conn, 6)), "abcdef");
}

TEST_P(TcpExtrasTest, OobInlineLeavesTheUrgentByteInTheStreamAtTheMark) {
  SKIP_UNLESS_URGENT_WAKES_UP();
  auto peer = python_peer(kUrgentSender);
  ASSERT_TRUE(peer) << peer.error().message();
  StreamSocket& conn = peer->conn;
  ASSERT_FALSE(conn.set(option::OobInline(true)));
  EXPECT_TRUE(conn.get<option::OobInline>().value().enabled());
  ASSERT_FALSE(run([](StreamSocket& s) -> Task<std::error_code> {
    co_await s.send_all(as_bytes("g"));
    co_return co_await s.wait_urgent();  // still announced by POLLPRI, inline or not
  }(conn)));
  EXPECT_EQ(conn.at_mark().value(), false);
  // A read stops short of the mark: "abc" alone, and then the mark is next.
  std::string before = run(read_bytes(conn, 1));
  EXPECT_EQ(before, "abc");
  EXPECT_EQ(conn.at_mark().value(), true);
  auto out_of_band = run([](StreamSocket& s) -> Task<Result<std::byte>> { co_return co_await s.recv_urgent(); }(conn));
  ASSERT_FALSE(out_of_band);
  EXPECT_EQ(out_of_band.error(), std::errc::invalid_argument) << "inline urgent data is not readable out of band";
  EXPECT_EQ(run(read_bytes(conn, 4)), "!def");
  EXPECT_EQ(conn.at_mark().value(), false);
}

TEST_P(TcpExtrasTest, PythonReadsOurUrgentByteOutOfBand) {
  auto peer = python_peer(kUrgentReceiver);
  ASSERT_TRUE(peer) << peer.error().message();
  StreamSocket& conn = peer->conn;
  auto sent = run([](StreamSocket& s) -> Task<Result<std::size_t>> {
    if (auto r = co_await s.send_all(as_bytes("hello")); !r) co_return r;
    co_return co_await s.send_urgent(as_bytes("!"));
  }(conn));
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, 1u);
  conn.shutdown(ShutdownHow::send);
  EXPECT_EQ(peer->python.read_line(5s), "oob=! data=hello");
}

TEST_P(TcpExtrasTest, PythonReadsOurUrgentByteSentWithACallback) {
  auto peer = python_peer(kUrgentReceiver);
  ASSERT_TRUE(peer) << peer.error().message();
  StreamSocket& conn = peer->conn;
  std::optional<Result<std::size_t>> sent;
  conn.async_send_urgent(as_bytes("xy!"), [&](Result<std::size_t> n) { sent = n; });
  EXPECT_FALSE(sent) << "a handler never runs inside the call that started it";
  ASSERT_TRUE(run_until([&] { return sent.has_value(); }));
  ASSERT_TRUE(*sent) << sent->error().message();
  EXPECT_EQ(**sent, 3u);
  conn.shutdown(ShutdownHow::send);
  EXPECT_EQ(peer->python.read_line(5s), "oob=! data=xy") << "only the last byte sent is urgent";
}

TEST_P(TcpExtrasTest, RecvUrgentReportsAResetAsConnectionReset) {
  auto peer = python_peer(kResetter);
  ASSERT_TRUE(peer) << peer.error().message();
  StreamSocket& conn = peer->conn;
  auto urgent = run([](StreamSocket& s) -> Task<Result<std::byte>> {
    co_await s.send_all(as_bytes("g"));
    co_return co_await s.recv_urgent();
  }(conn));
  ASSERT_FALSE(urgent);
  EXPECT_EQ(urgent.error(), Condition::connection_reset) << urgent.error().message();
}

TEST_P(TcpExtrasTest, CloseCancelsAWaitForUrgentData) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  std::optional<Result<std::byte>> urgent;
  pair->second.async_recv_urgent([&](Result<std::byte> b) { urgent = b; });
  run_for(5ms);
  EXPECT_FALSE(urgent) << "no urgent data was sent";
  pair->second.close();
  ASSERT_TRUE(run_until([&] { return urgent.has_value(); }));
  ASSERT_FALSE(*urgent);
  EXPECT_EQ(urgent->error(), std::errc::operation_canceled);
}

TEST_P(TcpExtrasTest, AbortResetsThePeer) {
  auto peer = python_peer(kEndWatcher);
  ASSERT_TRUE(peer) << peer.error().message();
  peer->conn.abort();
  EXPECT_FALSE(peer->conn.is_open());
  run_for(1ms);  // lets a backend that closes asynchronously finish the close
  EXPECT_EQ(peer->python.read_line(5s), "reset");
}

TEST_P(TcpExtrasTest, GracefulCloseGivesThePeerEndOfStream) {  // the control for AbortResetsThePeer
  auto peer = python_peer(kEndWatcher);
  ASSERT_TRUE(peer) << peer.error().message();
  peer->conn.close();
  run_for(1ms);
  EXPECT_EQ(peer->python.read_line(5s), "eof");
}

TEST_P(TcpExtrasTest, LingerReadsBack) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  StreamSocket& s = pair->first;
  EXPECT_FALSE(s.get<option::Linger>().value().enabled()) << "off by default";
  ASSERT_FALSE(s.set_linger(true, 3s));
  auto linger = s.get<option::Linger>();
  ASSERT_TRUE(linger);
  EXPECT_TRUE(linger->enabled());
  EXPECT_EQ(linger->timeout(), 3s);
}

TEST_P(TcpExtrasTest, KeepAliveTimingIsSetInOneCall) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  StreamSocket& s = pair->first;
  ASSERT_FALSE(s.set_keepalive(45s, 6s, 3));
  EXPECT_TRUE(s.get<option::KeepAlive>().value().enabled());
  EXPECT_EQ(s.get<option::KeepAliveIdle>().value().value, 45);
  EXPECT_EQ(s.get<option::KeepAliveInterval>().value().value, 6);
  EXPECT_EQ(s.get<option::KeepAliveCount>().value().value, 3);
  EXPECT_EQ(s.set_keepalive(0s, 6s, 3), std::errc::invalid_argument) << "the kernel wants an idle time >= 1 s";
}

TEST_P(TcpExtrasTest, UserTimeoutAndQuickAckReadBack) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  StreamSocket& s = pair->first;
  ASSERT_FALSE(s.set_user_timeout(1500ms));
  EXPECT_EQ(s.get<option::UserTimeout>().value().value, 1500);
  ASSERT_FALSE(s.set_quickack(false));
  EXPECT_FALSE(s.get<option::QuickAck>().value().enabled());
  ASSERT_FALSE(s.set_quickack(true));
  EXPECT_TRUE(s.get<option::QuickAck>().value().enabled());
}

std::string read_proc(const char* path) {
  std::ifstream f(path);
  std::string text;
  std::getline(f, text);
  return text;
}

TEST_P(TcpExtrasTest, CongestionControlIsTheKernelDefaultAndCanBeSwitched) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  StreamSocket& s = pair->first;
  auto name = s.congestion_control();
  ASSERT_TRUE(name) << name.error().message();
  EXPECT_EQ(*name, read_proc("/proc/sys/net/ipv4/tcp_congestion_control"));
  std::istringstream available(read_proc("/proc/sys/net/ipv4/tcp_available_congestion_control"));
  bool has_reno = false;
  for (std::string n; available >> n;) has_reno |= n == "reno";
  if (has_reno) {
    ASSERT_FALSE(s.set_congestion_control("reno"));
    EXPECT_EQ(s.congestion_control().value(), "reno");
  }
  EXPECT_EQ(s.set_congestion_control("no-such-cc"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(s.set_congestion_control("a-name-too-long-for-tcp"), std::errc::invalid_argument)
      << "refused, not cut short to another name";
  if (!has_reno) GTEST_SKIP() << "reno is not in tcp_available_congestion_control: switching untested";
}

TEST_P(TcpExtrasTest, TcpInfoCountsTheBytesExchangedWithPython) {
  constexpr std::size_t kSent = 100'000;
  auto peer = python_peer(kCounter, {std::to_string(kSent)});
  ASSERT_TRUE(peer) << peer.error().message();
  StreamSocket& conn = peer->conn;
  std::string payload(kSent, 'x');
  auto reply = run([](StreamSocket& s, std::string& data) -> Task<std::string> {
    if (!co_await s.send_all(as_bytes(data))) co_return "send failed";
    co_return co_await read_bytes(s, 2);
  }(conn, payload));
  EXPECT_EQ(reply, "ok");
  // Python answered after reading everything, but our stack may not have processed its last ACK yet.
  Result<TcpInfo> info = conn.tcp_info();
  ASSERT_TRUE(run_until([&] {
    info = conn.tcp_info();
    return !info || info->bytes_acked >= kSent;
  }));
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->state, TcpState::established) << to_string(info->state);
  EXPECT_EQ(info->bytes_acked, kSent);
  EXPECT_EQ(info->bytes_received, 2u);
  EXPECT_GE(info->bytes_sent, kSent);
  EXPECT_GT(info->rtt.count(), 0);
  EXPECT_GT(info->snd_cwnd, 0u);
  EXPECT_GT(info->snd_mss, 0u);
  EXPECT_GT(info->segs_out, 1u);
  EXPECT_GE(info->kernel_size, 136u) << "the kernel filled at least up to bytes_received";
  conn.close();
  run_for(1ms);  // lets a backend that closes asynchronously finish the close
  EXPECT_EQ(peer->python.read_line(5s), std::to_string(kSent));
}

TEST_P(TcpExtrasTest, TcpOnlyCallsFailOnAUnixSocket) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  StreamSocket& s = pair->first;
  EXPECT_FALSE(s.tcp_info());
  EXPECT_TRUE(s.set_keepalive(10s, 1s, 1));
  EXPECT_TRUE(s.set_congestion_control("reno"));
  EXPECT_FALSE(s.congestion_control());
  EXPECT_FALSE(s.set_linger(true, 0s)) << "SO_LINGER is a socket-level option: fine on Unix sockets";
}

TEST_P(TcpExtrasTest, FastOpenOptionsReadBack) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  ASSERT_FALSE(listener->set(option::FastOpen(16)));
  EXPECT_EQ(listener->get<option::FastOpen>().value().value, 16);
  auto client = StreamSocket::open(reactor(), AF_INET);
  ASSERT_TRUE(client);
  ASSERT_FALSE(client->set(option::FastOpenConnect(true)));
  EXPECT_TRUE(client->get<option::FastOpenConnect>().value().enabled());
}

// A Python server with TCP_FASTOPEN; net.ipv4.tcp_fastopen = 3 (client and server) in our own namespace.
const char* kFastOpenServer = R"(
import socket
srv = socket.socket()
srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
srv.bind(("127.0.0.1", 0))
srv.listen()
print(srv.getsockname()[1], flush=True)
for i in range(2):
    c, _ = srv.accept()
    c.settimeout(10)
    print(c.recv(100).decode(), flush=True)
    c.close()
)";

TEST_P(TcpExtrasTest, FastOpenCarriesTheFirstSendInTheSyn) {
  std::string why;
  auto net = VethNamespaces::create("tfo", &why, {.veth_pair = false});
  if (!net) GTEST_SKIP() << "cannot create a network namespace: " << why;
  if (run_command(net->exec_in(Side::a, {"sysctl", "-qw", "net.ipv4.tcp_fastopen=3"})) != 0)
    GTEST_SKIP() << "cannot enable TCP Fast Open (net.ipv4.tcp_fastopen) in the test namespace";
  auto python = ChildProcess::spawn(net->exec_in(Side::a, {python3(), "-c", kFastOpenServer}));
  ASSERT_TRUE(python) << python.error().message();
  auto port_text = python->read_line(5s);
  ASSERT_TRUE(port_text);
  Address server = Address::loopback_v4(static_cast<std::uint16_t>(std::stoi(*port_text)));

  auto connect_and_send = [&](std::string text) -> Result<TcpInfo> {
    // The client socket is made inside the namespace, where the server listens on its loopback.
    auto made = net->run_in(Side::a, [&] { return StreamSocket::open(reactor(), AF_INET); });
    if (!made) return fail(made.error());
    Result<StreamSocket> client = std::move(*made);
    if (!client) return fail(client.error());
    if (auto ec = client->set(option::FastOpenConnect(true))) return fail(ec);
    return run([](StreamSocket& s, Address to, std::string data) -> Task<Result<TcpInfo>> {
      if (auto ec = co_await s.connect_to(to, 2s)) co_return fail(ec);
      if (auto n = co_await s.send_all(as_bytes(data)); !n) co_return fail(n.error());
      std::array<std::byte, 16> buffer;
      auto n = co_await s.recv(buffer);  // the server closes after reading: the SYN-ACK has come and gone
      if (!n) co_return fail(n.error());
      co_return s.tcp_info();
    }(*client, server, text));
  };
  // The first connection only fetches a cookie; the second one sends its data in the SYN (RFC 7413).
  auto first = connect_and_send("first");
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_FALSE(first->syn_data_acked());
  EXPECT_EQ(python->read_line(5s), "first");
  auto second = connect_and_send("second");
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_TRUE(second->syn_data_acked()) << "the data rode in the SYN and the server acknowledged it";
  EXPECT_EQ(python->read_line(5s), "second");
  EXPECT_EQ(python->wait(5s), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(TcpExtrasTest);

}  // namespace
}  // namespace rfarm::test
