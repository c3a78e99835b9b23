#pragma once
#include "relay/config/config.hpp"
#include "relay/core/metrics.hpp"
#include "relay/phone/sip_switch.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace tirai::relay {

// Kamailio's JSON-RPC over HTTP (modules xhttp and jsonrpcs, path /RPC):
// `dlg.end_dlg h_entry h_id` ends an answered call, sending BYE both ways;
// `tm.reply 480 ... index:label` ends one still ringing (tm cancels the
// callee's branch as it answers the caller). Requests run one after another, each on a fresh connection within
// `timeout`. Kamailio's answer is read for success only and never logged.
// A hang-up Kamailio does not answer (down, slow, garbage) is tried again
// (1 s, doubling to a minute) until it does, and so is the start-up's
// hang_up_all; tones and listings are not.
class KamailioRpc final : public SipSwitch {
 public:
  KamailioRpc(boost::asio::any_io_executor executor, Address at, Millis timeout, Metrics& metrics);
  ~KamailioRpc() override;
  KamailioRpc(const KamailioRpc&) = delete;
  KamailioRpc& operator=(const KamailioRpc&) = delete;

  void hang_up(std::string dialog, std::string ringing, std::function<void(bool ok)> done) override;
  void hang_up_all(std::function<bool(const std::string&)> spare, std::function<void(std::optional<int>)> done) override;
  void list_dialogs(std::function<void(std::optional<std::vector<std::string>>)> done) override;
  // GET /tone/<dialog> on the same listener (docs/kamailio.cfg): rtpengine
  // plays the one-minute tone to the client's side.
  void play_tone(std::string dialog, std::function<void(bool ok)> done) override;
  // Stops: requests not yet run are answered as failures.
  void stop();
  bool idle() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The JSON-RPC request body that ends `dialog` ("h_entry:h_id"); nullopt
// when it is not of that form.
std::optional<std::string> end_dialog_request(std::string_view dialog, int id);
// The JSON-RPC request body that answers the ringing INVITE of transaction
// `transaction` ("index:label") 480, cancelling its branches; nullopt when
// it is not of that form.
std::optional<std::string> cancel_request(std::string_view transaction, int id);
// The dialogs ("h_entry:h_id") of a dlg.list answer that tiraid let
// through (the dialog variable "tirai" is "1").
std::vector<std::string> tirai_dialogs(std::string_view listing);
// Whether a JSON-RPC answer to dlg.end_dlg means the dialog is gone: a
// "result", or the error 404 (it had ended on its own meanwhile).
bool rpc_dialog_gone(std::string_view body);
// Whether a body is a JSON-RPC answer at all: an object with a "result" or an "error".
bool rpc_answer(std::string_view body);
// Whether a JSON-RPC answer is a "result" (not an "error").
bool rpc_succeeded(std::string_view body);

}  // namespace tirai::relay
