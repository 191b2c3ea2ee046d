// Internal to reactor/tls: the links between OpenSSL's objects and rfarm's (ex_data slots and callbacks).
#pragma once

#include <openssl/ssl.h>

#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace rfarm {
class TlsContext;
}

namespace rfarm::detail {

class TlsState;

// What a TlsContext keeps beside its SSL_CTX. Owned by the SSL_CTX (an ex_data slot freed with it), so it lives
// exactly as long as the last stream or TlsContext using that SSL_CTX, including one an SNI selector picked.
struct TlsContextData {
  ~TlsContextData();

  bool server = false;
  std::string alpn_wire;  // ALPN list in wire format (length-prefixed names), our preference order
  std::function<const TlsContext*(std::string_view)> sni_selector;
  std::mutex key_log_mutex;  // streams on several threads may log at once
  std::FILE* key_log = nullptr;
};

// The TlsContextData of ctx (never null for a context made by TlsContext).
TlsContextData* tls_context_data(const SSL_CTX* ctx) noexcept;

// The TlsState an SSL belongs to (ex_data slot), for OpenSSL callbacks.
int tls_state_index() noexcept;
inline TlsState* tls_state_of(const SSL* ssl) noexcept {
  return static_cast<TlsState*>(SSL_get_ex_data(ssl, tls_state_index()));
}

// SSL_CTX_sess_set_new_cb on client contexts: hands a new session (TLS 1.3: a ticket that arrived after the
// handshake) to the stream's TlsSessionCache. Returns 1 when it kept the reference (SSL_CTX_sess_set_new_cb(3)).
int tls_on_new_session(SSL* ssl, SSL_SESSION* session) noexcept;

}  // namespace rfarm::detail
