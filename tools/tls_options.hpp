// The TLS files the tools share (--tls-cert, --tls-key, --tls-ca: the options themselves are added by
// tools/cli.hpp's add_tls_file_options), and TLS contexts made from them so that every failure names the option
// and the file at fault:
//
//     --tls-cert /etc/x.pem: cannot read: No such file or directory
//     --tls-key server.key: does not fit --tls-cert, or is not a PEM private key: <OpenSSL's reason>
//
//     tools::TlsFiles files;
//     tools::add_tls_file_options(cli.app(), files, tools::TlsRole::server);
//     auto context = tools::make_tls_context(tools::TlsRole::server, files, {});   // or the message to print
#pragma once

#include <expected>
#include <string>

#include "reactor/tls/tls_context.hpp"

namespace rfarm::tools {

enum class TlsRole { server, client };

struct TlsFiles {
  std::string certificate_file{};  // --tls-cert: our PEM chain, leaf first
  std::string key_file{};          // --tls-key: its private key
  std::string ca_file{};           // --tls-ca: the CAs we trust for the peer's certificate
};

// A context for the role from the files and base (verification, ALPN, ...; its file fields are replaced).
// Each given file is first checked to be readable; then the context is built one option at a time, so that
// what OpenSSL rejects is reported against the option that brought it. The error is the line to print.
std::expected<TlsContext, std::string> make_tls_context(TlsRole role, const TlsFiles& files,
                                                        TlsContextOptions base);

}  // namespace rfarm::tools
