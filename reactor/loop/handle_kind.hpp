// HandleKind: the objects made from a reactor that call into it when they go, so must go before it. Debug
// builds count them per reactor (Reactor::live_handles) and ~Reactor checks that none is left. Its own header
// so that the socket layer can name a kind without the whole reactor.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rfarm {

enum class HandleKind : std::uint8_t {
  socket,    // an open socket of any type (StreamSocket, DatagramSocket, SeqPacketSocket, a TLS stream's)
  listener,  // an open StreamListener / SeqPacketListener
  timer,     // a Timer or a pending co_await reactor.sleep()
  watch,     // a ReadinessWatch
};
inline constexpr std::size_t kHandleKinds = 4;

}  // namespace rfarm
