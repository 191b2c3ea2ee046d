#include "reactor/tls/tls_certificate.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "reactor/tls/tls_error_map.hpp"

namespace rfarm {
namespace {

template <class T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const noexcept { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Freer<BIO, BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, Freer<BIGNUM, BN_free>>;
using X509Ptr = std::unique_ptr<X509, Freer<X509, X509_free>>;

void free_general_names(GENERAL_NAMES* names) { GENERAL_NAMES_free(names); }
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Freer<GENERAL_NAMES, free_general_names>>;

std::string asn1_to_utf8(const ASN1_STRING* s) {
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::vector<TlsNameEntry> name_entries(const X509_NAME* name) {
  std::vector<TlsNameEntry> out;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT* object = X509_NAME_ENTRY_get_object(entry);
    int nid = OBJ_obj2nid(object);
    std::string field;
    if (nid != NID_undef) {
      field = OBJ_nid2sn(nid);
    } else {
      char oid[128];
      OBJ_obj2txt(oid, sizeof oid, object, 1);
      field = oid;
    }
    out.push_back({std::move(field), asn1_to_utf8(X509_NAME_ENTRY_get_data(entry))});
  }
  return out;
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

void read_alt_names(X509* cert, TlsCertificateInfo& info) {
  NamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type == GEN_DNS) {
      info.dns_names.push_back(asn1_to_utf8(gn->d.dNSName));
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(ip);
      int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      if (family != 0 && ::inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof text) != nullptr)
        info.ip_addresses.emplace_back(text);
    }
  }
}

std::string_view field_of(const std::vector<TlsNameEntry>& entries, std::string_view field) noexcept {
  for (const TlsNameEntry& e : entries)
    if (e.field == field) return e.value;
  return {};
}

}  // namespace

std::string_view TlsCertificateInfo::subject_field(std::string_view field) const noexcept {
  return field_of(subject, field);
}

std::string_view TlsCertificateInfo::issuer_field(std::string_view field) const noexcept {
  return field_of(issuer, field);
}

std::string TlsCertificateInfo::sha256_hex() const {
  std::string out;
  char pair[4];
  for (std::size_t i = 0; i < sha256.size(); ++i) {
    std::snprintf(pair, sizeof pair, i == 0 ? "%02X" : ":%02X", sha256[i]);
    out += pair;
  }
  return out;
}

Result<TlsCertificateInfo> TlsCertificateInfo::describe(X509* cert) {
  if (cert == nullptr) return fail(make_tls_error(TlsErrc::no_peer_certificate));
  TlsCertificateInfo info;
  info.subject = name_entries(X509_get_subject_name(cert));
  info.issuer = name_entries(X509_get_issuer_name(cert));
  info.subject_text = name_text(X509_get_subject_name(cert));
  info.issuer_text = name_text(X509_get_issuer_name(cert));
  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (serial) {
    char* hex = BN_bn2hex(serial.get());
    if (hex) {
      info.serial_hex = hex;
      OPENSSL_free(hex);
    }
  }
  info.not_before = to_time_point(X509_get0_notBefore(cert));
  info.not_after = to_time_point(X509_get0_notAfter(cert));
  unsigned int md_len = 0;
  if (X509_digest(cert, EVP_sha256(), info.sha256.data(), &md_len) != 1 || md_len != info.sha256.size()) {
    ERR_clear_error();
    return fail(make_tls_error(TlsErrc::bad_certificate));
  }
  read_alt_names(cert, info);
  return info;
}

Result<TlsCertificateInfo> TlsCertificateInfo::from_pem_file(const std::string& path) {
  ERR_clear_error();
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return fail(detail::tls_config_error());
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return fail(detail::tls_config_error());
  return describe(cert.get());
}

}  // namespace rfarm
