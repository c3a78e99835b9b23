#pragma once
// Small blocking clients for the admin API and the WebSocket protocol, shared
// by tiraictl, the demo and the end-to-end tests. Every read and write has a
// deadline; a timeout or a broken connection throws ClientError.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tirai::client {

// Extra header fields for a WebSocket upgrade request (name, value).
using Headers = std::vector<std::pair<std::string, std::string>>;

class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// TLS for a client: off, or on with the peer's certificate checked against
// `ca_file` (or the system's CAs when empty) and the host name or address.
struct Tls {
  bool enabled = false;
  std::string ca_file;
};

struct HttpResponse {
  unsigned status = 0;
  std::string body;
};

class AdminClient {
 public:
  AdminClient(std::string host, std::uint16_t port, std::string token,
              std::chrono::milliseconds timeout = std::chrono::seconds(10), Tls tls = {});
  // One request on a fresh connection. Throws ClientError when the daemon
  // cannot be reached or does not answer in time.
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {}) const;

 private:
  template <typename Stream>
  HttpResponse exchange(Stream& stream, std::string_view method, std::string_view target, std::string_view body) const;

  std::string host_;
  std::uint16_t port_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  Tls tls_;
};

class WsClient {
 public:
  WsClient(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10),
           std::string_view target = "/v1/ws", const Tls& tls = {}, const Headers& headers = {});
  ~WsClient();
  WsClient(WsClient&&) noexcept;
  WsClient& operator=(WsClient&&) noexcept;

  void send(std::string_view text);
  void send_binary(std::string_view data);
  // The next frame. Throws ClientError on timeout; when the relay closed the
  // connection, throws ClosedError after recording the close code.
  std::string receive();
  // Reads until the relay closes the connection; returns its close code.
  std::uint16_t wait_closed();
  std::optional<std::uint16_t> close_code() const;
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ClosedError : public ClientError {
 public:
  ClosedError(std::uint16_t code) : ClientError("connection closed with " + std::to_string(code)), code(code) {}
  std::uint16_t code;
};

}  // namespace tirai::client
