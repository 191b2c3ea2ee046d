// TlsPki: a throw-away PKI for the TLS tests, made with the `openssl` command once per test binary (on first
// use) in a private temporary directory that goes away when the binary exits.
//
//     const TlsPki& pki = tls_pki();
//     if (!pki.ok()) GTEST_SKIP() << pki.error;         // e.g. "the openssl command is not installed"
//     TlsContext::server({.certificate_chain_file = pki.server_cert, .private_key_file = pki.server_key});
//
// What it holds: a CA; certificates issued by it for localhost (DNS:localhost, IP:127.0.0.1, IP:::1) that are
// valid, expired, not yet valid, revoked (with a CRL saying so), and one for the wrong host (wrong.example);
// a client certificate; and a localhost certificate from a second CA nobody trusts.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "test/support/child_process.hpp"

namespace rfarm::test {

struct TlsPki {
  std::string dir;
  std::string error;  // why there is no PKI (the test should skip with it)

  std::string ca_cert;
  std::string server_cert, server_key;                // localhost, 127.0.0.1, ::1
  std::string client_cert, client_key;                // CN=rfarm test client (clientAuth)
  std::string expired_cert, expired_key;              // localhost, valid 2000-2001
  std::string not_yet_valid_cert, not_yet_valid_key;  // localhost, valid 2090-2091
  std::string revoked_cert, revoked_key;              // localhost (server and client use), revoked in crl
  std::string crl;                                    // the CA's CRL: lists revoked_cert only
  std::string wrong_host_cert, wrong_host_key;        // wrong.example
  std::string rogue_ca_cert;                          // a CA nobody here trusts
  std::string rogue_cert, rogue_key;                  // localhost, issued by the rogue CA

  bool ok() const { return error.empty(); }

  ~TlsPki() {
    if (!dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }
};

// The whole content of a (small) file.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

namespace detail {

inline constexpr const char* kPkiScript = R"SH(
set -e
cd "$1"
exec 2>openssl.log
mkdir -p newcerts
: > index.txt
echo 1000 > serial
echo 1000 > crlnumber
cat > ca.cnf <<'EOF'
[ ca ]
default_ca = rfarm
[ rfarm ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
serial = ./serial
crlnumber = ./crlnumber
certificate = ./ca.pem
private_key = ./ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = anything
unique_subject = no
[ anything ]
organizationName = optional
commonName = supplied
[ server ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[ wrong ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
[ client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
EOF
new_key() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
  -subj "/O=rfarm test/CN=rfarm test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
leaf() {
  name=$1; subject=$2; section=$3; shift 3
  new_key "$name" "$subject"
  openssl ca -batch -notext -config ca.cnf -extensions "$section" -in "$name.csr" -out "$name.pem" "$@"
}
leaf server "/O=rfarm test/CN=localhost" server
leaf client "/O=rfarm test/CN=rfarm test client" client
leaf expired "/O=rfarm test/CN=localhost" server -startdate 20000101000000Z -enddate 20010101000000Z
leaf notyet "/O=rfarm test/CN=localhost" server -startdate 20900101000000Z -enddate 20910101000000Z
leaf revoked "/O=rfarm test/CN=localhost" server
leaf wronghost "/O=rfarm test/CN=wrong.example" wrong
openssl ca -batch -config ca.cnf -revoke revoked.pem
openssl ca -batch -config ca.cnf -gencrl -out crl.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue-ca.key -out rogue-ca.pem \
  -days 30 -subj "/O=rogue/CN=rfarm rogue CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
new_key rogue "/O=rogue/CN=localhost"
openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -CAcreateserial -days 30 \
  -extfile ca.cnf -extensions server -out rogue.pem
echo done
)SH";

inline TlsPki make_tls_pki() {
  TlsPki pki;
  if (!program_runs({"openssl", "version"})) {
    pki.error = "the openssl command is not installed (Debian package openssl)";
    return pki;
  }
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/rfarm-tls-pki-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    pki.error = "cannot create a temporary directory for the test PKI";
    return pki;
  }
  pki.dir = tmpl;
  std::string log = pki.dir + "/openssl.log";
  // openssl's chatter goes to openssl.log, not into the test's output.
  auto child = ChildProcess::spawn({"sh", "-c", kPkiScript, "sh", pki.dir});
  if (!child) {
    pki.error = "cannot run sh: " + child.error().message();
    return pki;
  }
  auto line = child->read_line(std::chrono::seconds(60));
  int status = child->wait(std::chrono::seconds(60));
  if (status != 0 || !line || *line != "done") {
    pki.error =
        "generating the test PKI with openssl failed (status " + std::to_string(status) + "): " + read_file(log);
    return pki;
  }
  auto at = [&](const char* name) { return pki.dir + "/" + name; };
  pki.ca_cert = at("ca.pem");
  pki.server_cert = at("server.pem");
  pki.server_key = at("server.key");
  pki.client_cert = at("client.pem");
  pki.client_key = at("client.key");
  pki.expired_cert = at("expired.pem");
  pki.expired_key = at("expired.key");
  pki.not_yet_valid_cert = at("notyet.pem");
  pki.not_yet_valid_key = at("notyet.key");
  pki.revoked_cert = at("revoked.pem");
  pki.revoked_key = at("revoked.key");
  pki.crl = at("crl.pem");
  pki.wrong_host_cert = at("wronghost.pem");
  pki.wrong_host_key = at("wronghost.key");
  pki.rogue_ca_cert = at("rogue-ca.pem");
  pki.rogue_cert = at("rogue.pem");
  pki.rogue_key = at("rogue.key");
  return pki;
}

}  // namespace detail

// The PKI of this test binary, made on first use.
inline const TlsPki& tls_pki() {
  static const TlsPki pki = detail::make_tls_pki();
  return pki;
}

}  // namespace rfarm::test
