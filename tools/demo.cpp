// tirai-demo: starts a throw-away tiraid and walks one booking through its
// whole life, printing what each side sends and sees.
#include "tools/client.hpp"
#include "tools/tiraid_process.hpp"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

namespace json = boost::json;
using tirai::client::WsClient;

namespace {

json::object next(WsClient& ws) { return json::parse(ws.receive()).as_object(); }
std::string str(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : json::serialize(v); }

void say(std::string_view who, std::string_view what) { std::cout << fmt::format("  {:<28} {}\n", who, what); }

void show(std::string_view to, const json::object& f) {
  const auto type = str(f.at("type"));
  if (type == "message")
    say(fmt::format("relay -> {}", to), fmt::format("message #{} from {}: \"{}\"", str(f.at("seq")), str(f.at("from")), str(f.at("text"))));
  else if (type == "accepted")
    say(fmt::format("relay -> {}", to), fmt::format("accepted \"{}\" as #{} (stored durably)", str(f.at("id")), str(f.at("seq"))));
  else if (type == "session")
    say(fmt::format("relay -> {}", to),
        fmt::format("session is {}{}{}", str(f.at("state")), f.contains("reason") ? " (" + str(f.at("reason")) + ")" : "",
                    f.contains("grace_seconds") ? fmt::format(", {} s for farewells", str(f.at("grace_seconds"))) : ""));
  else
    say(fmt::format("relay -> {}", to), json::serialize(f));
}

json::object expect(WsClient& ws, std::string_view to, std::string_view type) {
  auto f = next(ws);
  show(to, f);
  if (str(f.at("type")) != type) throw std::runtime_error(fmt::format("expected a {} frame", type));
  return f;
}

void send(WsClient& ws, std::string_view who, const std::string& session, std::string_view id, std::string_view text) {
  say(fmt::format("{} -> relay", who), fmt::format("\"{}\"", text));
  ws.send(json::serialize(json::object{{"type", "send"}, {"session", session}, {"id", id}, {"text", text}}));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tirai-demo: one booking, from payment to teardown, on a throw-away relay"};
  std::string tiraid = (std::filesystem::canonical("/proc/self/exe").parent_path().parent_path() / "relay" / "tiraid").string();
  bool keep = false;
  app.add_option("--tiraid", tiraid, "the tiraid binary");
  app.add_flag("--keep", keep, "keep the throw-away folder (config, database, log) afterwards");
  CLI11_PARSE(app, argc, argv);

  std::string tmpl = std::filesystem::temp_directory_path() / "tirai-demo-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return 1;
  const std::filesystem::path dir = tmpl;
  int rc = 0;
  try {
    tirai::client::TiraidProcess relay(tiraid, dir, "[sessions]\ngrace = \"5s\"\n");
    relay.start();
    std::cout << fmt::format("tiraid is up: ws://127.0.0.1:{}/v1/ws, admin http://127.0.0.1:{} (files in {})\n\n",
                             relay.relay_port(), relay.admin_port(), dir.string());
    auto admin = relay.admin();
    const std::string secret = "demo-secret-" + std::to_string(::getpid());

    std::cout << "1. The operator enrols a talent and books a session after the client paid\n";
    auto r = admin.request("POST", "/v1/talents", json::serialize(json::object{{"alias", "natasha"}, {"secret", secret}}));
    say("operator -> admin API", fmt::format("enrol talent natasha: HTTP {}", r.status));
    r = admin.request("POST", "/v1/sessions",
                      json::serialize(json::object{{"talent", "natasha"}, {"client", "+6281200000001"}, {"package", "chat-30m"}}));
    const auto booking = json::parse(r.body).as_object();
    const auto session = str(booking.at("session"));
    say("operator -> admin API", fmt::format("book chat-30m for client +62812•••••001: HTTP {}", r.status));
    say("admin API -> operator", fmt::format("session {}, client alias {}, token (shown once)", session,
                                             str(booking.at("client_alias"))));

    std::cout << "\n2. Both sides connect; neither learns who the other is\n";
    WsClient talent("127.0.0.1", relay.relay_port());
    talent.send(json::serialize(json::object{{"type", "hello"}, {"role", "talent"}, {"alias", "natasha"}, {"secret", secret}}));
    auto w = next(talent);
    say("relay -> talent", fmt::format("welcome; sessions: {}", json::serialize(w.at("sessions"))));
    WsClient client("127.0.0.1", relay.relay_port());
    client.send(json::serialize(json::object{{"type", "hello"}, {"role", "client"}, {"token", booking.at("client_token")}}));
    w = next(client);
    say("relay -> client", fmt::format("welcome; sessions: {}", json::serialize(w.at("sessions"))));

    std::cout << "\n3. They chat through the relay\n";
    send(client, "client", session, "c1", "Halo kak, aku sudah bayar paket chat 30 menit");
    expect(client, "client", "accepted");
    auto m = expect(talent, "talent", "message");
    talent.send(fmt::format(R"({{"type":"ack","session":"{}","seq":{}}})", session, str(m.at("seq"))));
    send(talent, "talent", session, "t1", "Halo! Senang ketemu kamu. Mau ngobrol soal apa malam ini?");
    expect(talent, "talent", "accepted");
    expect(client, "client", "message");

    std::cout << "\n4. The talent ends the session politely; both may still say goodbye during grace\n";
    say("talent -> relay", "end");
    talent.send(fmt::format(R"({{"type":"end","session":"{}"}})", session));
    expect(talent, "talent", "session");
    expect(client, "client", "session");
    send(talent, "talent", session, "t2", "Sesi kita sudah selesai, terima kasih ya");
    expect(talent, "talent", "accepted");
    expect(client, "client", "message");
    send(client, "client", session, "c2", "Makasih kak, sampai lain waktu!");
    expect(client, "client", "accepted");
    expect(talent, "talent", "message");
    std::cout << "  (the grace period runs out)\n";
    expect(talent, "talent", "session");
    expect(client, "client", "session");
    say("relay -> client", fmt::format("connection closed with {}", client.wait_closed()));

    std::cout << "\n5. The mapping is gone: the client's link reaches nobody\n";
    WsClient again("127.0.0.1", relay.relay_port());
    again.send(json::serialize(json::object{{"type", "hello"}, {"role", "client"}, {"token", booking.at("client_token")}}));
    say("relay -> client", again.receive());
    send(talent, "talent", session, "t3", "Halo? Masih di sana?");
    show("talent", next(talent));
    r = admin.request("GET", "/v1/sessions/" + session);
    say("admin API -> operator", r.body);
    relay.stop();
    std::cout << "\nDone. The relay kept no message text and no number in clear.\n";
  } catch (const std::exception& e) {
    std::cerr << "tirai-demo: " << e.what() << "\n";
    rc = 1;
  }
  if (keep) std::cout << "files kept in " << dir.string() << "\n";
  else std::filesystem::remove_all(dir);
  return rc;
}
