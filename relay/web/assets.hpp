#pragma once
// The web apps' files as built into tiraid (web/build.mjs generates the
// table at build time from web/).
#include <span>
#include <string_view>

namespace tirai::relay::web {

struct Asset {
  std::string_view site;  // "relay" (talent console, client page) or "admin" (operator page)
  std::string_view path;  // as served: "/talent/", "/assets/talent-1a2b3c4d.js"
  std::string_view type;  // Content-Type
  std::string_view etag;  // a strong entity tag, quotes included
  bool immutable;         // a content-hashed name: cached for good
  std::string_view body;
  std::string_view gzip;  // the body gzipped; empty when that is not smaller
};

// Every file of every site, in the generated table.
std::span<const Asset> embedded_assets();

}  // namespace tirai::relay::web
