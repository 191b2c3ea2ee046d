// ModuleShipper: kernel.load_module's machinery, on the kernel's loop (lfarm's broadcast-task #'ql:quickload).
// A module is sent as one ModuleTransfer to every ready server (waiting, as a broadcast does, for servers still
// on their first attempt); each server's ModuleAck is that server's outcome, and the caller hears all of them.
// The kernel remembers what it shipped: a server that becomes ready later (a new one, or one reconnecting after a
// restart) gets every module before any task (its transfers are queued ahead of Submit frames, and a server
// handles a connection's frames in order).
//
//     shipper.add(std::move(shipment));             // from KernelCore::load_module
//     shipper.dispatch(connections);                // end of turn: fan out when every server has settled
//     shipper.on_ready(connection);                 // a (re)connected server gets every module shipped so far
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "farm/client/client_connection.hpp"
#include "lib/log.hpp"
#include "reactor/loop/reactor.hpp"

namespace rfarm::farm {

// One server's answer to a ModuleTransfer (or why there is none).
struct ModuleOutcome {
  std::string server{};  // the server's spec
  bool accepted = false;
  bool already_loaded = false;  // the same bytes were loaded before: nothing changed
  std::string module_name{};    // as the module declares itself
  std::vector<std::string> tasks{};
  std::string message{};  // why not, when refused (the server's reason, or "connection lost", "no server ...")
};

// Where a load_module's outcomes go (on the kernel's loop): fanned_out(n) first, then n outcomes, or done_early
// with one outcome explaining that no server took it.
class ModuleSink {
 public:
  virtual ~ModuleSink() = default;
  virtual void fanned_out(std::size_t copies) = 0;
  virtual void outcome(ModuleOutcome outcome) = 0;
};

struct ModuleShipment {
  std::string name;    // the file name, informational
  std::string sha256;  // lowercase hex of bytes
  std::shared_ptr<const std::vector<std::byte>> bytes;
  std::shared_ptr<ModuleSink> sink;  // the caller, for the first fan-out; null for later joiners
  Clock::time_point give_up = Clock::time_point::max();
};

class ModuleShipper {
 public:
  void add(ModuleShipment shipment) { waiting_.push_back(std::move(shipment)); }
  bool has_waiting() const noexcept { return !waiting_.empty(); }

  // Fans out waiting shipments when at least one server is ready and none is still settling; shipments past
  // their give_up time (no server ready) end with one failed outcome.
  void dispatch(std::vector<std::unique_ptr<ClientConnection>>& connections, Clock::time_point now);
  // A connection became ready: every module shipped so far goes to it (outcomes logged, not reported).
  void on_ready(ClientConnection& connection, Logger& log);
  // A ModuleAck arrived on connection.
  void on_ack(ClientConnection& connection, std::uint64_t transfer_id, ModuleOutcome outcome, Logger& log);
  // The connection broke: its unanswered transfers end as failed outcomes.
  void on_lost(ClientConnection& connection);
  // The kernel closes: every waiting or unanswered transfer ends.
  void fail_all(const std::string& why);

 private:
  struct Unanswered {
    std::uint64_t transfer_id;
    ConnectionId connection;
    std::string server;
    std::shared_ptr<ModuleSink> sink;  // null: a later joiner's copy (logged only)
  };
  void send(ClientConnection& connection, const ModuleShipment& shipment, std::shared_ptr<ModuleSink> sink);

  std::vector<ModuleShipment> waiting_;
  std::vector<ModuleShipment> shipped_;  // what every server that joins later gets
  std::vector<Unanswered> unanswered_;
  std::uint64_t next_transfer_id_ = 1;
};

}  // namespace rfarm::farm
