// The io_uring backend's own machinery (reactor/uring): the provided-buffer ring, abandon and close while the
// kernel holds a request, and the fallback when io_uring is refused. Behaviour every backend shares is tested
// by the backend-parametrized suites; these need the backend's internals or a uring-only situation.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_socket.hpp"
#include "reactor/backend/uring/uring_backend.hpp"

namespace rfarm {
namespace {

using namespace std::chrono_literals;

class UringBackendTest : public ::testing::Test {
 protected:
  void SetUp() override { open({}); }

  void open(ReactorOptions options) {
    reactor_.reset();
    options.backend = BackendKind::uring;
    options.log_sink = [this](LogLevel, std::string_view line) { log_.emplace_back(line); };
    auto created = Reactor::create(options);
    ASSERT_TRUE(created) << created.error().message();
    reactor_ = std::move(*created);
    if (reactor_->backend_kind() != BackendKind::uring)
      GTEST_SKIP() << "io_uring unavailable here: " << (log_.empty() ? "no reason logged" : log_.front());
  }

  Reactor& reactor() { return *reactor_; }
  detail::UringStats stats() { return detail::uring_stats(reactor_->backend()); }

  [[nodiscard]] bool run_until(const std::function<bool()>& done, Duration limit = 5s) {
    const auto deadline = Clock::now() + limit;
    while (!done() && Clock::now() < deadline) reactor_->run_once(10ms);
    return done();
  }

  void run_for(Duration d) {
    const auto until = Clock::now() + d;
    while (Clock::now() < until) reactor_->run_once(1ms);
  }

  std::pair<StreamSocket, StreamSocket> socket_pair() {
    auto p = StreamSocket::pair(*reactor_);
    EXPECT_TRUE(p);
    return std::move(*p);
  }

  static void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::write(fd, s.data(), s.size());
      if (n < 0 && errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      ASSERT_GT(n, 0);
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  std::vector<std::string> log_;  // before the reactor: it logs into this until its end
  std::unique_ptr<Reactor> reactor_;
};

// Receives pooled buffers until end of stream; returns everything received.
std::string drain_pooled(UringBackendTest& t, StreamSocket& sock, std::function<bool(const std::function<bool()>&)> run) {
  std::string all;
  bool eof = false;
  while (!eof) {
    bool done = false;
    sock.async_recv_pooled([&](Result<PooledBuffer> r) {
      done = true;
      if (!r || r->empty()) {
        eof = true;
        return;
      }
      all.append(reinterpret_cast<const char*>(r->data()), r->size());
    });
    if (!run([&] { return done; })) break;
  }
  (void)t;
  return all;
}

TEST_F(UringBackendTest, PooledReceiveLeasesARingBufferThatGoesBackWhenReleased) {
  auto [a, b] = socket_pair();
  write_all(b.native_handle(), "hello");
  PooledBuffer got;
  bool done = false;
  a.async_recv_pooled([&](Result<PooledBuffer> r) {
    ASSERT_TRUE(r);
    got = std::move(*r);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got.data()), got.size()), "hello");
  EXPECT_EQ(stats().buffers_leased, 1u);
  EXPECT_EQ(reactor().receive_pool().stats().leased, 0u) << "uring receives must not use the epoll pool";
  got.reset();
  EXPECT_EQ(stats().buffers_leased, 0u);
}

TEST_F(UringBackendTest, DataArrivingWhileNobodyReceivesWaitsInOrderBeforeEndOfStream) {
  auto [a, b] = socket_pair();
  // One receive arms the handle's multishot; what comes afterwards arrives with no receive pending.
  write_all(b.native_handle(), "0");
  bool first = false;
  a.async_recv_pooled([&](Result<PooledBuffer> r) { first = r && r->size() == 1; });
  ASSERT_TRUE(run_until([&] { return first; }));
  for (const char* part : {"one", "two", "three"}) {
    write_all(b.native_handle(), part);
    run_for(5ms);
  }
  ::shutdown(b.native_handle(), SHUT_WR);
  run_for(5ms);
  EXPECT_EQ(drain_pooled(*this, a, [&](const std::function<bool()>& d) { return run_until(d); }), "onetwothree");
  // End of stream stays: a later receive sees it again.
  bool again = false;
  a.async_recv_pooled([&](Result<PooledBuffer> r) { again = r && r->empty(); });
  EXPECT_TRUE(run_until([&] { return again; }));
}

TEST_F(UringBackendTest, RingRunningDryPausesReceivingUntilBuffersComeBack) {
  ReactorOptions options;
  options.uring_buffer_ring_entries = 4;
  options.receive_buffer_size = 1024;
  open(options);
  if (IsSkipped()) return;
  auto [a, b] = socket_pair();
  std::string sent;
  for (int i = 0; i < 64 * 1024; ++i) sent.push_back(static_cast<char>('a' + i % 26));
  write_all(b.native_handle(), sent);

  std::vector<PooledBuffer> held;  // holding every buffer empties the ring
  std::string received;
  int completed = 0;  // outlives every handler: one may complete after receive_one gave up on it
  auto receive_one = [&]() -> bool {
    const int before = completed;
    a.async_recv_pooled([&](Result<PooledBuffer> r) {
      ASSERT_TRUE(r);
      received.append(reinterpret_cast<const char*>(r->data()), r->size());
      held.push_back(std::move(*r));
      ++completed;
    });
    return run_until([&] { return completed > before; }, 200ms);
  };
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(receive_one()) << "buffer " << i;
  EXPECT_EQ(stats().buffers_leased, 4u);
  EXPECT_FALSE(receive_one()) << "the ring is empty: nothing can be received";
  held.clear();  // the buffers go back; the starved multishot re-arms and the pending receive completes
  ASSERT_TRUE(run_until([&] { return held.size() == 1; }));
  while (received.size() < sent.size()) {
    held.clear();
    ASSERT_TRUE(receive_one());
  }
  EXPECT_EQ(received, sent);
}

// The ring starts with 16 buffers and doubles when it runs dry: a server whose connections never have more than
// a few receives in flight touches a few buffers' pages, not the whole ring's (bench/README.md, idle memory).
TEST_F(UringBackendTest, BufferRingStartsSmallAndGrowsWhenReceivesHoldEveryBuffer) {
  EXPECT_EQ(stats().buffers_provided, 16u);
  constexpr int kPairs = 100;  // more receives held at once than the ring starts with
  std::vector<std::pair<StreamSocket, StreamSocket>> pairs;
  std::vector<PooledBuffer> held;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(socket_pair());
    write_all(pairs.back().second.native_handle(), "x");
    pairs.back().first.async_recv_pooled([&](Result<PooledBuffer> r) {
      ASSERT_TRUE(r);
      ASSERT_EQ(r->size(), 1u);
      held.push_back(std::move(*r));
    });
  }
  ASSERT_TRUE(run_until([&] { return held.size() == kPairs; })) << held.size() << " of " << kPairs << " received";
  EXPECT_EQ(stats().buffers_leased, static_cast<std::size_t>(kPairs));
  EXPECT_EQ(stats().buffers_provided, 128u) << "grown by doubling, 16 -> 128";
}

// It grows too when every receive gives its buffer back at once (an echo with direct sends): the kernel still
// fills one buffer per connection before the loop sees any completion, so the ring runs dry although nobody
// holds a buffer when the -ENOBUFS is read. (Before: it never grew, and every multishot ended and re-armed on
// each busy turn, ~1,400 user instructions per message more at 1,000 connections.)
TEST_F(UringBackendTest, BufferRingGrowsWhenReceivesGiveTheirBuffersBackAtOnce) {
  constexpr int kPairs = 100;
  constexpr int kRounds = 5;
  std::vector<std::pair<StreamSocket, StreamSocket>> pairs;
  for (int i = 0; i < kPairs; ++i) pairs.push_back(socket_pair());
  int received = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (auto& [a, b] : pairs) {
      write_all(b.native_handle(), "x");
      a.async_recv_pooled([&](Result<PooledBuffer> r) {
        ASSERT_TRUE(r);
        ASSERT_EQ(r->size(), 1u);
        ++received;  // the buffer goes back as the handler returns
      });
    }
    ASSERT_TRUE(run_until([&] { return received == (round + 1) * kPairs; }))
        << received << " of " << (round + 1) * kPairs << " received";
  }
  EXPECT_EQ(stats().buffers_leased, 0u);
  EXPECT_GT(stats().buffers_provided, 16u) << "a ring that ran dry each round never grew";
}

// ...and halves again once the receives in flight stay few for a few rounds of the ring: the buffers above the
// new size are parked as they come back (their pages given back), so a burst long past does not keep its pages
// in the resident set of a server that now only idles. A new burst provides them again, bytes intact.
TEST_F(UringBackendTest, BufferRingShrinksAfterTheBurstAndGrowsAgain) {
  constexpr std::size_t kInitial = 16;
  constexpr std::size_t kGrown = 128;  // 100 receives held at once: 16 -> 32 -> 64 -> 128
  constexpr int kPairs = 100;
  std::vector<std::pair<StreamSocket, StreamSocket>> pairs;
  for (int i = 0; i < kPairs; ++i) pairs.push_back(socket_pair());
  // Every connection receives one byte, all held at once (a burst), or one at a time (light load).
  auto burst = [&](char tag) {
    std::vector<PooledBuffer> held;
    for (int i = 0; i < kPairs; ++i) {
      write_all(pairs[i].second.native_handle(), std::string(1, tag));
      pairs[i].first.async_recv_pooled([&held, tag](Result<PooledBuffer> r) {
        ASSERT_TRUE(r);
        ASSERT_EQ(r->size(), 1u);
        EXPECT_EQ(static_cast<char>(r->data()[0]), tag);
        held.push_back(std::move(*r));
      });
    }
    return run_until([&] { return held.size() == kPairs; });
  };
  auto one_at_a_time = [&](int messages) {
    for (int m = 0; m < messages; ++m) {
      auto& [a, b] = pairs[m % kPairs];
      write_all(b.native_handle(), "L");
      bool got = false;
      a.async_recv_pooled([&](Result<PooledBuffer> r) { got = r && r->size() == 1 && r->data()[0] == std::byte{'L'}; });
      if (!run_until([&] { return got; })) return false;
    }
    return true;
  };

  ASSERT_TRUE(burst('a'));
  EXPECT_EQ(stats().buffers_provided, kGrown) << "grown by the burst";
  // Halving takes four rounds of the ring's size in light recycles: 4 x (128 + 64 + 32) = 896.
  ASSERT_TRUE(one_at_a_time(1000));
  EXPECT_EQ(stats().buffers_provided, kInitial) << "not shrunk back after 1000 light receives";
  EXPECT_EQ(stats().buffers_leased, 0u);
  ASSERT_TRUE(one_at_a_time(200));
  EXPECT_EQ(stats().buffers_provided, kInitial) << "went below its initial size";
  ASSERT_TRUE(burst('b'));
  EXPECT_EQ(stats().buffers_provided, kGrown) << "the parked buffers come back for the next burst";
  // That burst ran the shrunk ring dry: the next shrink waits twice as long, 8 x (128 + 64 + 32) = 1792 light
  // recycles (the burst's own return gives ~17 more), so a load that keeps needing the buffers stops
  // thrashing the ring.
  ASSERT_TRUE(one_at_a_time(900));
  EXPECT_EQ(stats().buffers_provided, kGrown) << "shrank as soon as before, though the last shrink ran dry";
  ASSERT_TRUE(one_at_a_time(1000));
  EXPECT_EQ(stats().buffers_provided, kInitial) << "never shrank after the second burst";
}

// A standing receive (PooledExchange::start_receiving) that keeps every buffer it gets, so the ring runs dry.
class StandingHolder : public StreamSocket::PooledExchangeOperation<StandingHolder> {
 public:
  explicit StandingHolder(std::vector<PooledBuffer>& held) : held_(held) {}
  void on_received(std::error_code ec) noexcept {
    if (ec || buffer().empty()) {
      ended = true;
      return;
    }
    got.append(reinterpret_cast<const char*>(buffer().data()), buffer().size());
    held_.push_back(std::move(buffer()));
  }
  void on_sent(std::error_code) noexcept {}
  std::string got;
  bool ended = false;

 private:
  std::vector<PooledBuffer>& held_;
};

// Standing receives stay armed through a dry ring: their multishots end with -ENOBUFS, re-arm when the ring
// grows, and the bytes reach the same, never restarted, receive (serve_standing after rearm_starved).
TEST_F(UringBackendTest, StandingReceivesStayArmedThroughADryBufferRing) {
  constexpr int kPairs = 100;  // more buffers held than the ring starts with, every round
  std::vector<std::pair<StreamSocket, StreamSocket>> pairs;
  std::vector<PooledBuffer> held;
  std::vector<std::unique_ptr<StandingHolder>> receivers;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(socket_pair());
    receivers.push_back(std::make_unique<StandingHolder>(held));
    ASSERT_FALSE(receivers.back()->start_receiving(pairs.back().first)) << "nothing was sent yet";
  }
  const std::string tags = "abc";
  for (std::size_t round = 0; round < tags.size(); ++round) {
    for (auto& [a, b] : pairs) write_all(b.native_handle(), std::string(1, tags[round]));
    ASSERT_TRUE(run_until([&] {
      for (auto& r : receivers)
        if (r->got.size() < round + 1) return false;
      return true;
    })) << "round " << round;
    for (auto& r : receivers) ASSERT_TRUE(r->receiving()) << "a standing receive was left disarmed";
  }
  for (auto& r : receivers) EXPECT_EQ(r->got, tags);
  EXPECT_EQ(held.size(), kPairs * tags.size());
  EXPECT_GE(stats().buffers_provided, 256u) << "the ring never ran dry: the test did not test the starved path";
  held.clear();
  EXPECT_EQ(stats().buffers_leased, 0u);
  for (auto& [a, b] : pairs) ::shutdown(b.native_handle(), SHUT_WR);
  ASSERT_TRUE(run_until([&] {
    for (auto& r : receivers)
      if (!r->ended) return false;
    return true;
  }));
  for (auto& r : receivers) EXPECT_FALSE(r->receiving());
}

TEST_F(UringBackendTest, PlainReceiveAfterPooledOnesGetsEveryByteInOrder) {
  auto [a, b] = socket_pair();
  write_all(b.native_handle(), "p");
  bool pooled = false;
  a.async_recv_pooled([&](Result<PooledBuffer> r) { pooled = r && r->size() == 1; });
  ASSERT_TRUE(run_until([&] { return pooled; }));
  // The multishot is still armed: these bytes land in the handle's arrivals before anyone asks.
  write_all(b.native_handle(), "queued-");
  run_for(5ms);
  std::string got;
  for (const char* later : {"", "after"}) {
    write_all(b.native_handle(), later);
    char buffer[64];
    bool done = false;
    a.async_recv(as_writable_bytes(std::span(buffer)), [&](Result<std::size_t> r) {
      ASSERT_TRUE(r);
      got.append(buffer, *r);
      done = true;
    });
    ASSERT_TRUE(run_until([&] { return done; }));
  }
  EXPECT_EQ(got, "queued-after");
}

// A plain receive goes to the kernel without the caller's buffer: a ring buffer is picked when the bytes come
// and copied out at the completion, so the waiting receive pins none and the kernel writes no caller memory.
TEST_F(UringBackendTest, PlainReceiveWaitsWithoutARingBufferAndCopiesOutOfOne) {
  auto [a, b] = socket_pair();
  std::string buffer(64, 'S');
  bool done = false;
  std::size_t n = 0;
  a.async_recv(as_writable_bytes(std::span(buffer.data(), buffer.size())), [&](Result<std::size_t> r) {
    n = r.value_or(0);
    done = true;
  });
  run_for(5ms);
  ASSERT_FALSE(done);
  EXPECT_EQ(stats().buffers_leased, 0u) << "a waiting plain receive holds a ring buffer";
  write_all(b.native_handle(), "abc");
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_EQ(buffer.substr(0, n), "abc");
  EXPECT_EQ(buffer.substr(n), std::string(64 - n, 'S')) << "written past what was received";
  EXPECT_EQ(stats().buffers_leased, 0u) << "the ring buffer went back after the copy";
}

int g_completions = 0;
int g_last_result = 0;
void count_completion(detail::IoOp& op) noexcept {
  ++g_completions;
  g_last_result = op.result;
}

// A receive with control data (passed descriptors) goes to the kernel with its own buffers (a plain receive
// never does: it is copied out of the multishot's ring buffers).
void ask_for_control_data(detail::MsgOp& op, std::span<char> control) {
  op.msg.msg_control = control.data();
  op.msg.msg_controllen = control.size();
}

TEST_F(UringBackendTest, AbandonedReceiveInTheKernelNeverWritesItsBuffer) {
  auto [a, b] = socket_pair();
  std::string buffer(64, 'S');
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  g_completions = 0;
  {
    detail::MsgOp op(detail::OpKind::recv, &count_completion);
    op.handle = a.state();
    op.set_buffer(buffer.data(), buffer.size());
    ask_for_control_data(op, control);
    ASSERT_FALSE(reactor().backend().start(op));
    reactor().run_once(Duration(0));  // submitted: the kernel now holds the receive
  }  // ~IoOp abandons it: the cancel goes to the kernel before this memory could be reused
  write_all(b.native_handle(), "data");
  run_for(20ms);
  EXPECT_EQ(buffer, std::string(64, 'S'));
  EXPECT_EQ(g_completions, 0);
  // Nothing was consumed by the abandoned receive: the next one gets the bytes.
  char out[16] = {};
  bool done = false;
  std::size_t n = 0;
  a.async_recv(as_writable_bytes(std::span(out)), [&](Result<std::size_t> r) {
    n = r.value_or(0);
    done = true;
  });
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_EQ(std::string(out, n), "data");
}

TEST_F(UringBackendTest, ReceiveAbandonedBeforeSubmissionBecomesANop) {
  auto [a, b] = socket_pair();
  std::string buffer(64, 'S');
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  g_completions = 0;
  const std::size_t baseline = stats().requests_in_flight;
  {
    detail::MsgOp op(detail::OpKind::recv, &count_completion);
    op.handle = a.state();
    op.set_buffer(buffer.data(), buffer.size());
    ask_for_control_data(op, control);
    ASSERT_FALSE(reactor().backend().start(op));
  }
  write_all(b.native_handle(), "data");
  run_for(20ms);
  EXPECT_EQ(buffer, std::string(64, 'S'));
  EXPECT_EQ(g_completions, 0);
  EXPECT_EQ(stats().requests_in_flight, baseline) << "the NOP's completion frees its slot";
}

TEST_F(UringBackendTest, CloseCompletesKernelOperationsOnceAndNotInsideClose) {
  auto [a, b] = socket_pair();
  char buffer[16];
  g_completions = 0;
  detail::MsgOp op(detail::OpKind::recv, &count_completion);
  op.handle = a.state();
  op.set_buffer(buffer, sizeof buffer);
  ASSERT_FALSE(reactor().backend().start(op));
  reactor().run_once(Duration(0));
  a.close();
  EXPECT_EQ(g_completions, 0) << "close() must not complete operations inline";
  ASSERT_TRUE(run_until([&] { return g_completions == 1; }));
  EXPECT_EQ(g_last_result, -ECANCELED);
  run_for(20ms);  // the kernel's own -ECANCELED CQE arrives for a request nobody waits for
  EXPECT_EQ(g_completions, 1);
  EXPECT_FALSE(op.pending);
}

TEST_F(UringBackendTest, SendQueuedBehindAShortSendDoesNotOvertakeItsRest) {
  auto [a, b] = socket_pair();
  std::string big(4 << 20, 'A');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  bool big_done = false;
  bool tail_done = false;
  a.async_send_all(as_bytes(std::span(big.data(), big.size())), [&](Result<std::size_t> r) {
    EXPECT_EQ(r.value_or(0), big.size());
    big_done = true;
  });
  a.async_send(as_bytes(std::span("tail", 4)), [&](Result<std::size_t> r) {
    EXPECT_EQ(r.value_or(0), 4u);
    tail_done = true;
  });
  std::string received;
  ::fcntl(b.native_handle(), F_SETFL, O_NONBLOCK);
  std::vector<char> chunk(256 * 1024);
  const auto deadline = Clock::now() + 10s;
  while (received.size() < big.size() + 4 && Clock::now() < deadline) {
    reactor().run_once(1ms);
    ssize_t n;
    while ((n = ::read(b.native_handle(), chunk.data(), chunk.size())) > 0) received.append(chunk.data(), static_cast<std::size_t>(n));
  }
  ASSERT_TRUE(run_until([&] { return big_done && tail_done; }));
  ASSERT_EQ(received.size(), big.size() + 4);
  EXPECT_TRUE(received.compare(0, big.size(), big) == 0);
  EXPECT_EQ(received.substr(big.size()), "tail");
}

TEST_F(UringBackendTest, WatchNotifiesEveryTurnWhileReady) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  int notified = 0;
  ReadinessWatch watch(reactor());
  ASSERT_FALSE(watch.start(fds[0], POLLIN, [&](std::uint32_t revents) {
    EXPECT_TRUE(revents & POLLIN);
    ++notified;
  }));
  for (int i = 0; i < 5; ++i) reactor().run_once(100ms);
  EXPECT_EQ(notified, 5);
  char c;
  ASSERT_EQ(::read(fds[0], &c, 1), 1);
  reactor().run_once(Duration(0));
  const int after_drain = notified;
  run_for(20ms);
  EXPECT_LE(notified, after_drain + 1) << "not ready any more: no more notifications";
  watch.stop();
  ::close(fds[0]);
  ::close(fds[1]);
}

// ---------------------------------------------------------------------------------------------------------
// Fallback: with io_uring_setup refused (kernel.io_uring_disabled=2 and seccomp both answer EPERM; an old
// kernel ENOSYS), a uring reactor falls back to epoll, says so once, and leaks no descriptor.

int open_descriptors() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

bool refuse_io_uring_setup(int err) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<unsigned>(err)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

void fall_back_when_refused(int err) {
  if (!refuse_io_uring_setup(err)) std::_Exit(10);
  const int before = open_descriptors();
  std::vector<std::string> lines;
  {
    ReactorOptions options;
    options.backend = BackendKind::uring;
    options.log_sink = [&](LogLevel, std::string_view line) { lines.emplace_back(line); };
    auto reactor = Reactor::create(options);
    if (!reactor) std::_Exit(11);
    if ((*reactor)->backend_kind() != BackendKind::epoll) std::_Exit(12);
    if ((*reactor)->backend_fallback_reason().value() != err) std::_Exit(17);  // and says why
  }
  if (lines.size() != 1 || lines[0].find("io_uring backend unavailable") == std::string::npos) std::_Exit(13);
  if (open_descriptors() != before) std::_Exit(14);
  // The backend factory itself reports the kernel's error and leaves nothing open.
  BufferPool pool(1024);
  detail::CompletionQueue completions;
  Logger log(LogLevel::off, nullptr);
  auto backend = detail::make_uring_backend(detail::BackendContext{completions, pool, log});
  if (backend || backend.error().value() != err) std::_Exit(15);
  if (open_descriptors() != before) std::_Exit(16);
  std::_Exit(0);
}

TEST(UringFallbackTest, RefusedByPolicyFallsBackToEpollWithoutLeaks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(fall_back_when_refused(EPERM), ::testing::ExitedWithCode(0), "");
}

TEST(UringFallbackTest, MissingSyscallFallsBackToEpollWithoutLeaks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(fall_back_when_refused(ENOSYS), ::testing::ExitedWithCode(0), "");
}

// Exits 0 if a reactor asking for `asked` with io_uring refused reports `expected` as the fallback reason
// (backend uring itself: fall_back_when_refused above).
void check_fallback_reason(BackendKind asked, int expected) {
  if (!refuse_io_uring_setup(EPERM)) std::_Exit(10);
  ::unsetenv("RFARM_BACKEND");  // automatic must make its own choice
  ReactorOptions options;
  options.backend = asked;
  options.log_level = LogLevel::off;
  auto reactor = Reactor::create(options);
  if (!reactor) std::_Exit(11);
  if ((*reactor)->backend_kind() != BackendKind::epoll) std::_Exit(12);
  if ((*reactor)->backend_fallback_reason().value() != expected) std::_Exit(13);
  std::_Exit(0);
}

TEST(BackendFallbackReasonTest, SaysWhyAutomaticDidNotGetIoUring) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(check_fallback_reason(BackendKind::automatic, EPERM), ::testing::ExitedWithCode(0), "");
}

TEST(BackendFallbackReasonTest, IsEmptyWhenEpollWasAskedFor) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(check_fallback_reason(BackendKind::epoll, 0), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace rfarm
