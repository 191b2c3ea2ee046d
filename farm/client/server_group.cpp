#include "farm/client/server_group.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace rfarm::farm {

namespace {

bool contains(std::span<const Address> set, const Address& a) { return std::find(set.begin(), set.end(), a) != set.end(); }

}  // namespace

ServerGroup::ServerGroup(Reactor& reactor, Resolver& resolver, const KernelOptions& options, EndpointSpec spec,
                         Changed changed)
    : reactor_(reactor),
      resolver_(resolver),
      options_(options),
      spec_(std::move(spec)),
      changed_(std::move(changed)),
      timer_(reactor) {}

ServerGroup::~ServerGroup() { stop(); }

void ServerGroup::start() { resolve(); }

void ServerGroup::stop() noexcept {
  stopped_ = true;
  timer_.cancel();
  if (lookup_ != 0) resolver_.cancel(std::exchange(lookup_, 0));
}

void ServerGroup::resolve() {
  if (stopped_) return;
  std::weak_ptr<ServerGroup*> weak = self_;
  lookup_ = resolver_.async_resolve(spec_.host, std::to_string(spec_.port), {.family = options_.resolve_family},
                                    [weak](Result<std::vector<Address>> found) {
                                      if (auto self = weak.lock()) (*self)->on_resolved(std::move(found));
                                    });
}

void ServerGroup::on_resolved(Result<std::vector<Address>> found) {
  lookup_ = 0;
  if (stopped_) return;
  ++lookups_ended_;
  if (!found || found->empty()) {
    std::error_code ec = found ? make_error_code(Errc::no_address) : found.error();
    // Once per run of failures: a name server that is down for an hour is one line, not 120.
    if (failures_++ == 0)
      reactor_.log().warn("farm: looking up {}: {}; keeping its {} known servers", spec_.to_string(), ec.message(),
                          members_.size());
    if (members_.empty()) {
      // Nothing to keep: look again soon, on the connections' backoff (doubling up to its max).
      Duration delay = options_.backoff.initial;
      for (unsigned i = 1; i < failures_ && delay < options_.backoff.max; ++i) delay *= 2;
      schedule(std::min(delay, options_.backoff.max));
    } else {
      schedule_next();
    }
    return;
  }
  if (failures_ > 0) reactor_.log().info("farm: {} resolves again", spec_.to_string());
  failures_ = 0;
  std::vector<Address> added, removed;
  for (const Address& a : *found)
    if (!contains(members_, a)) added.push_back(a);
  for (const Address& a : members_)
    if (!contains(*found, a)) removed.push_back(a);
  members_ = std::move(*found);
  if (!added.empty() || !removed.empty()) {
    reactor_.log().info("farm: {} now resolves to {} servers ({} new, {} gone)", spec_.to_string(), members_.size(),
                        added.size(), removed.size());
    changed_(*this, added, removed);
  }
  schedule_next();
}

void ServerGroup::schedule_next() {
  if (options_.resolve_interval.count() > 0) schedule(options_.resolve_interval);  // zero: the first answer stands
}

void ServerGroup::schedule(Duration delay) {
  if (stopped_) return;
  timer_.start(delay, [this] { resolve(); });
}

}  // namespace rfarm::farm
