#include "reactor/tls/tls_session_cache.hpp"

#include <openssl/ssl.h>

#include <list>
#include <mutex>
#include <unordered_map>

namespace rfarm {

namespace detail {

// Least-recently-stored eviction: a list in storing order, a map from key to list position.
class TlsSessionStore {
 public:
  explicit TlsSessionStore(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  TlsSessionStore(const TlsSessionStore&) = delete;
  TlsSessionStore& operator=(const TlsSessionStore&) = delete;
  ~TlsSessionStore() { clear(); }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

  void clear() {
    std::lock_guard lock(mutex_);
    for (Entry& e : entries_) SSL_SESSION_free(e.session);
    entries_.clear();
    index_.clear();
  }

  void erase(std::string_view key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(std::string(key));
    if (it == index_.end()) return;
    SSL_SESSION_free(it->second->session);
    entries_.erase(it->second);
    index_.erase(it);
  }

  SSL_SESSION* find(std::string_view key) const {
    std::lock_guard lock(mutex_);
    auto it = index_.find(std::string(key));
    if (it == index_.end()) return nullptr;
    SSL_SESSION* session = it->second->session;
    if (SSL_SESSION_is_resumable(session) != 1) return nullptr;
    SSL_SESSION_up_ref(session);
    return session;
  }

  void store(std::string_view key, SSL_SESSION* session) {
    std::lock_guard lock(mutex_);
    std::string k(key);
    if (auto it = index_.find(k); it != index_.end()) {
      SSL_SESSION_free(it->second->session);
      entries_.erase(it->second);
      index_.erase(it);
    }
    if (entries_.size() >= capacity_) {
      SSL_SESSION_free(entries_.front().session);
      index_.erase(entries_.front().key);
      entries_.pop_front();
    }
    entries_.push_back({k, session});
    index_.emplace(std::move(k), std::prev(entries_.end()));
  }

 private:
  struct Entry {
    std::string key;
    SSL_SESSION* session;  // one reference owned
  };
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> entries_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace detail

TlsSessionCache::TlsSessionCache(std::size_t capacity) : store_(std::make_shared<detail::TlsSessionStore>(capacity)) {}

std::size_t TlsSessionCache::size() const { return store_->size(); }
void TlsSessionCache::clear() { store_->clear(); }
void TlsSessionCache::erase(std::string_view key) { store_->erase(key); }
SSL_SESSION* TlsSessionCache::find(std::string_view key) const { return store_->find(key); }
void TlsSessionCache::store(std::string_view key, SSL_SESSION* session) { store_->store(key, session); }

}  // namespace rfarm
