#include "relay/web/site.hpp"

#include <sodium.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace tirai::relay::web {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Calls f(piece) for each comma-separated piece of a header value, trimmed.
template <typename F>
void each_item(std::string_view list, F f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    f(trim(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// The entity tag of the gzipped representation: a different tag for
// different bytes, as a cache that stored either must be told apart.
std::string gzip_etag(std::string_view etag) {
  std::string out(etag.substr(0, etag.size() - 1));
  out += "-gz\"";
  return out;
}

// A path that may name a file: absolute, no empty, '.', '..' or hidden
// segment, nothing that a file system or a decoder could read otherwise.
bool plain_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  if (path.find_first_of(std::string_view("\\%\0", 3)) != std::string_view::npos) return false;
  std::string_view rest = path.substr(1);
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const auto segment = rest.substr(0, slash);
    if (segment.empty() || segment.front() == '.') return false;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return true;
}

std::string hex_hash(std::string_view bytes) {
  unsigned char h[16];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), nullptr, 0);
  char hex[sizeof h * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return std::string(hex, 16);
}

std::string make_policy(const std::string& connect_src) {
  std::string p = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'";
  if (!connect_src.empty()) p += " " + connect_src;
  p += "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  return p;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& security_headers() {
  static const std::vector<std::pair<std::string, std::string>> h = {
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
  };
  return h;
}

std::string_view content_type_for(std::string_view name) {
  const auto dot = name.rfind('.');
  const auto ext = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "json") return "application/json";
  if (ext == "png") return "image/png";
  if (ext == "txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

bool accepts_gzip(std::string_view accept_encoding) {
  // A "gzip" item decides; otherwise a "*" item does (RFC 9110 §12.5.3).
  std::optional<bool> gzip, any;
  each_item(accept_encoding, [&](std::string_view item) {
    const auto semi = item.find(';');
    const auto coding = trim(item.substr(0, semi));
    bool zero = false;
    if (semi != std::string_view::npos) {
      const auto param = trim(item.substr(semi + 1));
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        const auto q = trim(param.substr(2));
        zero = !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;  // q=0, q=0.000
      }
    }
    if (iequals(coding, "gzip")) gzip = !zero;
    else if (coding == "*") any = !zero;
  });
  return gzip ? *gzip : any.value_or(false);
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  bool found = false;
  each_item(if_none_match, [&](std::string_view tag) {
    if (tag == "*") found = true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) found = true;
  });
  return found;
}

Site::Site(std::string connect_src) : policy_(make_policy(connect_src)) {}

Site Site::embedded(std::string_view site, std::string connect_src) {
  Site s(std::move(connect_src));
  for (const auto& a : embedded_assets())
    if (a.site == site)
      s.assets_.push_back(File{std::string(a.path), std::string(a.type), std::string(a.etag), a.immutable, a.body, a.gzip});
  return s;
}

Site Site::from_folder(const std::filesystem::path& root, std::string_view site, std::string connect_src) {
  Site s(std::move(connect_src));
  std::error_code ec;
  auto dir = std::filesystem::canonical(root / std::string(site), ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw std::runtime_error("relay.web_root: " + (root / std::string(site)).string() +
                             " is not a folder (build it with: node web/build.mjs --out " + root.string() + ")");
  s.folder_ = dir;
  return s;
}

std::optional<Site::File> Site::find(std::string_view path, std::string& storage) const {
  if (!plain_path(path)) return std::nullopt;
  if (!folder_) {
    for (const auto& f : assets_)
      if (f.path == path) return f;
    return std::nullopt;
  }
  // On disk: a folder's page is its index.html; the file must stay inside
  // the folder once links are followed.
  std::filesystem::path p = *folder_ / std::filesystem::path(std::string(path.substr(1)));
  if (path.back() == '/') p /= "index.html";
  std::error_code ec;
  const auto real = std::filesystem::canonical(p, ec);
  if (ec || !std::filesystem::is_regular_file(real, ec)) return std::nullopt;
  const auto rel = real.lexically_relative(*folder_);
  if (rel.empty() || *rel.begin() == "..") return std::nullopt;
  std::ifstream in(real, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  storage = std::move(bytes).str();
  File f;
  f.path = std::string(path);
  f.type = std::string(content_type_for(real.filename().string()));
  f.etag = "\"" + hex_hash(storage) + "\"";
  f.immutable = path.starts_with("/assets/");
  f.body = storage;
  return f;
}

std::optional<PageAnswer> Site::answer(const PageRequest& r) const {
  std::string storage;
  auto file = find(r.path, storage);
  PageAnswer a;
  a.head = r.head;
  a.headers.emplace_back("Content-Security-Policy", policy_);
  if (!file) {
    // "/talent" means the folder: sent to its slash, so that the page's
    // relative names resolve as the build wrote them.
    if (r.path.empty() || r.path.back() == '/') return std::nullopt;
    std::string folder(r.path);
    folder += '/';
    std::string ignored;
    if (!find(folder, ignored)) return std::nullopt;
    a.status = 308;
    a.headers.emplace_back("Location", folder);
    a.headers.emplace_back("Cache-Control", "no-cache");
    return a;
  }
  const bool gzip = !file->gzip.empty() && accepts_gzip(r.accept_encoding);
  const std::string etag = gzip ? gzip_etag(file->etag) : file->etag;
  a.headers.emplace_back("Cache-Control", file->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  a.headers.emplace_back("ETag", etag);
  if (!file->gzip.empty()) a.headers.emplace_back("Vary", "Accept-Encoding");
  // A cache may hold either representation: both tags are current.
  if (!r.if_none_match.empty() &&
      (etag_matches(r.if_none_match, file->etag) || etag_matches(r.if_none_match, gzip_etag(file->etag)))) {
    a.status = 304;
    return a;
  }
  a.headers.emplace_back("Content-Type", file->type);
  if (gzip) a.headers.emplace_back("Content-Encoding", "gzip");
  a.body = std::string(gzip ? file->gzip : file->body);
  return a;
}

}  // namespace tirai::relay::web
