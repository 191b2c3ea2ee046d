// SendQueue: owned buffers queued on a stream during a loop turn leave together, in one gathered sendmsg, at
// the end of the turn. Frames queued while a send is in flight go out in the next one. Nothing is copied: a
// PooledBuffer received from one socket can be queued on another as is. Over a StreamSocket or a TlsStream
// (whose gathered send packs small buffers into full records: TlsStream::send_all).
//
//     rfarm::SendQueue out(sock);                // or SendQueue out(tls);
//     out.push(header_bytes);     // std::string, std::vector<std::byte> or PooledBuffer
//     out.push(std::move(body));  // both leave in one sendmsg when the turn ends
//
// The queue owns its send operation: destroying the queue abandons a send in flight. Destroy the queue
// before the stream (declare it after the stream).
//
// Memory: an idle queue (everything sent) holds no heap storage: the chunk list, the gather array and the
// send operation are allocated when a turn queues something and released once the last byte has left (the
// operation at the end of that turn, never inside its own completion), so thousands of idle connections pay
// only for the object itself. A send of one chunk gathers from an iovec inside the queue.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "reactor/net/stream_socket.hpp"

namespace rfarm {

class TlsStream;

class SendQueue {
 public:
  explicit SendQueue(StreamSocket& socket);
  explicit SendQueue(TlsStream& stream);
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;
  ~SendQueue();

  void push(std::string bytes);
  void push(std::vector<std::byte> bytes);
  void push(PooledBuffer buffer);

  // Bytes queued and not yet handed to the kernel in full (for back-pressure).
  std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  bool idle() const noexcept { return chunks_.empty(); }
  // sendmsg operations started so far (tests check that a turn's frames leave together).
  std::uint64_t sends_started() const noexcept { return sends_started_; }

  // The handlers hold at most two pointers of captures (kept small: every connection carries both).
  using ErrorHandler = InplaceFunction<void(std::error_code), 16>;
  using DrainedHandler = InplaceFunction<void(), 16>;
  // Runs once when a send fails; whatever was queued is dropped (the connection is broken).
  void on_error(ErrorHandler handler) { on_error_ = std::move(handler); }
  // Runs each time everything queued has been sent (e.g. to half-close after the last frame).
  void on_drained(DrainedHandler handler) { on_drained_ = std::move(handler); }

 private:
  using Chunk = std::variant<std::string, std::vector<std::byte>, PooledBuffer>;
  static ConstBytes bytes_of(const Chunk& chunk) noexcept;

  void enqueue(Chunk chunk, std::size_t size);
  static void flush(TurnHook& hook) noexcept;
  void start_send() noexcept;
  void on_sent(Result<std::size_t> sent) noexcept;
  void release_storage() noexcept;

  // The stream's gathered send, owned by the queue (send_queue.cpp).
  struct Sender {
    virtual ~Sender() = default;
    virtual Reactor& reactor() noexcept = 0;
    virtual void launch(std::span<iovec> gather, InplaceFunction<void(Result<std::size_t>), 16> done) noexcept = 0;
    virtual bool busy() const noexcept = 0;
  };
  struct SocketSender;
  struct TlsSender;
  using MakeSender = std::unique_ptr<Sender> (*)(void* stream);
  template <class Stream, class Made>
  static std::unique_ptr<Sender> make_sender(void* stream);

  // Not a std::deque: libstdc++'s allocates a 512-B block and its map even while empty.
  std::vector<Chunk> chunks_;   // queued, in order; released when everything has been sent
  std::vector<iovec> iovecs_;   // the gather array of a send of several chunks; released with chunks_
  iovec single_iovec_{};        // the gather array of a send of one chunk
  std::size_t in_flight_ = 0;  // chunks_ entries covered by the send in flight
  std::size_t queued_bytes_ = 0;
  std::uint64_t sends_started_ = 0;
  bool failed_ = false;
  ErrorHandler on_error_;
  DrainedHandler on_drained_;
  struct FlushHook : TurnHook {
    explicit FlushHook(SendQueue* q) noexcept : TurnHook(&SendQueue::flush), queue(q) {}
    SendQueue* queue;
  } flush_hook_{this};
  Reactor* reactor_;
  void* stream_;            // the StreamSocket or TlsStream, for make_sender_
  MakeSender make_sender_;  // makes sender_ when a send starts
  std::unique_ptr<Sender> sender_;  // last: abandoned before the buffers it points at go; null while idle
};

}  // namespace rfarm
