// TlsSessionCache: client-side TLS sessions kept for resumption, so a second connection to the same server
// skips the certificate exchange and the key agreement's signature (an abbreviated handshake).
//
//     rfarm::TlsSessionCache sessions;                       // share it by all connections to those servers
//     auto tls = rfarm::TlsStream::client(std::move(sock), context,
//                                         {.server_name = "example.org", .session_cache = &sessions});
//     ... co_await tls->handshake(5s); ... later connections: tls->session_reused() == true
//
// Sessions are stored under a key (by default the server name; set TlsClientOptions::session_key to tell
// apart several servers or ports behind one name). With TLS 1.3 the server sends its session tickets after
// the handshake, so a session is stored once the stream has received data past the handshake (any recv).
// Copying a TlsSessionCache shares it; it is thread-safe, so streams on several reactors may share one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

// OpenSSL's SSL_SESSION (declared by <openssl/ssl.h>, which this header does not need).
struct ssl_session_st;

namespace rfarm {

namespace detail {
class TlsSessionStore;
}

class TlsSessionCache {
 public:
  // Keeps the sessions of at most capacity keys; the least recently stored key goes first.
  explicit TlsSessionCache(std::size_t capacity = 1024);

  std::size_t size() const;
  void clear();
  void erase(std::string_view key);

  // For the TLS layer: a new reference to the session stored under key (nullptr if none or no longer
  // resumable), and storing a session (the cache takes over the caller's reference).
  ssl_session_st* find(std::string_view key) const;
  void store(std::string_view key, ssl_session_st* session);

 private:
  std::shared_ptr<detail::TlsSessionStore> store_;
};

}  // namespace rfarm
