#include "farm/client/module_shipper.hpp"

#include <algorithm>

namespace rfarm::farm {

void ModuleShipper::dispatch(std::vector<std::unique_ptr<ClientConnection>>& connections, Clock::time_point now) {
  if (waiting_.empty()) return;
  std::size_t ready = 0;
  for (const auto& c : connections) {
    if (!c) continue;  // a retired connection's freed slot
    if (c->settling()) return;  // every server means every server: wait for a first attempt to end
    ready += c->serving() ? 1 : 0;
  }
  if (ready == 0) {
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (now < it->give_up) {
        ++it;
        continue;
      }
      if (it->sink) {
        it->sink->fanned_out(1);
        it->sink->outcome({.server = "", .message = "no server was ready to take the module in time"});
      }
      it = waiting_.erase(it);
    }
    return;
  }
  for (ModuleShipment& shipment : waiting_) {
    if (shipment.sink) shipment.sink->fanned_out(ready);
    for (auto& c : connections)
      if (c && c->serving()) send(*c, shipment, shipment.sink);
    shipment.sink.reset();
    shipped_.push_back(std::move(shipment));
  }
  waiting_.clear();
}

void ModuleShipper::send(ClientConnection& connection, const ModuleShipment& shipment, std::shared_ptr<ModuleSink> sink) {
  std::uint64_t id = next_transfer_id_++;
  if (std::error_code ec = connection.queue_module(id, shipment.name, shipment.sha256, *shipment.bytes)) {
    if (sink) sink->outcome({.server = connection.name(), .message = "the module does not fit in one frame: " + ec.message()});
    return;
  }
  connection.module_sent();
  unanswered_.push_back({id, connection.id(), connection.name(), std::move(sink)});
}

void ModuleShipper::on_ready(ClientConnection& connection, Logger& log) {
  for (const ModuleShipment& shipment : shipped_) {
    log.info("farm: sending module {} to {}, which joined after it was loaded", shipment.name, connection.name());
    send(connection, shipment, nullptr);
  }
}

void ModuleShipper::on_ack(ClientConnection& connection, std::uint64_t transfer_id, ModuleOutcome outcome, Logger& log) {
  auto it = std::find_if(unanswered_.begin(), unanswered_.end(), [&](const Unanswered& u) {
    return u.transfer_id == transfer_id && u.connection == connection.id();
  });
  if (it == unanswered_.end()) return;  // not ours (a late ack after the connection was declared lost)
  connection.module_answered();
  outcome.server = it->server;
  std::shared_ptr<ModuleSink> sink = std::move(it->sink);
  unanswered_.erase(it);
  if (sink) sink->outcome(std::move(outcome));
  else if (!outcome.accepted) log.warn("farm: {} refused module {}: {}", outcome.server, outcome.module_name, outcome.message);
}

void ModuleShipper::on_lost(ClientConnection& connection) {
  for (auto it = unanswered_.begin(); it != unanswered_.end();) {
    if (it->connection != connection.id()) {
      ++it;
      continue;
    }
    if (it->sink) it->sink->outcome({.server = it->server, .message = "the connection was lost before the answer"});
    it = unanswered_.erase(it);
  }
}

void ModuleShipper::fail_all(const std::string& why) {
  for (auto& shipment : waiting_) {
    if (!shipment.sink) continue;
    shipment.sink->fanned_out(1);
    shipment.sink->outcome({.message = why});
  }
  waiting_.clear();
  for (auto& u : unanswered_)
    if (u.sink) u.sink->outcome({.server = u.server, .message = why});
  unanswered_.clear();
}

}  // namespace rfarm::farm
