#include "tools/tls_options.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "reactor/tls/tls_certificate.hpp"

namespace rfarm::tools {

namespace {

std::string about(const char* option, const std::string& path) { return std::string(option) + " " + path + ": "; }

// Empty if path can be opened for reading, else why not, naming the option. Checked before OpenSSL sees the
// file: its own report of a missing file ("system library::No such file or directory") names neither.
std::string unreadable(const char* option, const std::string& path) {
  if (path.empty()) return {};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return about(option, path) + "cannot read: " + std::strerror(errno);
  ::close(fd);
  return {};
}

}  // namespace

std::expected<TlsContext, std::string> make_tls_context(TlsRole role, const TlsFiles& files, TlsContextOptions base) {
  for (auto [option, path] : {std::pair{"--tls-cert", &files.certificate_file}, std::pair{"--tls-key", &files.key_file},
                              std::pair{"--tls-ca", &files.ca_file}}) {
    if (std::string why = unreadable(option, *path); !why.empty()) return std::unexpected(why);
  }
  bool server = role == TlsRole::server;
  auto make = [server](const TlsContextOptions& o) { return server ? TlsContext::server(o) : TlsContext::client(o); };

  // 1. The certificate alone parses.
  if (!files.certificate_file.empty()) {
    if (auto cert = TlsCertificateInfo::from_pem_file(files.certificate_file); !cert)
      return std::unexpected(about("--tls-cert", files.certificate_file) +
                             "not a PEM certificate: " + cert.error().message());
  }
  // 2. The trust anchors alone (a client; a server needs its identity first).
  TlsContextOptions trust_only = base;
  trust_only.ca_file = files.ca_file;
  if (!server && !files.ca_file.empty()) {
    if (auto made = make(trust_only); !made)
      return std::unexpected(about("--tls-ca", files.ca_file) + made.error().message());
  }
  // 3. The identity: the certificate parsed, so what fails now is the key (unparsable, or not the
  //    certificate's).
  TlsContextOptions identity = base;
  identity.certificate_chain_file = files.certificate_file;
  identity.private_key_file = files.key_file;
  if (!files.certificate_file.empty()) {
    if (auto made = make(identity); !made)
      return std::unexpected(about("--tls-key", files.key_file) + made.error().message());
  }
  // 4. Everything; only the CA file is new for a server.
  TlsContextOptions all = identity;
  all.ca_file = files.ca_file;
  auto made = make(all);
  if (!made) {
    if (!files.ca_file.empty()) return std::unexpected(about("--tls-ca", files.ca_file) + made.error().message());
    return std::unexpected("TLS: " + made.error().message());
  }
  return std::move(*made);
}

}  // namespace rfarm::tools
