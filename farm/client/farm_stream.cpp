#include "farm/client/farm_stream.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include "lib/error.hpp"
#include "reactor/tls/tls_error.hpp"

namespace rfarm::farm {

namespace {

// A missing file is named before OpenSSL gets a chance to say something vaguer.
std::optional<Error> unreadable(std::string_view what, const std::string& path) {
  if (path.empty() || ::access(path.c_str(), R_OK) == 0) return std::nullopt;
  std::error_code ec(errno, std::generic_category());
  return Error{ec, fmt::format("{} {}: cannot read: {}", what, path, ec.message())};
}

}  // namespace

FarmResult<TlsContext> make_farm_tls_context(const FarmTlsOptions& options) {
  if (options.context) return *options.context;
  if (options.ca_file.empty())
    return fail_with(make_error_code(std::errc::invalid_argument),
                     "a tls: server needs a CA file to check its certificate (--tls-ca)");
  if (options.certificate_file.empty() != options.key_file.empty())
    return fail_with(make_error_code(std::errc::invalid_argument),
                     "a client certificate (--tls-cert) and its key (--tls-key) go together");
  for (auto [what, path] : {std::pair{"CA file", &options.ca_file}, std::pair{"certificate", &options.certificate_file},
                            std::pair{"key", &options.key_file}})
    if (auto e = unreadable(what, *path)) return std::unexpected(*e);
  auto context = TlsContext::client({.certificate_chain_file = options.certificate_file,
                                     .private_key_file = options.key_file,
                                     .ca_file = options.ca_file});
  if (!context) return fail_with(context.error(), "TLS client context: " + context.error().message());
  return std::move(*context);
}

Task<FarmResult<void>> connect_farm_stream(Reactor& reactor, FarmStream& stream, const EndpointSpec& spec,
                                           const Address& address, const TlsContext* context,
                                           const FarmTlsOptions& tls, Duration timeout) {
  stream.close();
  auto opened = StreamSocket::open(reactor, address.native_family());
  if (!opened) co_return fail_with(opened.error(), "socket: " + opened.error().message());
  stream = FarmStream(std::move(*opened));
  if (std::error_code ec = co_await stream.socket().connect_to(address, timeout))
    co_return fail_with(ec, "connect: " + ec.message());
  if (address.is_ip()) (void)stream.socket().set_nodelay(true);  // frames are batched per turn already
  if (spec.transport != Transport::tls) co_return FarmResult<void>{};

  if (context == nullptr)
    co_return fail_with(make_error_code(std::errc::invalid_argument), "tls: needs a TLS context (CA, certificate)");
  std::string name = !tls.server_name.empty() ? tls.server_name
                     : spec.has_host_name()   ? spec.host
                                              : address.ip_string();
  if (std::error_code ec = stream.start_tls(*context, {.server_name = name}))
    co_return fail_with(ec, "TLS: " + ec.message());
  if (std::error_code ec = co_await stream.handshake(timeout))
    co_return fail_with(ec, fmt::format("TLS handshake (server name {}): {}", name, ec.message()));
  co_return FarmResult<void>{};
}

bool is_refusal(const std::error_code& ec) noexcept {
  if (ec == FarmErrc::handshake_refused) return true;
  if (ec.category() != tls_category()) return false;
  // A TLS failure other than the stream simply ending: a certificate either side does not accept, no common
  // version or cipher, an alert from the server (TLS 1.3 servers reject a client certificate after the client's
  // handshake has finished: the alert arrives on the first read).
  TlsErrc why = tls_condition_of(ec);
  return why != TlsErrc::truncated && why != TlsErrc::invalid_state;
}

}  // namespace rfarm::farm
