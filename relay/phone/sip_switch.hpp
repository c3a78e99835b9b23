#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tirai::relay {

// The SIP server's side of phone calls, as the relay needs it: hanging up a
// call the relay ends (the session's end, the package's call minutes, a
// ring nobody answers). The real one is Kamailio's JSON-RPC
// (kamailio_rpc); tests use a fake. `done` runs on the relay thread.
class SipSwitch {
 public:
  virtual ~SipSwitch() = default;
  // Hangs up the dialog `dialog` ("h_entry:h_id", as Kamailio's dialog
  // module names it): BYE to both sides. `ringing`: while the call rings,
  // its INVITE's transaction ("index:label"): the caller is answered there
  // and the callee's ringing cancelled (a dialog not answered yet has no
  // BYE). done(false) when the server could not be asked or would not.
  virtual void hang_up(std::string dialog, std::string ringing, std::function<void(bool ok)> done) = 0;
  // Plays the short tone that says one minute is left to the client's phone
  // in the answered call `dialog` (rtpengine's play media, through the SIP
  // server). done(false) when it could not be played.
  virtual void play_tone(std::string dialog, std::function<void(bool ok)> done) = 0;
  // Start-up: hangs up every call an earlier run let through (no phone call
  // survives a restart: its session's end could not hang it up), except
  // those `spare` names: asked when the server has listed its dialogs,
  // which may be long after the call when it was down, it spares the calls
  // this run let through by then. done(how many), or done(nullopt) when the
  // server could not be asked.
  virtual void hang_up_all(std::function<bool(const std::string& dialog)> spare,
                           std::function<void(std::optional<int>)> done) = 0;
  // The dialogs the relay let through that the server still has (up or
  // ringing): done(their ids), or done(nullopt) when it could not be asked.
  virtual void list_dialogs(std::function<void(std::optional<std::vector<std::string>>)> done) = 0;
};

}  // namespace tirai::relay
