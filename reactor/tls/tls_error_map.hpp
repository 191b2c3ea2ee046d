// Internal to reactor/tls: turning OpenSSL's failure reports into TLS error codes.
#pragma once

#include <openssl/ssl.h>

#include <system_error>

#include "reactor/tls/tls_error.hpp"

namespace rfarm::detail {

// A failed certificate verification (SSL_get_verify_result / X509_STORE_CTX_get_error).
std::error_code tls_error_from_verify(long verify_result) noexcept;

// One OpenSSL error (from the thread's error queue) as the condition it means.
std::error_code tls_error_from_openssl(unsigned long err) noexcept;

// The first error on the thread's error queue as a TlsErrc::invalid_configuration code (the cause, not the
// consequence: a missing file reports "No such file or directory"), then clears the queue.
std::error_code tls_config_error() noexcept;

// After SSL_ERROR_SSL on ssl: the reason on the error queue, or the verification result when the reason
// is "certificate verify failed". Clears the queue.
std::error_code tls_error_after_failure(const SSL* ssl) noexcept;

}  // namespace rfarm::detail
