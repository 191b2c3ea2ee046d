// What each runtime core of a FarmServer keeps for the connections it serves: the task table it dispatches
// from, and the scratch objects a turn's frames are decoded and encoded with. A core touches only its own
// CoreState (no lock on the hot path); tasks_run is read by info from any thread.
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "farm/protocol/frame_encoder.hpp"
#include "farm/tasks/task_registry.hpp"

namespace rfarm::farm::detail {

struct alignas(64) CoreState {
  explicit CoreState(std::size_t max_frame_size) : encoder(max_frame_size) {}

  // Immutable once published; replaced as a whole (by a message to this core) when a module is loaded.
  // A task in flight holds the table it was found in.
  std::shared_ptr<const TaskRegistry> tasks;
  std::uint64_t tasks_version = 0;  // tables from concurrent module loads may arrive out of order: newest wins

  void publish(std::shared_ptr<const TaskRegistry> table, std::uint64_t version) {
    if (version <= tasks_version) return;
    tasks = std::move(table);
    tasks_version = version;
  }
  FrameEncoder encoder;         // answers of every connection on this core
  flexbuffers::Builder values;  // results of inline tasks
  std::vector<std::uint64_t> aligned_scratch;  // a frame that arrived at a misaligned address, copied
  std::uint64_t next_connection_number = 0;

  // Tasks finished on connections of this core (written by this core only).
  std::atomic<std::uint64_t> tasks_run{0};
  void count_task() noexcept { tasks_run.store(tasks_run.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
};

}  // namespace rfarm::farm::detail
