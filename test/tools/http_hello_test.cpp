// http-hello, tested as a program on both backends: real HTTP clients (curl, Python's http.client) get
// "Hello, World!" on keep-alive connections; pipelined requests sent in one write (and one cut in the middle)
// are all answered, in order; a bad request gets 400 and the connection closes; SIGTERM exits 0.
//
// The build passes RFARM_HTTP_HELLO, RFARM_PYTHON3 and RFARM_CURL (a test needing a missing one skips).
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "test/support/child_process.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

std::string env(const char* name) {
  const char* p = std::getenv(name);
  return p && *p ? p : "";
}

class HttpHelloTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (env("RFARM_HTTP_HELLO").empty()) GTEST_SKIP() << "RFARM_HTTP_HELLO is not set";
    auto server = ChildProcess::spawn({env("RFARM_HTTP_HELLO"), "--listen", "tcp:127.0.0.1:0", "--backend", GetParam()});
    ASSERT_TRUE(server) << server.error().message();
    server_.emplace(std::move(*server));
    std::string first = server_->read_line(5s).value_or("");
    ASSERT_TRUE(first.starts_with("tcp:127.0.0.1:")) << "first line: " << first;
    port_ = first.substr(first.rfind(':') + 1);
  }

  // Runs a Python script with the port as its argument; returns its stdout lines joined by '|'.
  std::string python(const std::string& script) {
    auto py = ChildProcess::spawn({python3(), "-c", script, port_});
    EXPECT_TRUE(py);
    if (!py) return "";
    std::string out;
    while (auto line = py->read_line(10s)) out += (out.empty() ? "" : "|") + *line;
    EXPECT_EQ(py->wait(10s), 0) << out;
    return out;
  }

  std::optional<ChildProcess> server_;  // killed and reaped when the test ends
  std::string port_;
};

TEST_P(HttpHelloTest, CurlGetsHelloTwiceOnOneConnection) {
  if (env("RFARM_CURL").empty()) GTEST_SKIP() << "curl not found";
  std::string url = "http://127.0.0.1:" + port_ + "/";
  // Two URLs in one curl run: the second reuses the connection (num_connects 0) if the first was kept alive.
  auto curl = ChildProcess::spawn({env("RFARM_CURL"), "-sS", "--max-time", "5", "-D", "-", "-w",
                                   "|connects=%{num_connects}\n", url, url});
  ASSERT_TRUE(curl);
  std::string all;
  while (auto line = curl->read_line(10s)) all += *line + "\n";
  EXPECT_EQ(curl->wait(10s), 0) << all;
  EXPECT_NE(all.find("HTTP/1.1 200 OK"), std::string::npos) << all;
  EXPECT_NE(all.find("Content-Length: 13"), std::string::npos) << all;
  EXPECT_NE(all.find("Content-Type: text/plain"), std::string::npos) << all;
  EXPECT_NE(all.find("Date: "), std::string::npos) << all;
  EXPECT_NE(all.find("Hello, World!|connects=1"), std::string::npos) << all;
  EXPECT_NE(all.find("Hello, World!|connects=0"), std::string::npos) << all;
}

TEST_P(HttpHelloTest, PythonHttpClientKeepsItsConnection) {
  EXPECT_EQ(python(R"(
import http.client, sys
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]), timeout=5)
for path in ('/', '/plaintext', '/anything?x=1'):
    c.request('GET', path)
    r = c.getresponse()
    print(r.status, r.read().decode(), r.getheader('Connection'))
c.request('POST', '/', body=b'x' * 1000)
r = c.getresponse()
print(r.status, r.read().decode())
)"),
            "200 Hello, World! keep-alive|200 Hello, World! keep-alive|200 Hello, World! keep-alive|200 Hello, World!");
}

TEST_P(HttpHelloTest, PipelinedRequestsAreAllAnsweredInOrder) {
  // 100 requests in one write, a HEAD among them (no body in its answer), then one request cut in two writes.
  EXPECT_EQ(python(R"(
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
reqs = b''.join(b'GET /%d HTTP/1.1\r\nHost: x\r\n\r\n' % i if i != 50 else b'HEAD / HTTP/1.1\r\n\r\n'
                for i in range(100))
s.sendall(reqs)
s.sendall(b'GET /cut HTTP/1.1\r\nHo')
time.sleep(0.1)
s.sendall(b'st: x\r\n\r\n')
want = 101
data = b''
while data.count(b'HTTP/1.1 200 OK') < want or not data.endswith(b'Hello, World!'):
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
answers = data.split(b'HTTP/1.1 200 OK')[1:]
print(len(answers), sum(a.endswith(b'Hello, World!') for a in answers), answers[50].endswith(b'\r\n\r\n'))
)"),
            "101 100 True");
}

TEST_P(HttpHelloTest, BadRequestGets400AndTheConnectionCloses) {
  EXPECT_EQ(python(R"(
import socket, sys
for bad in (b'GARBAGE\r\n\r\n', b'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
            b'GET / HTTP/1.1\r\n' + b'X: ' + b'a' * 9000 + b'\r\n\r\n'):
    s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
    s.sendall(b'GET /ok HTTP/1.1\r\n\r\n' + bad + b'GET /never HTTP/1.1\r\n\r\n')
    data = b''
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        data += chunk
    print(data.count(b'200 OK'), data.count(b'400 Bad Request'), data.endswith(b'Connection: close\r\n\r\n'))
)"),
            "1 1 True|1 1 True|1 1 True");
}

TEST_P(HttpHelloTest, ConnectionCloseIsAnsweredThenClosed) {
  EXPECT_EQ(python(R"(
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
s.sendall(b'GET / HTTP/1.1\r\nConnection: close\r\n\r\n')
data = b''
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
print(b'Connection: close' in data, data.endswith(b'Hello, World!'))
)"),
            "True True");
}

TEST_P(HttpHelloTest, SigtermStopsItWithStatusZero) {
  server_->terminate();
  EXPECT_EQ(server_->wait(5s), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpHelloTest, ::testing::Values("epoll", "uring"));

}  // namespace
}  // namespace rfarm::test
