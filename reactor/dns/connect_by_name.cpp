#include "reactor/dns/connect_by_name.hpp"

#include <string>
#include <utility>

namespace rfarm {

std::vector<Address> interleave_families(std::vector<Address> addresses) {
  if (addresses.empty()) return addresses;
  const AddressFamily first = addresses.front().family();
  std::vector<Address> preferred, other, out;
  for (Address& a : addresses) (a.family() == first ? preferred : other).push_back(std::move(a));
  out.reserve(preferred.size() + other.size());
  for (std::size_t i = 0; i < preferred.size() || i < other.size(); ++i) {
    if (i < preferred.size()) out.push_back(std::move(preferred[i]));
    if (i < other.size()) out.push_back(std::move(other[i]));
  }
  return out;
}

namespace {

// The race itself, awaited in connect_any's frame. States: attempts are started one by one (next_), each on
// its own socket; running_ counts those in flight. Every path ends in finish(), which resumes the waiter.
class ConnectRace {
 public:
  ConnectRace(Reactor& reactor, std::vector<Address> addresses, const ConnectByNameOptions& options)
      : reactor_(reactor), addresses_(std::move(addresses)), options_(options), attempts_(addresses_.size()) {
    delay_timer_.race = this;
    deadline_timer_.race = this;
  }
  ConnectRace(const ConnectRace&) = delete;
  ConnectRace& operator=(const ConnectRace&) = delete;
  ~ConnectRace() {
    reactor_.remove_timer(delay_timer_);
    reactor_.remove_timer(deadline_timer_);
  }  // attempts_ goes next: sockets still connecting close, their handlers dropped uncalled

  bool await_ready() {
    if (addresses_.empty()) {
      finish(fail(Errc::no_address));
    } else {
      if (options_.timeout.count() > 0) reactor_.add_timer(deadline_timer_, options_.timeout);
      start_next();
    }
    return finished_;
  }
  void await_suspend(std::coroutine_handle<> waiter) noexcept { waiter_ = waiter; }
  Result<StreamSocket> await_resume() { return std::move(result_); }

 private:
  struct RaceTimer : detail::TimerNode {
    explicit RaceTimer(FireFn fn) noexcept : TimerNode(fn) {}
    ConnectRace* race = nullptr;
  };

  // Starts the next address that can be started; arms the delay before the one after it.
  void start_next() {
    reactor_.remove_timer(delay_timer_);
    while (next_ < addresses_.size()) {
      std::size_t index = next_++;
      const Address& address = addresses_[index];
      auto socket = StreamSocket::open(reactor_, address.native_family());
      if (!socket) {  // e.g. no IPv6 here: on to the next address at once
        note_error(socket.error(), false);
        continue;
      }
      attempts_[index] = std::move(*socket);
      ++running_;
      attempts_[index].async_connect(address, options_.attempt_timeout,
                                     [this, index](std::error_code ec) { on_attempt_done(index, ec); });
      if (next_ < addresses_.size()) reactor_.add_timer(delay_timer_, options_.attempt_delay);
      return;
    }
    if (running_ == 0) finish(fail(last_error_ ? last_error_ : make_error_code(Errc::no_address)));
  }

  // Runs inside the attempt's own completion handler: that socket may be moved or closed here, not destroyed.
  void on_attempt_done(std::size_t index, std::error_code ec) {
    --running_;
    if (!ec) {
      StreamSocket winner = std::move(attempts_[index]);
      for (StreamSocket& loser : attempts_) loser = StreamSocket();  // drops their pending connects
      return finish(std::move(winner));
    }
    note_error(ec, true);
    attempts_[index].close();
    // A failed attempt starts the next one now rather than after the delay (RFC 8305 section 5).
    if (next_ < addresses_.size()) return start_next();
    if (running_ == 0) finish(fail(last_error_));
  }

  static void on_delay_expired(detail::TimerNode& node) noexcept { static_cast<RaceTimer&>(node).race->start_next(); }

  static void on_deadline(detail::TimerNode& node) noexcept {
    ConnectRace& self = *static_cast<RaceTimer&>(node).race;
    for (StreamSocket& attempt : self.attempts_) attempt = StreamSocket();  // no handler of theirs is running
    self.finish(fail(Errc::timed_out));
  }

  // A connect error outranks a failure to open a socket (an unsupported family says little about the host).
  void note_error(std::error_code ec, bool from_connect) noexcept {
    if (from_connect || !last_error_) last_error_ = ec;
  }

  // The last thing any path does: the resumed coroutine may destroy this race.
  void finish(Result<StreamSocket> result) {
    reactor_.remove_timer(delay_timer_);
    reactor_.remove_timer(deadline_timer_);
    result_ = std::move(result);
    finished_ = true;
    if (waiter_) std::exchange(waiter_, {}).resume();
  }

  Reactor& reactor_;
  std::vector<Address> addresses_;
  ConnectByNameOptions options_;
  std::vector<StreamSocket> attempts_;  // one slot per address, empty until its attempt starts
  std::size_t next_ = 0;
  std::size_t running_ = 0;
  std::error_code last_error_;
  RaceTimer delay_timer_{&ConnectRace::on_delay_expired};
  RaceTimer deadline_timer_{&ConnectRace::on_deadline};
  bool finished_ = false;
  std::coroutine_handle<> waiter_;
  Result<StreamSocket> result_ = fail(Errc::no_address);
};

}  // namespace

Task<Result<StreamSocket>> connect_any(Reactor& reactor, std::vector<Address> addresses, ConnectByNameOptions options) {
  ConnectRace race(reactor, interleave_families(std::move(addresses)), options);
  co_return co_await race;
}

Task<Result<StreamSocket>> connect_by_name(Reactor& reactor, Resolver& resolver, std::string host, std::uint16_t port,
                                           ConnectByNameOptions options) {
  const auto started = Clock::now();
  ResolveOptions lookup = options.resolve;
  if (options.timeout.count() > 0 && (lookup.timeout.count() <= 0 || lookup.timeout > options.timeout))
    lookup.timeout = options.timeout;  // the whole call's limit bounds the lookup too
  auto addresses = co_await resolver.resolve(host, std::to_string(port), lookup);
  if (!addresses) co_return fail(addresses.error());
  if (options.timeout.count() > 0) {
    options.timeout -= Clock::now() - started;
    if (options.timeout.count() <= 0) co_return fail(Errc::timed_out);
  }
  co_return co_await connect_any(reactor, std::move(*addresses), options);
}

void async_connect_by_name(Reactor& reactor, Resolver& resolver, std::string_view host, std::uint16_t port,
                           ConnectByNameOptions options, ConnectHandler handler) {
  // A spawned task: the reactor destroys it (dropping the handler uncalled) if it goes away first.
  reactor.spawn([](Reactor& r, Resolver& res, std::string name, std::uint16_t p, ConnectByNameOptions o,
                   ConnectHandler h) -> Task<void> {
    auto result = co_await connect_by_name(r, res, std::move(name), p, o);
    h(std::move(result));
  }(reactor, resolver, std::string(host), port, options, std::move(handler)));
}

}  // namespace rfarm
