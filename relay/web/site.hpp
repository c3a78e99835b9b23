#pragma once
// One site of the web apps (the relay port's talent console and client page,
// or the admin port's operator page): its files, from the table built into
// tiraid or from a folder on disk (relay.web_root, for development), and how
// each is answered over HTTP: the security headers every page carries,
// caching with entity tags, gzip, HEAD, and redirects to a folder's slash.
// No Beast here: the listener turns a PageAnswer into its reply.
#include "relay/web/assets.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tirai::relay::web {

// What a request for a page said that matters here.
struct PageRequest {
  bool head = false;  // HEAD: the same headers, no body
  std::string_view path = {};        // the target before any '?', as sent (not decoded)
  std::string_view accept_encoding = {};  // Accept-Encoding, empty when absent
  std::string_view if_none_match = {};    // If-None-Match, empty when absent
};

struct PageAnswer {
  unsigned status = 200;  // 200, 304 or 308
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type included
  std::string body;
  bool head = false;  // send the headers and Content-Length of `body`, not the body
};

class Site {
 public:
  // The files of `site` in the table built into tiraid.
  static Site embedded(std::string_view site, std::string connect_src);
  // The files under `root`/`site`/, read at each request: what web/build.mjs
  // wrote to its --out folder. Throws std::runtime_error when the folder
  // does not exist.
  static Site from_folder(const std::filesystem::path& root, std::string_view site, std::string connect_src);

  // The answer for a GET or HEAD of `r.path`, or nullopt when the site has
  // no such file (the listener then answers 404). Paths with a '.' or '..'
  // segment, a backslash, a '%' or a NUL never name a file; nor does a file
  // reached through a link that leaves the folder.
  std::optional<PageAnswer> answer(const PageRequest& r) const;

  // The Content-Security-Policy every answer carries.
  const std::string& policy() const { return policy_; }
  std::size_t size() const { return assets_.size(); }

 private:
  Site(std::string connect_src);
  struct File {
    std::string path, type, etag;
    bool immutable = false;
    std::string_view body, gzip;  // embedded
  };
  std::optional<File> find(std::string_view path, std::string& storage) const;

  std::vector<File> assets_;           // embedded
  std::optional<std::filesystem::path> folder_;  // or on disk
  std::string policy_;
};

// The security headers of every answer of a listener that serves pages
// (nosniff, no referrer), as name and value.
const std::vector<std::pair<std::string, std::string>>& security_headers();

// Content-Type for a file name's extension; "application/octet-stream" when unknown.
std::string_view content_type_for(std::string_view name);

// Whether an Accept-Encoding value accepts gzip (a "gzip" or "*" coding
// whose q is not 0).
bool accepts_gzip(std::string_view accept_encoding);

// Whether an If-None-Match value names `etag` (or is "*"); weak tags
// compare equal to their strong form (RFC 9110 §13.1.2).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

}  // namespace tirai::relay::web
