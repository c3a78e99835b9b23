#pragma once
#include "crypto/secret.hpp"
#include "relay/calls/calls.hpp"
#include "relay/core/session_core.hpp"
#include "relay/phone/sip_switch.hpp"
#include "relay/sms/sms_relay.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace tirai::relay {

// What the seam answers Kamailio: an HTTP status and a one-line text body.
struct SeamAnswer {
  unsigned status = 404;
  std::string body;  // "" for refusals; may hold a client's number (outbound): wiped after use
};

// Phone calls through the proxy numbers (design §13). Kamailio asks before
// every call: a call from a client's number to the session's proxy number
// rings the talent of the live session of that pair when its package has
// voice; the talent's call back goes out only inside a live session, from
// the proxy number. Anything else gets one and the same refusal, so that a
// caller cannot learn whether a session ever existed. Kamailio reports the
// answer and the end of each call it let through; the relay counts the
// seconds, keeps the package's call minutes, holds the idle timeout during
// a call, and hangs the call up (through `sip`) when its session ends.
//
// One call at a time per session, browser or phone: each side asks the
// other (CallLine). Relay thread only; calls are not stored.
class Phone final : public SessionEvents, public Timed, public CallLine {
 public:
  // Talents' SIP passwords are made from `sip_secret` (Kamailio's auth_ephemeral secret).
  Phone(SessionCore& core, const Config::Phone& config, SmsRelay& sms, SipSwitch& sip, crypto::Secret sip_secret);

  // Browser calls (Calls), so that a phone call into a session with one up is busy.
  void also_busy_with(const CallLine& browser) { browser_ = &browser; }
  // With browser calls on, a talent's phone calls reach rtpengine through
  // the same TURN server, relay candidates only: her address is known to
  // coturn alone. `issue` makes a credential valid until the given time.
  void use_turn(std::function<proto::IceServers(UnixMs)> issue) { turn_ = std::move(issue); }

  // GET /v1/phone/inbound: the carrier's caller `from` dialled `to`; Kamailio's dialog `dialog`,
  // and the INVITE's transaction `transaction` ("index:label": how a ringing call is ended).
  // 200 "talent_alias,client_alias,session,seconds" (seconds: how long the call may last).
  SeamAnswer inbound(std::string_view from, std::string_view to, std::string_view dialog,
                     std::string_view transaction = {});
  // GET /v1/phone/outbound: the talent `talent` (as Kamailio authenticated her) dialled `session`.
  // 200 "client_number,proxy_number,seconds".
  SeamAnswer outbound(std::string_view talent, std::string_view session, std::string_view dialog,
                      std::string_view transaction = {});
  // GET /v1/phone/event: "answered" or "ended" for a dialog let through.
  SeamAnswer event(std::string_view dialog, std::string_view what);

  // Start-up: the calls of an earlier run are hung up.
  void start();
  // Shutdown: every call is hung up, as a restart would lose it.
  void hang_up_all();

  bool in_call(const std::string& session) const override { return by_session_.contains(session); }
  std::size_t active() const { return calls_.size(); }

  void closing(LiveSession& s) override;
  void closed(LiveSession& s) override;
  // A talent's console connected: it gets her SIP account (phone_access_frame).
  void attached(Peer& p, const std::vector<std::string>& sessions) override;
  void tick(UnixMs now) override;
  std::optional<UnixMs> next_deadline() const override;
  void clock_stepped(UnixMs delta) override;

 private:
  enum class State { ringing, answered };
  struct Call {
    std::string dialog;
    std::string transaction;  // the INVITE's, for ending it while it rings
    std::string session;
    bool inbound = true;
    State state = State::ringing;
    UnixMs started_at = 0;
    UnixMs answered_at = 0;
    UnixMs limit_at = 0;  // answered: when the package's call minutes run out; 0: none
    UnixMs tone_at = 0;   // answered: when the phone hears that one minute is left; 0: done
  };

  // Why `s` cannot have a call now (nullptr: it can), for the log.
  const char* unavailable(const LiveSession& s) const;
  // The seconds a call in `s` may last from now: the call minutes left, the session's time left.
  std::int64_t allowance(const LiveSession& s, UnixMs now) const;
  SeamAnswer admit(LiveSession& s, std::string_view dialog, std::string_view transaction, bool inbound,
                   std::string body);
  void play_tone(Call& c);
  // Ends `dialog` for `reason`: seconds counted; `hang_up`: the SIP server is told to end it.
  void end(std::string dialog, std::string_view reason, bool hang_up);
  // Asks the SIP server which of the calls up now it still has; the ones it
  // has not end ("lost": their end was never reported).
  void reconcile(UnixMs now);

  SessionCore& core_;
  const Config::Phone& config_;
  SmsRelay& sms_;
  SipSwitch& sip_;
  crypto::Secret sip_secret_;
  const CallLine* browser_ = nullptr;
  std::function<proto::IceServers(UnixMs)> turn_;
  std::unordered_map<std::string, Call> calls_;               // by dialog
  std::unordered_map<std::string, std::string> by_session_;   // session id → dialog
  // The dialogs this run let through while the start-up's hang-up of an
  // earlier run's calls waited for Kamailio: it spares them. Unused after.
  std::unordered_set<std::string> unswept_;
  bool swept_ = false;
  std::multimap<UnixMs, std::string> deadlines_;              // dialogs; stale entries are skipped
  UnixMs reconcile_at_ = 0;                                   // 0: no call up, nothing to ask
  bool reconciling_ = false;                                  // a listing is on its way
  // Gone with the Phone: the SIP server's late answers find no Phone to touch.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Whether `dialog` has the form Kamailio's dialog module gives ("h_entry:h_id", decimal).
bool valid_dialog_ref(std::string_view dialog);

}  // namespace tirai::relay
