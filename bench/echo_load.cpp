// echo_load.cpp - closed-loop TCP echo load generator for the rfarm echo benchmark.
//
// Deliberately independent of the rfarm library: the measuring tool must not
// share code (or bugs, or speed-ups) with the code under test, so this is one
// file of plain epoll + POSIX, like the raw peers in bench/peers/.
//
//   echo_load --connect tcp:HOST:PORT --conns C --size S --duration D
//             [--warmup W] [--server-pid PID] [--spin-us N] [--json]
//   echo_load --connect unix:PATH ...      (a Unix stream socket; TCP_NODELAY is then skipped)
//
// Each of the C connections runs a closed loop: send one S-byte message, wait
// until all S bytes came back (content is checked), record the round trip,
// send the next. Connections are opened in a ramp (at most --ramp-window of
// them are "unconfirmed" at once; a connection is confirmed when its first
// echo returns, which proves the server accepted it), so C=10000 never
// overflows the server's listen backlog. A confirmed connection stays idle
// until all C are up (otherwise the running ones would slow the ramp down
// quadratically); then all start their loops together, the warmup (default
// 1 s) runs, and D seconds are measured.
//
// Reported for the measured window: messages, msgs/s, RTT p50/p90/p99/max
// (log-linear histogram, ~1.6% resolution, fixed memory), and CPU time per
// message of the server (--server-pid) and of this process. CPU time comes
// from /proc/PID/task/*/schedstat (field 1: on-CPU ns, summed over the
// process's threads) when available, else from utime+stime in /proc/PID/stat
// (clock ticks, 10 ms resolution, so windows must be seconds long); the output
// says which ("cpu_source"). The stat-based figure is printed as a cross-check
// too.
//
// --spin-us N busy-polls epoll_wait(0) for up to N us after the last event
// before blocking (latency mode; pair it with the server's --spin-us).
//
// Exact-count mode (--messages M, for counting instructions with callgrind,
// which has no notion of time that means anything): after the ramp every
// connection does exactly --warmup-messages W round trips and parks; the
// server is then idle and echo_load prints "echo_load: warm" on stdout and
// waits for a line on stdin (the harness zeroes the server's counters then).
// Next every connection does exactly M round trips and parks, so exactly
// C x M messages were echoed; the report is printed (msgs = C x M) and
// echo_load waits for one more line on stdin before it closes anything (the
// harness dumps the counters then, so connection teardown is not counted).
// --timeout S bounds each phase (default 300 s: a server under valgrind is
// ~50x slower).
//
// Exit status: 0 on success; 1 if connecting fails (clear message on stderr)
// or a connection breaks / echoes wrong bytes; 2 on bad usage; 3 if the
// internal watchdog fires. The run is always bounded in time.

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

[[noreturn]] __attribute__((format(printf, 1, 2))) void fatal(const char* fmt, ...)
{
    std::fprintf(stderr, "echo_load: ");
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fprintf(stderr, "\n");
    std::exit(1);
}

std::uint64_t now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

// ---- latency histogram: log-linear, 32 sub-buckets per power of two ---------
constexpr int kSubBits = 6;                       // values < 64 ns are exact
constexpr int kHalf = 1 << (kSubBits - 1);        // 32
constexpr int kBuckets = 64 * kHalf + (1 << kSubBits);

struct Histogram {
    std::vector<std::uint64_t> b = std::vector<std::uint64_t>(kBuckets, 0);
    std::uint64_t count = 0, max = 0;
    long double sum = 0;

    static int index(std::uint64_t v)
    {
        if (v < (1u << kSubBits))
            return int(v);
        int msb = 63 - __builtin_clzll(v);
        int shift = msb - kSubBits + 1;
        return shift * kHalf + int(v >> shift);
    }
    static double value(int idx)  // midpoint of the bucket
    {
        if (idx < (1 << kSubBits))
            return idx;
        int shift = idx / kHalf - 1;
        std::uint64_t mant = std::uint64_t(idx - shift * kHalf);
        return double(mant << shift) + double(std::uint64_t(1) << shift) / 2.0;
    }
    void add(std::uint64_t v)
    {
        b[std::size_t(index(v))]++;
        count++;
        sum += v;
        if (v > max)
            max = v;
    }
    double quantile(double q) const
    {
        if (!count)
            return 0;
        std::uint64_t rank = std::uint64_t(std::ceil(q * double(count)));
        if (rank == 0)
            rank = 1;
        std::uint64_t acc = 0;
        for (int i = 0; i < kBuckets; i++) {
            acc += b[std::size_t(i)];
            if (acc >= rank)
                return value(i);
        }
        return double(max);
    }
};

// ---- CPU time of a process ----------------------------------------------------
struct CpuSample {
    double sched_ns = -1;  // sum of /proc/PID/task/*/schedstat field 1, or -1
    double wait_ns = -1;   // field 2: time runnable but waiting for a CPU
    double stat_ns = -1;   // (utime+stime) from /proc/PID/stat, in ns, or -1
};

bool read_file(const std::string& path, char* buf, std::size_t n)
{
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r <= 0)
        return false;
    buf[r] = 0;
    return true;
}

CpuSample sample_cpu(long pid)
{
    CpuSample s;
    char buf[1024];
    std::string base = "/proc/" + std::to_string(pid);
    // schedstat of every thread (io_uring io-wq workers, helper threads...)
    if (DIR* d = opendir((base + "/task").c_str())) {
        double sum = 0, wait = 0;
        bool any = false;
        while (dirent* e = readdir(d)) {
            if (e->d_name[0] == '.')
                continue;
            if (read_file(base + "/task/" + e->d_name + "/schedstat", buf, sizeof buf)) {
                char* end = nullptr;
                sum += std::strtod(buf, &end);
                wait += std::strtod(end, nullptr);
                any = true;
            }
        }
        closedir(d);
        if (any) {
            s.sched_ns = sum;
            s.wait_ns = wait;
        }
    }
    if (read_file(base + "/stat", buf, sizeof buf)) {
        // comm (field 2) may contain spaces/parens: parse after the last ')'
        if (char* p = std::strrchr(buf, ')')) {
            // after ')' come fields 3..; utime is field 14, stime field 15
            int field = 2;
            char* save = nullptr;
            unsigned long long ut = 0, st = 0;
            for (char* tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(nullptr, " ", &save)) {
                field++;
                if (field == 14)
                    ut = std::strtoull(tok, nullptr, 10);
                else if (field == 15) {
                    st = std::strtoull(tok, nullptr, 10);
                    break;
                }
            }
            if (field == 15)
                s.stat_ns = double(ut + st) * 1e9 / double(sysconf(_SC_CLK_TCK));
        }
    }
    return s;
}

// ---- connections ----------------------------------------------------------
enum class St : std::uint8_t { Idle, Connecting, Running };

struct Conn {
    int fd = -1;
    St st = St::Idle;
    bool confirmed = false;  // first echo came back (server accepted us)
    bool want_out = false;   // EPOLLOUT registered for a partial send
    std::uint32_t sent = 0, got = 0;
    std::uint64_t t_send = 0;
    long left = 0;  // exact-count mode: round trips still to do in this phase
};

struct Options {
    std::string connect;
    long conns = 1;
    long size = 64;
    double duration = 5;
    double warmup = 1;
    long server_pid = 0;
    long spin_us = 0;
    long ramp_window = 256;
    long messages = 0;         // > 0: exact-count mode, round trips per connection measured
    long warmup_messages = 0;  // exact-count mode: round trips per connection before the pause
    long timeout_s = 300;      // exact-count mode: bound per phase
    bool json = false;
};

void usage()
{
    std::fprintf(stderr,
                 "usage: echo_load --connect tcp:HOST:PORT --conns C --size S --duration D\n"
                 "                 [--warmup W] [--server-pid PID] [--spin-us N] [--json]\n"
                 "                 [--ramp-window N]\n"
                 "       echo_load --connect tcp:HOST:PORT --conns C --size S --messages M\n"
                 "                 [--warmup-messages W] [--timeout S] [--server-pid PID] [--json]\n");
    std::exit(2);
}

bool parse_addr(const std::string& spec, sockaddr_storage& ss, socklen_t& sl)
{
    if (spec.rfind("unix:", 0) == 0) {  // a Unix stream socket path (bench/run's unix scenario)
        auto& un = reinterpret_cast<sockaddr_un&>(ss);
        std::string path = spec.substr(5);
        if (path.empty() || path.size() >= sizeof un.sun_path)
            return false;
        un = {};
        un.sun_family = AF_UNIX;
        std::memcpy(un.sun_path, path.data(), path.size());
        sl = sizeof un;
        return true;
    }
    if (spec.rfind("tcp:", 0) != 0)
        return false;
    std::string hp = spec.substr(4);
    auto colon = hp.rfind(':');
    if (colon == std::string::npos)
        return false;
    std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
        return false;
    std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
    sl = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

class Load {
public:
    explicit Load(const Options& o) : o_(o), conns_(std::size_t(o.conns)), payload_(std::size_t(o.size))
    {
        for (std::size_t i = 0; i < payload_.size(); i++)
            payload_[i] = char((i * 131 + 7) & 0xff);
        if (!parse_addr(o.connect, addr_, addrlen_))
            fatal("bad --connect '%s' (want tcp:HOST:PORT or unix:PATH)", o.connect.c_str());
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0)
            fatal("epoll_create1: %s", std::strerror(errno));
    }

    int run();

private:
    int run_exact();
    void start_phase(long round_trips);
    int report(std::uint64_t t_begin, std::uint64_t t_ramp_done, std::uint64_t t_meas_start,
               std::uint64_t t_meas_end, const CpuSample& srv0, const CpuSample& srv1, const CpuSample& me0,
               const CpuSample& me1, const rusage& ru0, const rusage& ru1);
    void start_connect(std::size_t i);
    void on_event(std::size_t i, std::uint32_t ev);
    void send_msg(std::size_t i, std::uint64_t now);
    void push_send(std::size_t i);
    void set_out(std::size_t i, bool on);
    [[noreturn]] void conn_fail(std::size_t i, const char* what, int err);

    const Options& o_;
    std::vector<Conn> conns_;
    std::vector<char> payload_;
    char rbuf_[64 * 1024];
    sockaddr_storage addr_{};
    socklen_t addrlen_ = 0;
    int ep_ = -1;

    long connected_ = 0;    // confirmed connections
    long unconfirmed_ = 0;  // connecting or waiting for the first echo
    std::size_t next_ = 0;  // next connection index to open
    bool measuring_ = false;
    bool ramp_done_ = false;
    long active_ = 0;  // exact-count mode: connections not yet parked in this phase
    std::uint64_t msgs_ = 0;
    std::uint64_t t_now_ = 0;
    Histogram hist_;
};

[[noreturn]] void Load::conn_fail(std::size_t i, const char* what, int err)
{
    char msg[256];
    std::snprintf(msg, sizeof msg, "connection %zu/%ld to %s: %s: %s", i, o_.conns, o_.connect.c_str(), what,
                  err ? std::strerror(err) : "unexpected EOF");
    if (!conns_[i].confirmed)
        std::fprintf(stderr, "echo_load: cannot connect: %s (%ld of %ld connections were up)\n", msg,
                     connected_, o_.conns);
    else
        std::fprintf(stderr, "echo_load: connection lost: %s\n", msg);
    std::exit(1);
}

void Load::start_connect(std::size_t i)
{
    Conn& c = conns_[i];
    c.fd = socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0)
        conn_fail(i, "socket", errno);
    int one = 1;
    if (addr_.ss_family != AF_UNIX)
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    epoll_event e{};
    e.data.u64 = i;
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr_), addrlen_) == 0) {
        c.st = St::Running;
        e.events = EPOLLIN;
        if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &e) < 0)
            conn_fail(i, "epoll_ctl", errno);
        send_msg(i, now_ns());
    } else if (errno == EINPROGRESS) {
        c.st = St::Connecting;
        e.events = EPOLLOUT;
        if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &e) < 0)
            conn_fail(i, "epoll_ctl", errno);
    } else {
        conn_fail(i, "connect", errno);
    }
    unconfirmed_++;
}

void Load::set_out(std::size_t i, bool on)
{
    Conn& c = conns_[i];
    if (c.want_out == on)
        return;
    c.want_out = on;
    epoll_event e{};
    e.data.u64 = i;
    e.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &e) < 0)
        conn_fail(i, "epoll_ctl", errno);
}

void Load::push_send(std::size_t i)
{
    Conn& c = conns_[i];
    while (c.sent < payload_.size()) {
        ssize_t w = write(c.fd, payload_.data() + c.sent, payload_.size() - c.sent);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            conn_fail(i, "write", errno);
        }
        c.sent += std::uint32_t(w);
    }
    set_out(i, c.sent < payload_.size());
}

void Load::send_msg(std::size_t i, std::uint64_t now)
{
    Conn& c = conns_[i];
    c.sent = c.got = 0;
    c.t_send = now;
    push_send(i);
}

void Load::on_event(std::size_t i, std::uint32_t ev)
{
    Conn& c = conns_[i];
    if (c.st == St::Connecting) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err)
            conn_fail(i, "connect", err);
        if (!(ev & EPOLLOUT))
            return;
        c.st = St::Running;
        epoll_event e{};
        e.data.u64 = i;
        e.events = EPOLLIN;
        c.want_out = false;
        if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &e) < 0)
            conn_fail(i, "epoll_ctl", errno);
        send_msg(i, now_ns());
        return;
    }
    if ((ev & EPOLLOUT) && c.sent < payload_.size())
        push_send(i);
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    for (;;) {
        ssize_t n = read(c.fd, rbuf_, sizeof rbuf_);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            conn_fail(i, "read", errno);
        }
        if (n == 0)
            conn_fail(i, "read", 0);
        if (c.got + std::size_t(n) > c.sent || std::memcmp(rbuf_, payload_.data() + c.got, std::size_t(n)) != 0)
            conn_fail(i, "echo mismatch (bytes differ from what was sent)", EPROTO);
        c.got += std::uint32_t(n);
        if (c.got < payload_.size()) {
            if (std::size_t(n) < sizeof rbuf_)
                return;
            continue;
        }
        // full message back
        std::uint64_t t = now_ns();
        t_now_ = t;
        if (measuring_) {
            msgs_++;
            hist_.add(t - c.t_send);
        }
        if (!c.confirmed) {
            c.confirmed = true;
            connected_++;
            unconfirmed_--;
            if (!ramp_done_)
                return;  // park until every connection is up
        }
        if (o_.messages > 0 && --c.left <= 0) {
            active_--;  // exact-count mode: this connection's share of the phase is done
            return;
        }
        send_msg(i, t);
        return;
    }
}

void on_alarm(int)
{
    const char m[] = "echo_load: watchdog: run exceeded its time bound, aborting\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r;
    _exit(3);
}

int Load::run()
{
    const std::uint64_t t_begin = now_ns();
    // Ramp: bounded by 10 s + 1 ms per connection.
    const std::uint64_t ramp_deadline = t_begin + std::uint64_t((10.0 + 0.001 * double(o_.conns)) * 1e9);
    const std::uint64_t spin_ns = std::uint64_t(o_.spin_us) * 1000u;
    alarm(unsigned(10.0 + 0.001 * double(o_.conns) + o_.warmup + o_.duration + 30));

    if (o_.messages > 0)
        return run_exact();
    std::vector<epoll_event> evs(1024);
    std::uint64_t last_event = 0;
    std::uint64_t t_ramp_done = 0, t_meas_start = 0, t_meas_end = 0;
    CpuSample srv0, srv1, me0, me1;
    rusage ru0{}, ru1{};

    enum class Phase { Ramp, Warmup, Measure } phase = Phase::Ramp;
    for (;;) {
        if (phase == Phase::Ramp) {
            while (next_ < conns_.size() && unconfirmed_ < o_.ramp_window)
                start_connect(next_++);
        }
        std::uint64_t now = now_ns();
        // state transitions
        if (phase == Phase::Ramp) {
            if (connected_ == o_.conns) {
                phase = Phase::Warmup;
                ramp_done_ = true;
                t_ramp_done = now;
                t_meas_start = now + std::uint64_t(o_.warmup * 1e9);
                for (std::size_t i = 0; i < conns_.size(); i++)  // start all loops
                    send_msg(i, now);
            } else if (now > ramp_deadline) {
                std::fprintf(stderr,
                             "echo_load: cannot connect: only %ld of %ld connections to %s were established "
                             "(and echoed) within %.1f s\n",
                             connected_, o_.conns, o_.connect.c_str(), double(ramp_deadline - t_begin) / 1e9);
                return 1;
            }
        }
        if (phase == Phase::Warmup && now >= t_meas_start) {
            phase = Phase::Measure;
            if (o_.server_pid)
                srv0 = sample_cpu(o_.server_pid);
            me0 = sample_cpu(getpid());
            getrusage(RUSAGE_SELF, &ru0);
            t_meas_start = now_ns();
            t_meas_end = t_meas_start + std::uint64_t(o_.duration * 1e9);
            measuring_ = true;
        }
        if (phase == Phase::Measure && now >= t_meas_end) {
            measuring_ = false;
            t_meas_end = now_ns();
            if (o_.server_pid)
                srv1 = sample_cpu(o_.server_pid);
            me1 = sample_cpu(getpid());
            getrusage(RUSAGE_SELF, &ru1);
            break;
        }

        int timeout;
        if (spin_ns && now - last_event < spin_ns) {
            timeout = 0;
        } else {
            std::uint64_t until = phase == Phase::Ramp ? now + 100000000u
                                  : phase == Phase::Warmup ? t_meas_start
                                                           : t_meas_end;
            timeout = until > now ? int((until - now + 999999) / 1000000) : 0;
        }
        int n = epoll_wait(ep_, evs.data(), int(evs.size()), timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fatal("epoll_wait: %s", std::strerror(errno));
        }
        if (n > 0 && spin_ns)
            last_event = now_ns();
        for (int k = 0; k < n; k++)
            on_event(std::size_t(evs[std::size_t(k)].data.u64), evs[std::size_t(k)].events);
    }
    alarm(0);
    return report(t_begin, t_ramp_done, t_meas_start, t_meas_end, srv0, srv1, me0, me1, ru0, ru1);
}

int Load::report(std::uint64_t t_begin, std::uint64_t t_ramp_done, std::uint64_t t_meas_start,
                 std::uint64_t t_meas_end, const CpuSample& srv0, const CpuSample& srv1, const CpuSample& me0,
                 const CpuSample& me1, const rusage& ru0, const rusage& ru1)
{
    const double secs = double(t_meas_end - t_meas_start) / 1e9;
    const double rate = secs > 0 ? double(msgs_) / secs : 0;
    const double p50 = hist_.quantile(0.50) / 1e3, p90 = hist_.quantile(0.90) / 1e3,
                 p99 = hist_.quantile(0.99) / 1e3, pmax = double(hist_.max) / 1e3;
    const double mean = hist_.count ? double(hist_.sum / hist_.count) / 1e3 : 0;
    const double denom = msgs_ ? double(msgs_) : 1;

    const char* src = "none";
    double srv_us = -1, srv_stat_us = -1, cli_us = -1, srv_util = -1, srv_wait = -1;
    if (o_.server_pid) {
        if (srv0.sched_ns >= 0 && srv1.sched_ns >= 0) {
            src = "schedstat";
            srv_us = (srv1.sched_ns - srv0.sched_ns) / 1e3 / denom;
            srv_util = (srv1.sched_ns - srv0.sched_ns) / 1e9 / secs;
            srv_wait = (srv1.wait_ns - srv0.wait_ns) / 1e9 / secs;
        } else if (srv0.stat_ns >= 0 && srv1.stat_ns >= 0) {
            src = "stat";
        }
        if (srv0.stat_ns >= 0 && srv1.stat_ns >= 0) {
            srv_stat_us = (srv1.stat_ns - srv0.stat_ns) / 1e3 / denom;
            if (srv_us < 0) {
                srv_us = srv_stat_us;
                srv_util = (srv1.stat_ns - srv0.stat_ns) / 1e9 / secs;
            }
        }
        if (srv_us < 0)
            std::fprintf(stderr, "echo_load: warning: cannot read CPU time of pid %ld (process gone?)\n",
                         o_.server_pid);
    }
    const char* cli_src = "schedstat";
    if (me0.sched_ns >= 0 && me1.sched_ns >= 0) {
        cli_us = (me1.sched_ns - me0.sched_ns) / 1e3 / denom;
    } else {
        cli_src = "rusage";
        auto tv = [](const timeval& t) { return double(t.tv_sec) * 1e6 + double(t.tv_usec); };
        cli_us = (tv(ru1.ru_utime) + tv(ru1.ru_stime) - tv(ru0.ru_utime) - tv(ru0.ru_stime)) / denom;
    }

    std::printf("echo_load: %s conns=%ld size=%ld window=%.2fs ramp=%.2fs msgs=%llu msgs/s=%.0f "
                "rtt_us p50=%.1f p90=%.1f p99=%.1f max=%.1f",
                o_.connect.c_str(), o_.conns, o_.size, secs, double(t_ramp_done - t_begin) / 1e9,
                (unsigned long long)msgs_, rate, p50, p90, p99, pmax);
    if (o_.server_pid)
        std::printf(" server_cpu_us_per_msg=%.3f (%s; stat=%.3f) server_util=%.2f", srv_us, src, srv_stat_us,
                    srv_util);
    if (srv_wait >= 0)
        std::printf(" server_runq_wait=%.2f", srv_wait);
    std::printf(" client_cpu_us_per_msg=%.3f (%s)\n", cli_us, cli_src);
    if (o_.json) {
        std::printf("{\"connect\":\"%s\",\"conns\":%ld,\"size\":%ld,\"duration_s\":%.6f,\"warmup_s\":%.3f,"
                    "\"ramp_s\":%.6f,\"spin_us\":%ld,\"msgs\":%llu,\"msgs_per_s\":%.3f,"
                    "\"rtt_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},"
                    "\"server_pid\":%ld,\"cpu_source\":\"%s\",\"server_cpu_us_per_msg\":%s,"
                    "\"server_cpu_us_per_msg_stat\":%s,\"server_util\":%s,\"server_runq_wait\":%s,"
                    "\"client_cpu_source\":\"%s\",\"client_cpu_us_per_msg\":%.6f}\n",
                    o_.connect.c_str(), o_.conns, o_.size, secs, o_.warmup, double(t_ramp_done - t_begin) / 1e9,
                    o_.spin_us, (unsigned long long)msgs_, rate, p50, p90, p99, pmax, mean, o_.server_pid, src,
                    srv_us >= 0 ? std::to_string(srv_us).c_str() : "null",
                    srv_stat_us >= 0 ? std::to_string(srv_stat_us).c_str() : "null",
                    srv_util >= 0 ? std::to_string(srv_util).c_str() : "null",
                    srv_wait >= 0 ? std::to_string(srv_wait).c_str() : "null", cli_src, cli_us);
    }
    std::fflush(stdout);
    if (msgs_ == 0) {
        std::fprintf(stderr, "echo_load: no message completed in the measured window\n");
        return 1;
    }
    return 0;
}

void Load::start_phase(long round_trips)
{
    active_ = round_trips > 0 ? o_.conns : 0;
    const std::uint64_t now = now_ns();
    if (active_ == 0)
        return;
    for (std::size_t i = 0; i < conns_.size(); i++) {
        conns_[i].left = round_trips;
        send_msg(i, now);
    }
}

// Blocks until the harness writes a line (or closes stdin); the server is idle meanwhile.
void wait_for_go(const char* what)
{
    std::printf("echo_load: %s\n", what);
    std::fflush(stdout);
    char line[64];
    if (!std::fgets(line, sizeof line, stdin) && std::ferror(stdin))
        fatal("reading stdin: %s", std::strerror(errno));
}

int Load::run_exact()
{
    const std::uint64_t t_begin = now_ns();
    std::vector<epoll_event> evs(1024);
    auto pump = [&](auto done) {
        alarm(unsigned(o_.timeout_s + 0.001 * double(o_.conns)));
        while (!done()) {
            int n = epoll_wait(ep_, evs.data(), int(evs.size()), 100);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                fatal("epoll_wait: %s", std::strerror(errno));
            }
            for (int k = 0; k < n; k++)
                on_event(std::size_t(evs[std::size_t(k)].data.u64), evs[std::size_t(k)].events);
            while (next_ < conns_.size() && unconfirmed_ < o_.ramp_window)
                start_connect(next_++);
        }
        alarm(0);
    };
    pump([&] { return connected_ == o_.conns; });
    ramp_done_ = true;
    const std::uint64_t t_ramp_done = now_ns();
    start_phase(o_.warmup_messages);
    pump([&] { return active_ == 0; });
    wait_for_go("warm");

    CpuSample srv0, srv1, me0, me1;
    rusage ru0{}, ru1{};
    if (o_.server_pid)
        srv0 = sample_cpu(o_.server_pid);
    me0 = sample_cpu(getpid());
    getrusage(RUSAGE_SELF, &ru0);
    measuring_ = true;
    const std::uint64_t t_meas_start = now_ns();
    start_phase(o_.messages);
    pump([&] { return active_ == 0; });
    const std::uint64_t t_meas_end = now_ns();
    measuring_ = false;
    if (o_.server_pid)
        srv1 = sample_cpu(o_.server_pid);
    me1 = sample_cpu(getpid());
    getrusage(RUSAGE_SELF, &ru1);
    if (msgs_ != std::uint64_t(o_.conns) * std::uint64_t(o_.messages))
        fatal("exact-count mode echoed %llu messages, expected %ld", (unsigned long long)msgs_,
              o_.conns * o_.messages);
    int rc = report(t_begin, t_ramp_done, t_meas_start, t_meas_end, srv0, srv1, me0, me1, ru0, ru1);
    wait_for_go("measured");
    return rc;
}

}  // namespace

int main(int argc, char** argv)
{
    Options o;
    auto num = [&](int& i) -> const char* {
        if (i + 1 >= argc)
            usage();
        return argv[++i];
    };
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--connect")
            o.connect = num(i);
        else if (a == "--conns")
            o.conns = std::strtol(num(i), nullptr, 10);
        else if (a == "--size")
            o.size = std::strtol(num(i), nullptr, 10);
        else if (a == "--duration")
            o.duration = std::strtod(num(i), nullptr);
        else if (a == "--warmup")
            o.warmup = std::strtod(num(i), nullptr);
        else if (a == "--server-pid")
            o.server_pid = std::strtol(num(i), nullptr, 10);
        else if (a == "--spin-us")
            o.spin_us = std::strtol(num(i), nullptr, 10);
        else if (a == "--ramp-window")
            o.ramp_window = std::strtol(num(i), nullptr, 10);
        else if (a == "--messages")
            o.messages = std::strtol(num(i), nullptr, 10);
        else if (a == "--warmup-messages")
            o.warmup_messages = std::strtol(num(i), nullptr, 10);
        else if (a == "--timeout")
            o.timeout_s = std::strtol(num(i), nullptr, 10);
        else if (a == "--json")
            o.json = true;
        else
            usage();
    }
    if (o.connect.empty() || o.conns < 1 || o.size < 1 || o.size > (1l << 30) || o.duration <= 0 ||
        o.warmup < 0 || o.ramp_window < 1 || o.spin_us < 0 || o.messages < 0 || o.warmup_messages < 0 ||
        o.timeout_s < 1)
        usage();

    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && rlim_t(o.conns) + 16 > rl.rlim_cur) {
        rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, rlim_t(o.conns) + 16);
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rlim_t(o.conns) + 16 > rl.rlim_cur) {
            std::fprintf(stderr, "echo_load: --conns %ld needs more file descriptors than RLIMIT_NOFILE=%llu\n",
                         o.conns, (unsigned long long)rl.rlim_cur);
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);

    static Load load(o);  // static: 64 KiB read buffer inside
    return load.run();
}
