// TlsContext creation (every configuration error names OpenSSL's reason) and the TLS error category. No I/O
// and no reactor: plain tests.
#include "reactor/tls/tls_context.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <fstream>

#include "reactor/tls/tls_error.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/tls_pki.hpp"

namespace rfarm::test {
namespace {

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tls_pki().ok()) GTEST_SKIP() << tls_pki().error;
  }
  const TlsPki& pki() { return tls_pki(); }
};

bool mentions(const std::error_code& ec, const std::string& text) {
  return ec.message().find(text) != std::string::npos;
}

TEST_F(TlsContextTest, ServerAndClientContextsFromValidFiles) {
  auto server = TlsContext::server({.certificate_chain_file = pki().server_cert,
                                    .private_key_file = pki().server_key,
                                    .ca_file = pki().ca_cert,
                                    .verify = TlsVerify::require_peer,
                                    .crl_file = pki().crl,
                                    .alpn = {"h2"}});
  ASSERT_TRUE(server) << server.error().message();
  EXPECT_TRUE(server->is_server());
  auto client = TlsContext::client({.ca_file = pki().ca_cert});
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_FALSE(client->is_server());
  // Copies share one SSL_CTX.
  TlsContext copy = *client;
  EXPECT_EQ(copy.native_handle(), client->native_handle());
}

TEST_F(TlsContextTest, MissingCertificateFileSaysSo) {
  auto ctx =
      TlsContext::server({.certificate_chain_file = "/nonexistent/cert.pem", .private_key_file = pki().server_key});
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error(), TlsErrc::invalid_configuration);
  EXPECT_TRUE(mentions(ctx.error(), "No such file or directory")) << ctx.error().message();
}

TEST_F(TlsContextTest, KeyNotMatchingTheCertificateIsRefused) {
  auto ctx = TlsContext::server({.certificate_chain_file = pki().server_cert, .private_key_file = pki().client_key});
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error(), TlsErrc::invalid_configuration);
  EXPECT_TRUE(mentions(ctx.error(), "key values mismatch")) << ctx.error().message();
}

TEST_F(TlsContextTest, FileThatIsNotPemIsRefused) {
  TempDir dir;
  std::string junk = dir.file("junk.pem");
  std::ofstream(junk) << "not a certificate\n";
  auto ctx = TlsContext::client({.ca_file = junk});
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error(), TlsErrc::invalid_configuration) << ctx.error().message();
}

TEST_F(TlsContextTest, UnusableCipherListIsRefused) {
  auto ctx = TlsContext::client({.cipher_list = "NO-SUCH-CIPHER"});
  ASSERT_FALSE(ctx);
  EXPECT_TRUE(mentions(ctx.error(), "no cipher match")) << ctx.error().message();
  auto suites = TlsContext::client({.ciphersuites = "TLS_NO_SUCH_SUITE"});
  ASSERT_FALSE(suites);
  EXPECT_EQ(suites.error(), TlsErrc::invalid_configuration);
}

TEST_F(TlsContextTest, ServerNeedsACertificateAndVersionsMustBeOrdered) {
  EXPECT_EQ(TlsContext::server({}).error(), TlsErrc::invalid_configuration);
  EXPECT_EQ(TlsContext::client({.certificate_chain_file = pki().client_cert}).error(), TlsErrc::invalid_configuration);
  auto backwards = TlsContext::client({.min_version = TlsVersion::tls1_3, .max_version = TlsVersion::tls1_2});
  EXPECT_EQ(backwards.error(), TlsErrc::invalid_configuration);
  EXPECT_EQ(TlsContext::client({.alpn = {""}}).error(), TlsErrc::invalid_configuration);
}

TEST_F(TlsContextTest, BadCrlFileIsRefused) {
  auto ctx = TlsContext::client({.ca_file = pki().ca_cert, .crl_file = pki().server_cert});  // a certificate, no CRL
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error(), TlsErrc::invalid_configuration) << ctx.error().message();
}

TEST_F(TlsContextTest, UnwritableKeyLogFileIsRefused) {
  auto ctx = TlsContext::client({.key_log_file = "/nonexistent/dir/keys.log"});
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error(), TlsErrc::invalid_configuration);
  EXPECT_TRUE(mentions(ctx.error(), "No such file or directory")) << ctx.error().message();
}

TEST_F(TlsContextTest, AFailedCreationLeavesNoErrorOnTheThreadsQueue) {
  ASSERT_FALSE(TlsContext::server({.certificate_chain_file = "/nonexistent", .private_key_file = "/nonexistent"}));
  EXPECT_EQ(ERR_peek_error(), 0u);  // it would confuse the next SSL_get_error on this thread
}

TEST(TlsErrorTest, CodesCompareEqualToTheirConditionWhateverTheDetail) {
  std::error_code expired =
      make_tls_error(TlsErrc::certificate_expired, TlsDetailSource::x509_verify, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(expired, TlsErrc::certificate_expired);
  EXPECT_NE(expired, TlsErrc::unknown_ca);
  EXPECT_EQ(tls_condition_of(expired), TlsErrc::certificate_expired);
  EXPECT_EQ(tls_verify_error_of(expired), X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(tls_openssl_error_of(expired), 0u);
  EXPECT_EQ(expired.message(), "certificate expired: certificate has expired (X509_V_ERR 10)");
  EXPECT_STREQ(expired.category().name(), "tls");
}

TEST(TlsErrorTest, OpensslReasonsKeepTheirLibraryAndText) {
  unsigned long alert = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_TLSV1_ALERT_UNKNOWN_CA);
  std::error_code ec = make_tls_error(TlsErrc::unknown_ca, TlsDetailSource::openssl, alert);
  EXPECT_EQ(ec, TlsErrc::unknown_ca);
  EXPECT_EQ(tls_openssl_error_of(ec), alert);
  EXPECT_EQ(ec.message(), "certificate issued by an unknown CA: tlsv1 alert unknown ca (SSL routines)");
  std::error_code sys =
      make_tls_error(TlsErrc::invalid_configuration, TlsDetailSource::openssl, ERR_PACK(ERR_LIB_SYS, 0, ENOENT));
  EXPECT_EQ(sys.message(), "invalid TLS configuration: No such file or directory");
}

TEST(TlsErrorTest, TlsConditionsDoNotMatchOtherCategories) {
  EXPECT_NE(std::make_error_code(std::errc::timed_out), TlsErrc::handshake_failed);
  EXPECT_NE(make_error_code(Errc::timed_out), TlsErrc::truncated);
  EXPECT_EQ(tls_condition_of(std::make_error_code(std::errc::io_error)), TlsErrc{});
  std::error_code truncated = make_tls_error(TlsErrc::truncated);
  EXPECT_NE(truncated, std::errc::timed_out);
  EXPECT_EQ(truncated, TlsErrc::truncated);
}

}  // namespace
}  // namespace rfarm::test
