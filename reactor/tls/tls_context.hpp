// TlsContext: the configuration TLS streams are made from (OpenSSL's SSL_CTX): certificates, trust, what to
// verify, ALPN, versions, ciphers, CRLs, key logging. Build one per role and configuration and share it by
// all connections: copying a TlsContext shares it; the configuration cannot change after creation, so one
// context may serve streams on several reactors (threads) at once.
//
//     auto client = rfarm::TlsContext::client({.ca_file = "ca.pem", .alpn = {"h2", "http/1.1"}});
//     auto server = rfarm::TlsContext::server({.certificate_chain_file = "server.pem",
//                                              .private_key_file = "server.key"});
//     if (!server) log.error("TLS: {}", server.error().message());   // says which OpenSSL check failed
//
// Defaults are the safe ones: TLS 1.2 and 1.3 only, a client verifies the server's certificate (and, through
// TlsClientOptions, its host name), renegotiation is refused, compression is off.
#pragma once

#include <openssl/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/error.hpp"

namespace rfarm {

enum class TlsVersion : std::uint8_t { tls1_2, tls1_3 };

enum class TlsVerify : std::uint8_t {
  none,          // client: accept any server certificate (testing only). server: ask for no client certificate
  verify_peer,   // client: verify the server's certificate. server: ask for a client certificate, verify it if sent
  require_peer,  // server: a verified client certificate is mandatory (mutual TLS). client: as verify_peer
};

class TlsContext;

struct TlsContextOptions {
  // Our certificate chain (leaf first, then intermediates) and its private key, PEM files. Required for a
  // server; a client sets them to authenticate itself (mutual TLS).
  std::string certificate_chain_file{};
  std::string private_key_file{};

  // Whom to trust: a PEM file of CA certificates and/or a hashed directory (`openssl rehash DIR`).
  std::string ca_file{};
  std::string ca_directory{};
  bool use_system_ca = false;  // also trust the system's default CA store

  // Default: verify_peer for a client, none for a server.
  std::optional<TlsVerify> verify{};
  int verify_depth = -1;  // maximum chain length; negative keeps OpenSSL's default (100)

  // CRL checking: a PEM file of CRLs. When set, the peer's certificate must be covered by a valid CRL from its
  // issuer and not listed in it (X509_V_FLAG_CRL_CHECK); crl_check_chain extends that to every CA in the
  // chain (X509_V_FLAG_CRL_CHECK_ALL).
  std::string crl_file{};
  bool crl_check_chain = false;

  // ALPN protocol names in order of preference (client: offered; server: chosen from what the client
  // offers; no overlap fails the handshake with TlsErrc::no_application_protocol).
  std::vector<std::string> alpn{};

  TlsVersion min_version = TlsVersion::tls1_2;
  TlsVersion max_version = TlsVersion::tls1_3;
  std::string cipher_list{};   // TLS 1.2 ciphers, OpenSSL syntax ("ECDHE+AESGCM"); empty keeps the default
  std::string ciphersuites{};  // TLS 1.3 suites ("TLS_AES_128_GCM_SHA256:..."); empty keeps the default

  // Debugging: append every session's secrets to this file in NSS key log format (what Wireshark reads).
  // Anyone holding the file can decrypt the traffic: never set it in production.
  std::string key_log_file{};

  // Server: the context (certificate) to use for the name the client sent in SNI; nullptr keeps this one.
  // Called during the handshake on the stream's thread. The returned context only needs to stay alive until
  // the call returns (the stream keeps it).
  std::function<const TlsContext*(std::string_view server_name)> sni_selector{};

  // Server: TLS 1.3 session tickets issued per full handshake (0 disables tickets, also for TLS 1.2).
  int session_tickets = 2;
};

class TlsContext {
 public:
  // A client context. Errors are TlsErrc::invalid_configuration with OpenSSL's reason (missing file, PEM that
  // does not parse, key not matching the certificate, a cipher list naming nothing usable, ...).
  static Result<TlsContext> client(const TlsContextOptions& options = {});
  // A server context; certificate_chain_file and private_key_file are required.
  static Result<TlsContext> server(const TlsContextOptions& options);

  TlsContext(const TlsContext& other) noexcept;
  TlsContext& operator=(const TlsContext& other) noexcept;
  TlsContext(TlsContext&& other) noexcept;
  TlsContext& operator=(TlsContext&& other) noexcept;
  ~TlsContext();

  bool is_server() const noexcept;
  // The OpenSSL context, for settings rfarm does not wrap. Change it only before the first stream uses it.
  SSL_CTX* native_handle() const noexcept { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) noexcept : ctx_(ctx) {}
  SSL_CTX* ctx_ = nullptr;  // one reference, shared through SSL_CTX_up_ref
};

}  // namespace rfarm
