#pragma once
// A site as a listener's `pages` hook (relay/http/server.hpp). Included only
// by the listeners' .cpp files, which already pay for Beast.
#include "relay/http/server.hpp"
#include "relay/web/site.hpp"

#include <memory>

namespace tirai::relay::web {

inline std::function<std::optional<httpd::Reply>(const httpd::Request&, std::string_view)> pages_of(
    std::shared_ptr<const Site> site) {
  return [site = std::move(site)](const httpd::Request& req, std::string_view path) -> std::optional<httpd::Reply> {
    namespace http = boost::beast::http;
    PageRequest r;
    r.head = req.method() == http::verb::head;
    r.path = path;
    r.accept_encoding = req[http::field::accept_encoding];
    r.if_none_match = req[http::field::if_none_match];
    auto page = site->answer(r);
    if (!page) return std::nullopt;
    httpd::Reply reply;
    reply.status = page->status;
    reply.content_type.clear();  // among the page's fields
    reply.headers = std::move(page->headers);
    reply.raw = std::move(page->body);
    reply.head = page->head;
    return reply;
  };
}

}  // namespace tirai::relay::web
