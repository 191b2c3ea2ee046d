#include "reactor/tls/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "reactor/tls/tls_error_map.hpp"
#include "reactor/tls/tls_internal.hpp"

namespace rfarm {

namespace detail {
namespace {

void free_context_data(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<TlsContextData*>(ptr);
}

int context_data_index() noexcept {
  // One slot for the process, allocated on first use (thread-safe static initialisation); its free
  // function deletes the TlsContextData when the SSL_CTX goes.
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_context_data);
  return index;
}

}  // namespace

TlsContextData::~TlsContextData() {
  if (key_log) std::fclose(key_log);
}

TlsContextData* tls_context_data(const SSL_CTX* ctx) noexcept {
  return static_cast<TlsContextData*>(SSL_CTX_get_ex_data(ctx, context_data_index()));
}

int tls_state_index() noexcept {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace detail

namespace {

using detail::TlsContextData;

struct CtxDeleter {
  void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;

std::error_code plain_config_error() noexcept { return make_tls_error(TlsErrc::invalid_configuration); }

std::error_code errno_config_error(int err) noexcept {
  return make_tls_error(TlsErrc::invalid_configuration, TlsDetailSource::openssl, ERR_PACK(ERR_LIB_SYS, 0, err));
}

int protocol_number(TlsVersion v) noexcept { return v == TlsVersion::tls1_2 ? TLS1_2_VERSION : TLS1_3_VERSION; }

void write_key_log(const SSL* ssl, const char* line) {
  TlsContextData* data = detail::tls_context_data(SSL_get_SSL_CTX(ssl));
  if (data == nullptr || data->key_log == nullptr) return;
  std::lock_guard lock(data->key_log_mutex);
  // SSL_CTX_set_keylog_callback(3): the file format is each line followed by a newline.
  std::fprintf(data->key_log, "%s\n", line);
  std::fflush(data->key_log);
}

// Server side of ALPN: our first preference the client also offered. No overlap is fatal
// (no_application_protocol alert), as RFC 7301 section 3.2 asks.
int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  TlsContextData* data = detail::tls_context_data(SSL_get_SSL_CTX(ssl));
  if (data == nullptr || data->alpn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  const std::string& ours = data->alpn_wire;
  for (std::size_t i = 0; i < ours.size(); i += 1 + static_cast<unsigned char>(ours[i])) {
    auto len = static_cast<unsigned char>(ours[i]);
    for (unsigned int j = 0; j < inlen; j += 1u + in[j]) {
      if (j + 1u + in[j] > inlen) break;  // malformed list: ignore the rest
      if (in[j] == len && std::memcmp(in + j + 1, ours.data() + i + 1, len) == 0) {
        *out = in + j + 1;  // points into the client's list, valid for the rest of the handshake
        *outlen = len;
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// Server side of SNI: lets the selector swap in another context (its certificate) for the name asked for.
int select_server_name(SSL* ssl, int* alert, void*) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  TlsContextData* data = detail::tls_context_data(SSL_get_SSL_CTX(ssl));
  if (name == nullptr || data == nullptr || !data->sni_selector) return SSL_TLSEXT_ERR_OK;
  try {
    const TlsContext* chosen = data->sni_selector(name);
    // SSL_set_SSL_CTX takes its own reference: the chosen context only has to outlive this call.
    if (chosen != nullptr && chosen->native_handle() != SSL_get_SSL_CTX(ssl)) {
      if (SSL_set_SSL_CTX(ssl, chosen->native_handle()) == nullptr) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
      }
    }
  } catch (...) {  // no exception may cross OpenSSL (C) frames
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

Result<std::string> alpn_wire_format(const std::vector<std::string>& names) {
  std::string wire;
  for (const std::string& name : names) {
    if (name.empty() || name.size() > 255) return fail(plain_config_error());
    wire.push_back(static_cast<char>(name.size()));
    wire += name;
  }
  return wire;
}

std::error_code load_identity(SSL_CTX* ctx, const TlsContextOptions& o) {
  if (o.certificate_chain_file.empty() != o.private_key_file.empty()) return plain_config_error();
  if (o.certificate_chain_file.empty()) return {};
  if (SSL_CTX_use_certificate_chain_file(ctx, o.certificate_chain_file.c_str()) != 1) return detail::tls_config_error();
  if (SSL_CTX_use_PrivateKey_file(ctx, o.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return detail::tls_config_error();
  if (SSL_CTX_check_private_key(ctx) != 1) return detail::tls_config_error();
  return {};
}

std::error_code load_trust(SSL_CTX* ctx, const TlsContextOptions& o, bool server, TlsVerify verify) {
  if (!o.ca_file.empty() && SSL_CTX_load_verify_file(ctx, o.ca_file.c_str()) != 1) return detail::tls_config_error();
  if (!o.ca_directory.empty() && SSL_CTX_load_verify_dir(ctx, o.ca_directory.c_str()) != 1)
    return detail::tls_config_error();
  // A verifying client given no trust anchors trusts the system's, rather than failing every handshake.
  bool no_anchors = o.ca_file.empty() && o.ca_directory.empty();
  if (o.use_system_ca || (!server && verify != TlsVerify::none && no_anchors)) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) return detail::tls_config_error();
  }
  if (server && verify != TlsVerify::none && !o.ca_file.empty()) {
    // Tells clients which CAs we accept, so one holding several certificates can pick the right one.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.ca_file.c_str());
    if (names == nullptr) return detail::tls_config_error();
    SSL_CTX_set_client_CA_list(ctx, names);
  }
  if (!o.crl_file.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (lookup == nullptr || X509_load_crl_file(lookup, o.crl_file.c_str(), X509_FILETYPE_PEM) <= 0)
      return detail::tls_config_error();
    unsigned long flags = X509_V_FLAG_CRL_CHECK;
    if (o.crl_check_chain) flags |= X509_V_FLAG_CRL_CHECK_ALL;
    X509_STORE_set_flags(store, flags);
  }
  return {};
}

std::error_code configure(SSL_CTX* ctx, TlsContextData& data, const TlsContextOptions& o, bool server) {
  if (o.min_version > o.max_version) return plain_config_error();
  if (SSL_CTX_set_min_proto_version(ctx, protocol_number(o.min_version)) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, protocol_number(o.max_version)) != 1)
    return detail::tls_config_error();

  // SSL_CTX_set_options(3): SSL_OP_NO_RENEGOTIATION refuses TLS 1.2 renegotiation in both directions.
  std::uint64_t ssl_options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
  if (server) ssl_options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  if (server && o.session_tickets <= 0) ssl_options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, ssl_options);

  if (!o.cipher_list.empty() && SSL_CTX_set_cipher_list(ctx, o.cipher_list.c_str()) != 1)
    return detail::tls_config_error();
  if (!o.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str()) != 1)
    return detail::tls_config_error();

  if (server && (o.certificate_chain_file.empty() || o.private_key_file.empty())) return plain_config_error();
  if (std::error_code ec = load_identity(ctx, o)) return ec;

  TlsVerify verify = o.verify.value_or(server ? TlsVerify::none : TlsVerify::verify_peer);
  if (std::error_code ec = load_trust(ctx, o, server, verify)) return ec;
  int mode = SSL_VERIFY_NONE;
  if (verify != TlsVerify::none) mode = SSL_VERIFY_PEER;
  if (server && verify == TlsVerify::require_peer) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  if (o.verify_depth >= 0) SSL_CTX_set_verify_depth(ctx, o.verify_depth);

  auto wire = alpn_wire_format(o.alpn);
  if (!wire) return wire.error();
  data.alpn_wire = std::move(*wire);
  if (!data.alpn_wire.empty()) {
    if (server) {
      SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, nullptr);
    } else if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(data.alpn_wire.data()),
                                       static_cast<unsigned int>(data.alpn_wire.size())) != 0) {
      // SSL_CTX_set_alpn_protos(3): unlike most of OpenSSL it returns 0 on success.
      return detail::tls_config_error();
    }
  }

  if (!o.key_log_file.empty()) {
    data.key_log = std::fopen(o.key_log_file.c_str(), "ae");
    if (data.key_log == nullptr) return errno_config_error(errno);
    SSL_CTX_set_keylog_callback(ctx, &write_key_log);
  }

  if (server) {
    // SSL_CTX_set_session_id_context(3): without one, resuming a session that carried a client certificate
    // fails the handshake.
    static constexpr unsigned char kSessionContext[] = "rfarm";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    if (o.session_tickets > 0) SSL_CTX_set_num_tickets(ctx, static_cast<std::size_t>(o.session_tickets));
    data.sni_selector = o.sni_selector;
    if (data.sni_selector) SSL_CTX_set_tlsext_servername_callback(ctx, &select_server_name);
  } else {
    // Sessions go to the TlsSessionCache of the stream, not to OpenSSL's internal client cache.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &detail::tls_on_new_session);
  }
  return {};
}

Result<SSL_CTX*> create_context(const TlsContextOptions& options, bool server) {
  ERR_clear_error();
  CtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return fail(detail::tls_config_error());
  auto owned = std::make_unique<TlsContextData>();
  owned->server = server;
  TlsContextData* data = owned.get();
  if (SSL_CTX_set_ex_data(ctx.get(), detail::context_data_index(), owned.release()) != 1) {
    delete data;
    return fail(detail::tls_config_error());
  }
  if (std::error_code ec = configure(ctx.get(), *data, options, server)) {
    ERR_clear_error();
    return fail(ec);
  }
  return ctx.release();
}

}  // namespace

Result<TlsContext> TlsContext::client(const TlsContextOptions& options) {
  auto ctx = create_context(options, false);
  if (!ctx) return fail(ctx.error());
  return TlsContext(*ctx);
}

Result<TlsContext> TlsContext::server(const TlsContextOptions& options) {
  auto ctx = create_context(options, true);
  if (!ctx) return fail(ctx.error());
  return TlsContext(*ctx);
}

TlsContext::TlsContext(const TlsContext& other) noexcept : ctx_(other.ctx_) {
  if (ctx_) SSL_CTX_up_ref(ctx_);
}

TlsContext& TlsContext::operator=(const TlsContext& other) noexcept {
  if (this != &other) {
    if (other.ctx_) SSL_CTX_up_ref(other.ctx_);
    if (ctx_) SSL_CTX_free(ctx_);
    ctx_ = other.ctx_;
  }
  return *this;
}

TlsContext::TlsContext(TlsContext&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

TlsContext& TlsContext::operator=(TlsContext&& other) noexcept {
  if (this != &other) {
    if (ctx_) SSL_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

TlsContext::~TlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);
}

bool TlsContext::is_server() const noexcept {
  TlsContextData* data = ctx_ ? detail::tls_context_data(ctx_) : nullptr;
  return data != nullptr && data->server;
}

}  // namespace rfarm
