// PacketFilter: nftables rules inside one network namespace (VethNamespaces), in a table of their own that is
// removed when the object goes away, for tests that lose packets or cut a link. This kernel has no netem, but
// nftables' `numgen random` gives random loss and a drop rule gives a partition (nft(8), "NUMGEN EXPRESSION").
//
//     auto net = VethNamespaces::create("loss", &why);
//     auto filter = PacketFilter::create(net->name(Side::a), &why);
//     filter->drop_percent(5);                  // 5% of the packets entering and leaving namespace a
//     filter->cut("10.77.0.3");                 // nothing to or from that address of namespace a
//     long n = filter->dropped();               // packets dropped so far (the rules' counters)
//     filter->heal();                           // every rule gone, the table stays
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "test/support/netns.hpp"

namespace rfarm::test {

class PacketFilter {
 public:
  PacketFilter(const PacketFilter&) = delete;
  PacketFilter& operator=(const PacketFilter&) = delete;
  PacketFilter(PacketFilter&& o) noexcept : netns_(std::move(o.netns_)) { o.netns_.clear(); }
  ~PacketFilter() {
    if (!netns_.empty()) nft("delete table inet " + std::string(kTable));
  }

  // A table with an input and an output filter chain in `netns`; nullopt (and why) if nft failed.
  static std::optional<PacketFilter> create(std::string netns, std::string* why) {
    PacketFilter f(std::move(netns));
    const std::string t = kTable;
    for (const std::string& command :
         {"add table inet " + t, "add chain inet " + t + " input { type filter hook input priority 0 ; }",
          "add chain inet " + t + " output { type filter hook output priority 0 ; }"}) {
      if (!f.nft(command)) {
        *why = "nft '" + command + "' failed in " + f.netns_ + " (needs root and nftables)";
        if (command.rfind("add table", 0) == 0) f.netns_.clear();
        return std::nullopt;
      }
    }
    return f;
  }

  // Drops `percent` of the packets in each direction, at random.
  bool drop_percent(int percent) {
    const std::string match = "numgen random mod 100 < " + std::to_string(percent) + " counter drop";
    return rule("input " + match) && rule("output " + match);
  }
  // Drops every IPv4 packet to or from `address` (one of the namespace's own).
  bool cut(const std::string& address) {
    return rule("input ip daddr " + address + " counter drop") && rule("output ip saddr " + address + " counter drop");
  }
  // Packets the rules have dropped so far (their counters), -1 if nft could not be asked.
  long dropped() const {
    auto child = ChildProcess::spawn({"ip", "netns", "exec", netns_, "nft", "list", "table", "inet", kTable});
    if (!child) return -1;
    long total = 0;
    while (auto line = child->read_line(std::chrono::seconds(5))) {
      auto at = line->find("counter packets ");
      if (at != std::string::npos) total += std::strtol(line->c_str() + at + 16, nullptr, 10);
    }
    return child->wait(std::chrono::seconds(5)) == 0 ? total : -1;
  }
  // Removes every rule.
  bool heal() { return nft("flush table inet " + std::string(kTable)); }

 private:
  static constexpr const char* kTable = "rfarm_faults";
  explicit PacketFilter(std::string netns) : netns_(std::move(netns)) {}
  bool rule(const std::string& body) { return nft("add rule inet " + std::string(kTable) + " " + body); }
  bool nft(const std::string& command) const {
    return run_command({"ip", "netns", "exec", netns_, "nft", command}) == 0;
  }

  std::string netns_;
};

}  // namespace rfarm::test
