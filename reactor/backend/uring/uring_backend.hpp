// The io_uring backend (private to reactor/uring). Its parts:
//   uring_backend.cpp      construction, wait(), wake(), watchers, close / cancel / abandon
//   uring_lanes.cpp        start(): per-handle lanes that keep each direction's operations in order
//   uring_submit.cpp       turning an operation into an SQE; withdrawing a request the kernel holds
//   uring_completions.cpp  routing each CQE through the request table
//
// Each handle has three lanes (read, write, urgent). A lane serves one operation at a time, its head; the
// others wait in the handle's queue, so two sends never race in the kernel and a short send is finished
// (SendAll restarts it at the head) before the next one starts. Receives into pooled buffers come from one
// multishot receive per handle into the provided-buffer ring; what arrives while nobody asks waits in the
// handle's arrivals (bounded), followed by the end of stream or error that ended the stream.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <vector>

#include "reactor/backend/detail/backend.hpp"
#include "reactor/backend/uring/buffer_ring.hpp"
#include "reactor/backend/uring/request_table.hpp"
#include "reactor/backend/uring/ring_setup.hpp"

namespace rfarm::detail {

// Where a pending op is, in IoOp::backend_state.
enum OpPlace : std::uint8_t {
  kNowhere = 0,    // not pending here (or pushed to the completion queue by the socket layer)
  kQueued = 1,     // in its handle's queue, behind the lane head
  kLaneHead = 2,   // served by its lane: in the kernel, or waiting for the handle's multishot
  kCompleting = 3, // in the completion queue with its result (cancelled, or the handle closed)
};

// One lane of a handle, as references into its HandleState (which keeps the heads and the requests in two
// arrays, so that no field pads).
struct Lane {
  IoOp*& head;              // the op being served
  std::uint32_t& request;   // the kernel request occupying the lane (its op may be detached), or kNoSlot
  bool idle() const noexcept { return head == nullptr && request == kNoSlot; }
};

enum class MultishotState : std::uint8_t { none, armed, stopping, starved };

// What the multishot delivered: bytes in a ring buffer, or an accepted descriptor.
struct Arrival {
  int result = 0;
  PooledBuffer data;
};

// The arrivals of one handle, in order. Allocates nothing until the first one: a std::deque allocates a
// 512-byte block and its map when it is constructed, which every idle connection would pay.
class ArrivalQueue {
 public:
  bool empty() const noexcept { return !queue_ || queue_->empty(); }
  std::size_t size() const noexcept { return queue_ ? queue_->size() : 0; }
  Arrival& front() noexcept { return queue_->front(); }
  Arrival& operator[](std::size_t i) noexcept { return (*queue_)[i]; }
  void push_back(Arrival arrival) {
    if (!queue_) queue_ = std::make_unique<std::deque<Arrival>>();
    queue_->push_back(std::move(arrival));
  }
  void pop_front() noexcept { queue_->pop_front(); }
  void clear() noexcept { queue_.reset(); }
  template <class F>
  void for_each(F f) {
    if (queue_)
      for (Arrival& a : *queue_) f(a);
  }

 private:
  std::unique_ptr<std::deque<Arrival>> queue_;
};

// The bytes a send or send_stream op asks to send (a stream socket that took fewer is full).
inline std::size_t send_length(IoOp& op) noexcept {
  if (op.kind == OpKind::send_stream) return as_stream_send(op).size;
  if (op.kind == OpKind::send_pooled) return as_pooled(op).leased.size();
  const msghdr& msg = as_msg(op).msg;
  std::size_t n = 0;
  for (std::size_t i = 0; i < msg.msg_iovlen; ++i) n += msg.msg_iov[i].iov_len;
  return n;
}

inline constexpr std::int16_t kNoTerminal = 1;  // HandleState::terminal: no end of stream or error yet

// Backend-owned state of one IoHandle. It outlives the handle: close() detaches it, and it is freed when the
// last request that refers to it has completed. CQEs reach the handle only through here. Every idle io_uring
// connection holds one, so it is small (64 bytes) and lives in the backend's HandleTable (chunks: no malloc
// header or size-class rounding per handle). The armed multishot receive names it directly (its user_data is
// this state's address, tagged): an idle connection pins no request-table slot.
struct HandleState {
  union {
    IoHandle* handle = nullptr;  // null once closed: the IoHandle may already be freed
    HandleState* next_free;      // while free (refs == 0): the HandleTable's free list
  };
  ArrivalQueue arrivals;
  IoOp* heads[3] = {};                                  // each lane's head (Lane)
  std::uint32_t requests[3] = {kNoSlot, kNoSlot, kNoSlot};  // each lane's request (Lane)
  std::int32_t file_slot = -1;  // registered-file slot, or -1
  int refs = 1;                 // the open handle + each request (the multishot too) + each pending kick
  std::int16_t terminal = kNoTerminal;  // after the arrivals: 0 end of stream (sticky), < 0 an error (once)
  MultishotState multishot = MultishotState::none;
  bool multishot_accepts : 1 = false;   // the multishot is an accept (a listener's), not a receive
  bool multishot_cancel_sent : 1 = false;  // an ASYNC_CANCEL for the armed multishot was queued
  bool send_would_block : 1 = false;  // the last send was short or EAGAIN: queue the next one with POLL_FIRST
  bool starved_listed : 1 = false;    // in the backend's starved list (multishot ended with -ENOBUFS)

  Lane lane(Direction d) noexcept {
    const auto i = static_cast<int>(d);
    return {heads[i], requests[i]};
  }
  // Whether the multishot request is in the kernel (armed, or cancelled and not yet ended).
  bool multishot_in_kernel() const noexcept {
    return multishot == MultishotState::armed || multishot == MultishotState::stopping;
  }
  int fd() const noexcept { return handle->fd; }
};
static_assert(sizeof(HandleState) <= 64, "HandleState grew: every idle io_uring connection holds one");

// user_data of a handle's multishot request: the HandleState's address with the top bit set. Request-table
// user_data never has it (generations are 31 bits, request_table.hpp); user-space addresses never do.
inline constexpr std::uint64_t kHandleTag = std::uint64_t{1} << 63;
inline std::uint64_t multishot_data(HandleState& hs) noexcept { return reinterpret_cast<std::uintptr_t>(&hs) | kHandleTag; }

// The backend's HandleStates, in chunks that stay put (a multishot's user_data is an address). Free states
// are chained through next_free; the destructor finds the live ones (refs > 0) by walking the chunks.
class HandleTable {
 public:
  HandleState* acquire() noexcept {
    if (free_) {
      HandleState* hs = free_;
      free_ = hs->next_free;
      hs->handle = nullptr;  // release() left the rest as a fresh state
      hs->refs = 1;
      return hs;
    }
    if (used_ % kChunk == 0) {
      try {
        chunks_.push_back(std::make_unique<HandleState[]>(kChunk));
      } catch (...) {
        return nullptr;
      }
    }
    ++used_;
    return &chunks_.back()[(used_ - 1) % kChunk];
  }
  void release(HandleState& hs) noexcept {
    std::destroy_at(&hs);
    std::construct_at(&hs);
    hs.refs = 0;
    hs.next_free = free_;
    free_ = &hs;
  }
  template <class F>
  void for_each_live(F f) {
    for (std::size_t i = 0; i < used_; ++i) {
      HandleState& hs = chunks_[i / kChunk][i % kChunk];
      if (hs.refs > 0) f(hs);
    }
  }

 private:
  static constexpr std::size_t kChunk = 128;  // 8 KiB
  std::vector<std::unique_ptr<HandleState[]>> chunks_;
  std::size_t used_ = 0;  // states handed out of the chunks so far
  HandleState* free_ = nullptr;
};

// Hidden: private to the library, so calls between its parts bind directly instead of through the PLT.
class [[gnu::visibility("hidden")]] UringBackend final : public Backend {
 public:
  UringBackend(const BackendContext& context, std::unique_ptr<OwnedRing> ring,
               std::unique_ptr<ProvidedBufferRing> buffers, int wake_fd, const UringTuning& tuning) noexcept;
  ~UringBackend() override;

  BackendKind kind() const noexcept override { return BackendKind::uring; }
  bool start(IoOp& op) noexcept override;
  int try_send(IoHandle& h, const std::byte* data, std::size_t size) noexcept override;
  void cancel(IoOp& op) noexcept override;
  void close(IoHandle& handle) noexcept override;
  void abandon(IoOp& op) noexcept override;
  std::error_code add_watch(Watcher& w) noexcept override;
  std::error_code modify_watch(Watcher& w) noexcept override;
  void remove_watch(Watcher& w) noexcept override;
  std::size_t wait(std::chrono::nanoseconds timeout) noexcept override;
  void wake() noexcept override;
  void flush() noexcept override;
  bool wake_peer(Backend& target) noexcept override;

  // Arms the wake eventfd's read; make_uring_backend calls it once.
  std::error_code arm_wake() noexcept;

  std::size_t requests_in_flight() const noexcept { return requests_.in_use(); }
  std::size_t buffers_leased() const noexcept { return buffers_->leased(); }
  std::size_t buffers_provided() const noexcept { return buffers_->provided(); }

 private:
  friend struct HandleRef;

  // --- handles and lanes (uring_lanes.cpp)
  HandleState* state_of(IoHandle& h) noexcept;
  void ref(HandleState& hs) noexcept { ++hs.refs; }
  void unref(HandleState& hs) noexcept {
    if (--hs.refs == 0) free_state(hs);
  }
  void free_state(HandleState& hs) noexcept;
  bool try_now(HandleState& hs, IoOp& op) noexcept;
  bool engage(HandleState& hs, IoOp& op) noexcept;
  void serve_head(HandleState& hs, Direction d) noexcept;
  void serve_standing(HandleState& hs, IoOp& op) noexcept;
  void advance_lane(HandleState& hs, Direction d) noexcept;
  void complete(IoOp& op, int result) noexcept;
  void push_cancelled(IoOp& op) noexcept;
  void kick(HandleState& hs, Direction d) noexcept;
  void run_kicks() noexcept;
  void rearm_starved() noexcept;
  int take_terminal(HandleState& hs) noexcept;
  int copy_out(HandleState& hs, MsgOp& op) noexcept;
  int send_now(HandleState& hs, IoOp& op) noexcept;

  // --- submission (uring_submit.cpp)
  io_uring_sqe* next_sqe() noexcept;
  std::uint32_t new_request(RequestKind kind, HandleState* hs) noexcept;
  io_uring_sqe* prepare(std::uint32_t slot) noexcept;
  int issue(HandleState& hs, IoOp& op, bool allow_ring_buffer = true) noexcept;
  bool arm_multishot(HandleState& hs, bool accepts) noexcept;
  void stop_multishot(HandleState& hs) noexcept;
  void cancel_multishot(HandleState& hs) noexcept;
  bool withdraw(std::uint32_t slot) noexcept;
  void release_file_slot(HandleState& hs) noexcept;
  bool arm_watch(Watcher& w) noexcept;
  void submit_now() noexcept;
  void enable_if_needed() noexcept;
  void use_fd(io_uring_sqe* sqe, const HandleState& hs) noexcept;

  // --- completions (uring_completions.cpp)
  std::size_t drain_completions() noexcept;
  void on_completion(std::uint64_t user_data, int res, std::uint32_t flags) noexcept;
  void on_lane_completion(std::uint32_t slot, int res, std::uint32_t flags) noexcept;
  void on_multishot_completion(HandleState& hs, int res, std::uint32_t flags) noexcept;
  [[gnu::noinline]] void on_multishot_event(HandleState& hs, int res, std::uint32_t flags) noexcept;
  [[gnu::always_inline]] inline void hand_to_head(HandleState& hs, IoOp& head, int res, bool last_cqe) noexcept;
  void on_watch_completion(std::uint32_t slot, int res) noexcept;
  void on_wake_completion(int res) noexcept;
  void release_request(std::uint32_t slot) noexcept;

  BackendContext context_;
  std::unique_ptr<OwnedRing> owned_ring_;
  io_uring& ring_;
  std::unique_ptr<ProvidedBufferRing> buffers_;
  int wake_fd_;
  UringTuning tuning_;
  bool taskrun_flag_;                 // IORING_SQ_TASKRUN tells when entering the kernel would post CQEs
  RequestTable requests_;
  bool started_ = false;              // enable_if_needed() ran
  // The ring is enabled, so a peer's MSG_RING can reach it (a disabled ring refuses it with EBADFD). Read by
  // peers' threads.
  std::atomic<bool> accepts_peer_wake_{false};
  bool peer_wake_unsupported_ = false;  // a MSG_RING failed with EINVAL: this kernel has none
  std::uint64_t epoch_ = 1;           // bumped by every submit: a request of the current epoch is unsubmitted
  std::uint64_t wake_value_ = 0;      // the eventfd read's buffer
  IoOp* restarting_ = nullptr;        // the op whose completion is running: restarting keeps its lane place
  HandleTable handles_;               // every HandleState, for the destructor
  struct Kick {
    HandleState* hs;
    Direction direction;
  };
  std::vector<Kick> kicks_;           // lanes to advance at the next wait() (never inside cancel/abandon)
  std::vector<HandleState*> starved_; // multishots that ran out of ring buffers, re-armed when some return
  std::vector<std::int32_t> free_file_slots_;
  std::int32_t next_file_slot_ = 0;
  int no_file_ = -1;                  // FILES_UPDATE's source array for clearing a slot
};

// For tests and diagnostics; backend must be the io_uring backend. A function with default visibility, so a
// test needs no cast to the hidden class (UBSan's vptr check would need its typeinfo).
struct UringStats {
  std::size_t requests_in_flight = 0;  // request-table slots the kernel still holds (the wake read is one)
  std::size_t buffers_leased = 0;      // ring buffers held by PooledBuffers or queued arrivals
  std::size_t buffers_provided = 0;    // the ring's size: it grows when it runs dry, shrinks when receives are few
};
[[gnu::visibility("default")]] UringStats uring_stats(Backend& backend) noexcept;

// Keeps a HandleState alive across a call that may close its handle.
struct [[gnu::visibility("hidden")]] HandleRef {
  HandleRef(UringBackend& b, HandleState& h) noexcept : backend(b), hs(h) { backend.ref(hs); }
  ~HandleRef() { backend.unref(hs); }
  HandleRef(const HandleRef&) = delete;
  HandleRef& operator=(const HandleRef&) = delete;
  UringBackend& backend;
  HandleState& hs;
};

}  // namespace rfarm::detail
