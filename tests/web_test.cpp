// The web apps as tiraid serves them: the answers of a site (headers,
// caching, gzip, HEAD, redirects, no escape from its folder), the table built
// into tiraid, and a listener serving pages over a real socket.
#include "relay/http/server.hpp"
#include "relay/web/pages.hpp"
#include "relay/web/site.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <thread>

using namespace tirai::relay;
using namespace tirai::relay::web;
using tirai::test::TempDir;

namespace {

void write(const std::filesystem::path& p, std::string_view bytes) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string header(const PageAnswer& a, std::string_view name) {
  for (const auto& [n, v] : a.headers)
    if (n == name) return v;
  return {};
}

// A built site on disk: relay/{talent/index.html, assets/app-1.js}, and a
// secret beside it that no path may reach.
struct Folder {
  TempDir dir;
  Folder() {
    write(dir.path() / "relay/talent/index.html", "<!doctype html><title>talent</title>");
    write(dir.path() / "relay/assets/app-1.js", "console.log(1)");
    write(dir.path() / "relay/.hidden", "hidden");
    write(dir.path() / "secret.txt", "the master key");
    std::filesystem::create_symlink(dir.path() / "secret.txt", dir.path() / "relay/link.txt");
  }
  Site site() const { return Site::from_folder(dir.path(), "relay", "ws://127.0.0.1:1"); }
};

}  // namespace

TEST_CASE("Accept-Encoding and If-None-Match are read as RFC 9110 says", "[web]") {
  CHECK(accepts_gzip("gzip, deflate, br"));
  CHECK(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
  CHECK(accepts_gzip("*"));
  CHECK_FALSE(accepts_gzip(""));
  CHECK_FALSE(accepts_gzip("br, deflate"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("gzip;q=0.000, *"));  // the named coding decides
  CHECK_FALSE(accepts_gzip("*;q=0"));
  CHECK_FALSE(accepts_gzip("gzipx"));

  CHECK(etag_matches("\"abc\"", "\"abc\""));
  CHECK(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
  CHECK(etag_matches("*", "\"abc\""));
  CHECK_FALSE(etag_matches("\"abcd\"", "\"abc\""));
  CHECK_FALSE(etag_matches("abc", "\"abc\""));

  CHECK(content_type_for("index.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("a.b.js") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("x.css") == "text/css; charset=utf-8");
  CHECK(content_type_for("favicon.svg") == "image/svg+xml");
  CHECK(content_type_for("Makefile") == "application/octet-stream");
}

TEST_CASE("a site answers its pages with the policy, caching by entity tag, and HEAD", "[web]") {
  Folder f;
  const auto site = f.site();
  CHECK_THAT(site.policy(), Catch::StartsWith("default-src 'none'; script-src 'self'; style-src 'self'") &&
                                Catch::Contains("connect-src 'self' ws://127.0.0.1:1") &&
                                Catch::Contains("frame-ancestors 'none'"));

  auto page = site.answer({.path = "/talent/"});
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body == "<!doctype html><title>talent</title>");
  CHECK(header(*page, "Content-Type") == "text/html; charset=utf-8");
  CHECK(header(*page, "Cache-Control") == "no-cache");
  CHECK(header(*page, "Content-Security-Policy") == site.policy());
  const auto etag = header(*page, "ETag");
  CHECK(std::regex_match(etag, std::regex(R"("[0-9a-f]{16}")")));

  SECTION("a matching If-None-Match is 304 without a body; another tag is the page") {
    auto again = site.answer({.path = "/talent/", .if_none_match = etag});
    REQUIRE(again);
    CHECK(again->status == 304);
    CHECK(again->body.empty());
    CHECK(header(*again, "ETag") == etag);
    CHECK(site.answer({.path = "/talent/", .if_none_match = "\"0000000000000000\""})->status == 200);
  }
  SECTION("a hashed file is cached for good") {
    auto js = site.answer({.path = "/assets/app-1.js"});
    REQUIRE(js);
    CHECK(header(*js, "Cache-Control") == "public, max-age=31536000, immutable");
    CHECK(header(*js, "Content-Type") == "text/javascript; charset=utf-8");
    CHECK(js->body == "console.log(1)");
  }
  SECTION("HEAD: the same fields, marked to send no body") {
    auto head = site.answer({.head = true, .path = "/talent/"});
    REQUIRE(head);
    CHECK(head->head);
    CHECK(header(*head, "ETag") == etag);
  }
  SECTION("a folder without its slash is sent to it") {
    auto redirect = site.answer({.path = "/talent"});
    REQUIRE(redirect);
    CHECK(redirect->status == 308);
    CHECK(header(*redirect, "Location") == "/talent/");
    CHECK_FALSE(site.answer({.path = "/assets"}));  // a folder with no page
  }
}

TEST_CASE("no path reaches outside a site's folder, a hidden file or a folder listing", "[web]") {
  Folder f;
  const auto site = f.site();
  for (const char* path : {"/../secret.txt", "/talent/../../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt",
                           "/..%2fsecret.txt", "/.hidden", "/talent/./index.html", "//secret.txt", "/link.txt",
                           "/assets/", "/", "/talent/index.html/", "\\..\\secret.txt", "relative", ""}) {
    INFO(path);
    CHECK_FALSE(site.answer({.path = path}));
  }
  CHECK_FALSE(site.answer({.path = std::string_view("/talent/index.html\0x", 20)}));
  // The same file by its own name is served: the refusals above are the path's, not the file's.
  CHECK(site.answer({.path = "/talent/index.html"}));
  CHECK_THROWS_WITH(Site::from_folder(f.dir.path() / "missing", "relay", ""),
                    Catch::Contains("relay.web_root") && Catch::Contains("not a folder"));
}

TEST_CASE("the apps built into tiraid: every page, and every file a page names, in its site", "[web]") {
  std::map<std::string, std::map<std::string, const Asset*>> sites;
  for (const auto& a : embedded_assets()) {
    INFO(a.site << a.path);
    CHECK(sites[std::string(a.site)].emplace(std::string(a.path), &a).second);  // each path once
    CHECK(std::regex_match(std::string(a.etag), std::regex(R"("[0-9a-f]{16}")")));
    CHECK(a.immutable == a.path.starts_with("/assets/"));
    CHECK(a.type == content_type_for(a.path.ends_with("/") ? "index.html" : a.path));
    if (!a.gzip.empty()) {
      CHECK(a.gzip.size() < a.body.size());
      CHECK(a.gzip.substr(0, 2) == std::string_view("\x1f\x8b", 2));
    }
  }
  REQUIRE(sites["relay"].count("/talent/"));
  REQUIRE(sites["relay"].count("/s/"));
  REQUIRE(sites["admin"].count("/"));
  CHECK_FALSE(sites["admin"].count("/talent/"));  // the operator's port serves only the operator page
  CHECK_FALSE(sites["relay"].count("/"));
  const std::regex named(R"((?:src|href)="(/[^"]*)\")");
  for (const auto& [site, files] : sites)
    for (const auto& [path, asset] : files) {
      if (!path.ends_with("/")) continue;
      const std::string html(asset->body);
      CHECK_THAT(html, !Catch::Contains("<script>") && !Catch::Contains("style=") && !Catch::Contains("<style"));
      for (std::sregex_iterator it(html.begin(), html.end(), named), end; it != end; ++it) {
        INFO(site << path << " names " << (*it)[1]);
        CHECK(files.count((*it)[1]));
      }
    }
}

namespace {

namespace asio = boost::asio;

// An upgrade row's taker that must never be reached.
class NeverTaken final : public httpd::Upgrade {
 public:
  void take(httpd::PlainStream, httpd::Request, httpd::AdmissionPtr) override { FAIL("the check let it through"); }
  void take(httpd::TlsStream, httpd::Request, httpd::AdmissionPtr) override { FAIL("the check let it through"); }
};

// A listener on 127.0.0.1 that serves `site` as its pages, beside one
// token route and one upgrade row that refuses every upgrade.
struct PageFront {
  asio::io_context ioc{1};
  asio::ip::tcp::acceptor acceptor{ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::thread thread;

  explicit PageFront(std::shared_ptr<const Site> site) {
    auto l = std::make_shared<httpd::Listener>();
    l->tag = "test";
    l->token = [](std::string_view t) { return t == "sesame"; };
    l->headers = security_headers();
    l->pages = pages_of(std::move(site));
    const auto now = [](httpd::Reply r) -> asio::awaitable<httpd::Reply> { co_return r; };
    l->routes = {
        httpd::Route(httpd::http::verb::get, "/v1/private",
                     [now](const httpd::Call&) { return now(httpd::json_reply(200, {})); }),
        httpd::Route("/v1/ws", std::make_shared<NeverTaken>()).open().checked_by([](const httpd::Request&) -> std::optional<httpd::Reply> {
          return httpd::error_reply(403, "forbidden_origin", "no");
        }),
    };
    asio::co_spawn(ioc, httpd::run_listener(acceptor, l), asio::detached);
    thread = std::thread([this] { ioc.run(); });
  }
  ~PageFront() {
    asio::post(ioc, [this] { acceptor.close(); });
    ioc.stop();
    thread.join();
  }
  std::string exchange(std::string_view raw) {
    asio::io_context client;
    asio::ip::tcp::socket s(client);
    s.connect(acceptor.local_endpoint());
    asio::write(s, asio::buffer(raw));
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
  }
};

std::string status_line(const std::string& r) { return r.substr(0, r.find("\r\n")); }
std::string body_of(const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); }

}  // namespace

TEST_CASE("a listener serves its site's pages to anyone, with the security fields, and nothing else", "[web][http]") {
  Folder f;
  PageFront front(std::make_shared<const Site>(f.site()));
  const auto page = front.exchange("GET /talent/?lang=id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(status_line(page) == "HTTP/1.1 200 OK");
  CHECK_THAT(page, Catch::Contains("Content-Security-Policy: default-src 'none'") &&
                       Catch::Contains("X-Content-Type-Options: nosniff") &&
                       Catch::Contains("Referrer-Policy: no-referrer") && Catch::Contains("Cache-Control: no-cache") &&
                       !Catch::Contains("no-store"));
  CHECK(body_of(page) == "<!doctype html><title>talent</title>");

  SECTION("HEAD: the GET's length, no body") {
    const auto head = front.exchange("HEAD /talent/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(status_line(head) == "HTTP/1.1 200 OK");
    CHECK_THAT(head, Catch::Contains("Content-Length: 36\r\n"));
    CHECK(body_of(head).empty());
  }
  SECTION("304 with the tag, and no body") {
    const auto etag = std::regex_replace(page, std::regex(R"([\s\S]*ETag: ("[0-9a-f]+")[\s\S]*)"), "$1");
    const auto again = front.exchange("GET /talent/ HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag +
                                      "\r\nConnection: close\r\n\r\n");
    CHECK(status_line(again) == "HTTP/1.1 304 Not Modified");
    CHECK(body_of(again).empty());
  }
  SECTION("the redirect to a folder's slash") {
    const auto r = front.exchange("GET /talent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(status_line(r) == "HTTP/1.1 308 Permanent Redirect");
    CHECK_THAT(r, Catch::Contains("Location: /talent/\r\n"));
  }
  SECTION("a path with no page answers as before: 401 without the token, 404 with it, and a POST is not a page") {
    CHECK(status_line(front.exchange("GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) ==
          "HTTP/1.1 401 Unauthorized");
    const auto missing = front.exchange("GET /nothing.js HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame\r\n"
                                        "Connection: close\r\n\r\n");
    CHECK(status_line(missing) == "HTTP/1.1 404 Not Found");
    CHECK_THAT(missing, Catch::Contains("X-Content-Type-Options: nosniff") && Catch::Contains("\"not_found\""));
    CHECK(status_line(front.exchange("POST /talent/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sesame\r\n"
                                     "Content-Length: 0\r\nConnection: close\r\n\r\n")) == "HTTP/1.1 404 Not Found");
  }
  SECTION("an upgrade row's check refuses before the connection is taken over") {
    const auto r = front.exchange("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                                  "Origin: http://evil.example\r\n\r\n");
    CHECK(status_line(r) == "HTTP/1.1 403 Forbidden");
    CHECK_THAT(r, Catch::Contains("forbidden_origin"));
  }
}
