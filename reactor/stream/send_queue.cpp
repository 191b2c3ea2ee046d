#include "reactor/stream/send_queue.hpp"

#include <climits>
#include <new>

#include "reactor/tls/tls_state.hpp"
#include "reactor/tls/tls_stream.hpp"

namespace rfarm {

// A socket's gathered sendmsg, as a send operation of the queue's own.
struct SendQueue::SocketSender final : Sender {
  explicit SocketSender(StreamSocket& socket) noexcept : state(socket.state()) {}
  Reactor& reactor() noexcept override { return *state->reactor; }
  bool busy() const noexcept override { return op.busy(); }
  void launch(std::span<iovec> gather, InplaceFunction<void(Result<std::size_t>), 16> done) noexcept override {
    op.buffer = {};
    op.gather = gather;
    op.launch(state, std::move(done));
  }
  detail::SocketState* state;
  detail::HandlerOperation<detail::SendAll, 16> op;
};

// A TLS stream's gathered send (small buffers packed into full records), as an operation of the queue's own.
struct SendQueue::TlsSender final : Sender {
  explicit TlsSender(TlsStream& stream) noexcept : state(stream.state()) {}
  Reactor& reactor() noexcept override { return state->reactor(); }
  bool busy() const noexcept override { return op.busy(); }
  void launch(std::span<iovec> gather, InplaceFunction<void(Result<std::size_t>), 16> done) noexcept override {
    op.data = {};
    op.all = true;
    op.gather = gather;
    op.launch(state, std::move(done));
  }
  detail::TlsState* state;
  detail::TlsHandlerOperation<detail::TlsSendLogic, 16> op;
};

template <class Stream, class Made>
std::unique_ptr<SendQueue::Sender> SendQueue::make_sender(void* stream) {
  return std::make_unique<Made>(*static_cast<Stream*>(stream));
}

SendQueue::SendQueue(StreamSocket& socket)
    : reactor_(&socket.reactor()), stream_(&socket), make_sender_(&make_sender<StreamSocket, SocketSender>) {}
SendQueue::SendQueue(TlsStream& stream)
    : reactor_(&stream.reactor()), stream_(&stream), make_sender_(&make_sender<TlsStream, TlsSender>) {}

SendQueue::~SendQueue() = default;

ConstBytes SendQueue::bytes_of(const Chunk& chunk) noexcept {
  return std::visit(
      [](const auto& c) -> ConstBytes {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return as_bytes(c);
        } else if constexpr (std::is_same_v<T, PooledBuffer>) {
          return c.bytes();
        } else {
          return ConstBytes(c);
        }
      },
      chunk);
}

void SendQueue::push(std::string bytes) {
  std::size_t n = bytes.size();
  enqueue(std::move(bytes), n);
}

void SendQueue::push(std::vector<std::byte> bytes) {
  std::size_t n = bytes.size();
  enqueue(std::move(bytes), n);
}

void SendQueue::push(PooledBuffer buffer) {
  std::size_t n = buffer.size();
  enqueue(std::move(buffer), n);
}

void SendQueue::enqueue(Chunk chunk, std::size_t size) {
  if (failed_ || size == 0) return;
  chunks_.push_back(std::move(chunk));
  queued_bytes_ += size;
  reactor_->at_end_of_turn(flush_hook_);
}

void SendQueue::release_storage() noexcept {
  std::vector<Chunk>().swap(chunks_);
  std::vector<iovec>().swap(iovecs_);
}

void SendQueue::flush(TurnHook& hook) noexcept { static_cast<FlushHook&>(hook).queue->start_send(); }

void SendQueue::start_send() noexcept {
  if (in_flight_ > 0 || failed_) return;
  if (chunks_.empty()) {
    if (sender_ && !sender_->busy()) sender_.reset();  // drained (at the end of the turn it completed): idle
    return;
  }
  if (!sender_) {
    try {
      sender_ = make_sender_(stream_);
    } catch (const std::bad_alloc&) {  // no memory for the operation: the queue fails as a send would
      on_sent(fail(std::make_error_code(std::errc::not_enough_memory)));
      return;
    }
  }
  if (sender_->busy()) return;
  // One sendmsg takes at most IOV_MAX buffers; the rest follow when it completes.
  in_flight_ = std::min<std::size_t>(chunks_.size(), IOV_MAX);
  auto iovec_of = [](const Chunk& chunk) noexcept {
    ConstBytes b = bytes_of(chunk);
    return iovec{const_cast<std::byte*>(b.data()), b.size()};
  };
  std::span<iovec> gather;
  if (in_flight_ == 1) {  // the usual case (one buffer per turn): no gather array to allocate
    single_iovec_ = iovec_of(chunks_.front());
    gather = {&single_iovec_, 1};
  } else {
    iovecs_.clear();
    for (std::size_t i = 0; i < in_flight_; ++i) iovecs_.push_back(iovec_of(chunks_[i]));
    gather = iovecs_;
  }
  ++sends_started_;
  sender_->launch(gather, [this](Result<std::size_t> sent) { on_sent(sent); });
}

void SendQueue::on_sent(Result<std::size_t> sent) noexcept {
  if (!sent) {
    failed_ = true;
    release_storage();
    in_flight_ = 0;
    queued_bytes_ = 0;
    if (on_error_) on_error_(sent.error());
    return;
  }
  const auto sent_end = chunks_.begin() + static_cast<std::ptrdiff_t>(in_flight_);
  for (auto it = chunks_.begin(); it != sent_end; ++it) queued_bytes_ -= bytes_of(*it).size();
  in_flight_ = 0;
  if (sent_end != chunks_.end()) {
    chunks_.erase(chunks_.begin(), sent_end);  // what was queued during the send goes in the next one
    reactor_->at_end_of_turn(flush_hook_);
    return;
  }
  release_storage();                       // an idle queue holds no heap memory:
  reactor_->at_end_of_turn(flush_hook_);   // the operation goes at the end of the turn, outside its completion
  if (on_drained_) on_drained_();
}

}  // namespace rfarm
