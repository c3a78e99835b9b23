#include "relay/daemon/daemon.hpp"

#include "crypto/keyring.hpp"
#include "crypto/random.hpp"
#include "relay/admin/admin_api.hpp"
#include "relay/core/metrics.hpp"
#include "relay/daemon/logging.hpp"
#include "relay/daemon/relay_listener.hpp"
#include "relay/daemon/service_manager.hpp"
#include "relay/daemon/store_worker.hpp"
#include "relay/http/tls.hpp"
#include "relay/calls/coturn_cli.hpp"
#include "relay/phone/kamailio_rpc.hpp"
#include "relay/phone/phone_listener.hpp"
#include "relay/relay.hpp"
#include "relay/sms/kannel.hpp"
#include "relay/sms/sms_listener.hpp"
#include "relay/version.hpp"
#include "store/store.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl/context.hpp>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <csignal>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace tirai::relay {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

void require_private(const std::filesystem::path& file, std::string_view what) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return;  // whoever opens it reports what is wrong
  if (st.st_mode & 077)
    throw std::runtime_error(fmt::format("{} {}: permissions {:o} let group or others at it; run chmod 600 {}", what,
                                         file.string(), st.st_mode & 0777, file.string()));
}

void check_config_file(const Config& config, const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !(st.st_mode & (S_IRGRP | S_IROTH))) return;
  std::string secrets;
  if (!config.sms.inbound_secret.empty()) secrets = "sms.inbound_secret";
  if (!config.sms.password.empty()) secrets += secrets.empty() ? "sms.password" : " and sms.password";
  if ((st.st_mode & S_IROTH) && !secrets.empty())
    throw std::runtime_error(fmt::format("config file {}: permissions {:o} let others read {}; run chmod 600 {}",
                                         file.string(), st.st_mode & 0777, secrets, file.string()));
  // The package's way: root's file, readable by tiraid's own group only
  // (/etc/tirai/tiraid.toml, 0640 root:tirai).
  if (!(st.st_mode & S_IROTH) && st.st_uid == 0 && st.st_gid == ::getegid() && ::geteuid() != 0) return;
  spdlog::warn("[daemon] config file {} is readable by group or others (permissions {:o}){}; run chmod 600 {}",
               file.string(), st.st_mode & 0777, secrets.empty() ? "" : " and holds " + secrets, file.string());
}

std::string load_or_create_secret_file(const std::filesystem::path& file, std::string_view what) {
  if (!std::filesystem::exists(file)) {
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::out | std::ios::trunc);
    if (!out) throw std::runtime_error(fmt::format("{} {} cannot be created", what, file.string()));
    out << crypto::new_token() << '\n';
    out.close();
    std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    spdlog::info("[daemon] created a new {} {}", what, file.string());
  }
  require_private(file, what);
  std::ifstream in(file);
  std::string secret;
  std::getline(in, secret);
  if (secret.size() < 16)
    throw std::runtime_error(fmt::format("{} {} holds no usable secret (16 characters or more)", what, file.string()));
  return secret;
}

DatabaseLock::DatabaseLock(const std::filesystem::path& db) {
  const auto file = db.string() + ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error(fmt::format("cannot open the lock file {}", file));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    throw std::runtime_error(fmt::format("{} is in use by another tiraid (lock {})", db.string(), file));
  }
}

DatabaseLock::~DatabaseLock() { ::close(fd_); }

void harden_process() {
  // A closed stderr (a log pipe whose reader went away) must not kill the relay.
  ::signal(SIGPIPE, SIG_IGN);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct rlimit none {0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
}

void rotate_master_key(const Config& config, const std::filesystem::path& new_key_file) {
  // Both master keys and every data key pass through this process.
  ::umask(077);
  harden_process();
  if (!std::filesystem::exists(config.keys.master_key_file))
    throw std::runtime_error(fmt::format("the current master key file {} does not exist",
                                         config.keys.master_key_file.string()));
  if (std::filesystem::exists(new_key_file) &&
      std::filesystem::equivalent(new_key_file, config.keys.master_key_file))
    throw std::runtime_error("the new master key file must not be the current one");
  DatabaseLock lock(config.store.path);
  const auto old_keys = crypto::Keyring::load_or_create(config.keys.master_key_file);
  const auto new_keys = crypto::Keyring::load_or_create(new_key_file);
  store::Store st(config.store.path, config.store.synchronous, old_keys);
  {
    store::Transaction tx(st.db());
    st.rekey(new_keys);
    tx.commit();
  }
  st.db().checkpoint_truncate();
  spdlog::info("[keys] database {} re-keyed under {}", config.store.path.string(), new_key_file.string());
}

namespace {

// Raises the soft open-file limit to the hard one, and keeps the relay's
// connections below it: files beyond its sockets (the database, its WAL and
// lock, the listeners, admin and gateway connections) must always find a
// descriptor, so an operator's health check still gets through when the
// relay is full.
void fit_open_files(Config& config) {
  constexpr std::size_t reserved = 64;
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  const auto limit = static_cast<std::size_t>(lim.rlim_cur);
  if (lim.rlim_cur == RLIM_INFINITY || limit >= config.relay.max_connections + reserved) return;
  const std::size_t fits = limit > 2 * reserved ? limit - reserved : limit / 2;
  spdlog::warn("[daemon] the open-file limit is {}: relay.max_connections lowered from {} to {} (raise the "
               "limit, e.g. LimitNOFILE= in the systemd unit, to allow more)",
               limit, config.relay.max_connections, fits);
  config.relay.max_connections = fits;
}

tcp::endpoint resolve(asio::io_context& ioc, const Address& a, std::string_view key) {
  boost::system::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(a.host, std::to_string(a.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) throw ConfigError(fmt::format("{}: cannot resolve \"{}\": {}", key, a.host, ec.message()));
  return *results.begin();
}

void open_acceptor(tcp::acceptor& acc, const tcp::endpoint& ep, std::string_view key) {
  boost::system::error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: cannot listen on {}: {}", key, ep.address().to_string(), ec.message()));
}

// Without TLS, only loopback may listen, unless the operator says otherwise.
void check_plaintext(const tcp::endpoint& ep, bool tls, bool allowed, std::string_view section) {
  if (tls || ep.address().is_loopback()) return;
  if (!allowed)
    throw ConfigError(fmt::format("{}.listen: {} is not a loopback address; set [tls] cert and key, or "
                                  "{}.allow_plaintext = true to accept clear text on the network",
                                  section, ep.address().to_string(), section));
  spdlog::warn("[{}] listening in clear text on {} ({}.allow_plaintext = true)", section, ep.address().to_string(),
               section);
}

std::string endpoint_str(const tcp::endpoint& ep) {
  return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                              : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// The relay port's origin for session links and the Origin check:
// relay.public_url, or the address it listens on. A port on every address
// has no name to give, so it needs relay.public_url.
std::string public_url(const Config::Relay& relay, const tcp::endpoint& at, bool tls) {
  if (!relay.public_url.empty()) return relay.public_url;
  if (at.address().is_unspecified())
    throw ConfigError(fmt::format("relay.public_url: must be set when relay.listen ({}) is every address: session "
                                  "links need the name clients reach this port by",
                                  endpoint_str(at)));
  return *parse_origin(fmt::format("{}://{}", tls ? "https" : "http", endpoint_str(at)));
}

// Parts of the running daemon, started in the order added and stopped in
// reverse, each step logged. When a start throws, the parts already
// started are stopped before the exception goes on.
class Lifecycle {
 public:
  explicit Lifecycle(std::string_view phase) : phase_(phase) {}
  ~Lifecycle() { stop(); }
  void add(std::string name, std::function<void()> start, std::function<void()> stop = {}) {
    parts_.push_back({std::move(name), std::move(start), std::move(stop)});
  }
  void start() {
    for (auto& p : parts_) {
      spdlog::debug("[daemon] {}: starting {}", phase_, p.name);
      try {
        if (p.start) p.start();
      } catch (...) {
        stop();
        throw;
      }
      ++started_;
    }
  }
  void stop() {
    while (started_ > 0) {
      const auto& p = parts_[--started_];
      spdlog::debug("[daemon] {}: stopping {}", phase_, p.name);
      if (p.stop) p.stop();
    }
  }

 private:
  struct Part {
    std::string name;
    std::function<void()> start, stop;
  };
  std::string_view phase_;
  std::vector<Part> parts_;
  std::size_t started_ = 0;
};

}  // namespace

Daemon::Daemon(Config config, std::filesystem::path config_file)
    : config_(std::move(config)), config_file_(std::move(config_file)) {}

// init: files, keys and the store are opened, and every part is built. Then
// two lifecycles: `services` (the store thread and the hasher) outlive the
// event loop; `front` (sessions, the SMS gateway, the timers, the listeners)
// starts after them and stops first, on SIGTERM or SIGINT, while the loop
// still runs so connections can finish their close handshakes.
int Daemon::run() {
  // Files are private to the operator's account from the first byte.
  ::umask(077);
  harden_process();
  spdlog::info("[daemon] tirai {} starting with {}", version, config_file_.string());
  fit_open_files(config_);
  check_config_file(config_, config_file_);
  if (config_.tls.enabled()) require_private(config_.tls.key, "tls.key");
  for (const auto* p : {&config_.store.path, &config_.keys.master_key_file, &config_.admin.token_file})
    if (p->has_parent_path()) std::filesystem::create_directories(p->parent_path());
  DatabaseLock lock(config_.store.path);
  const auto keys = crypto::Keyring::load_or_create(config_.keys.master_key_file);
  const std::string admin_token = load_or_create_secret_file(config_.admin.token_file, "admin token file");
  auto store = std::make_unique<store::Store>(config_.store.path, config_.store.synchronous, keys);
  auto talents = store->talents();
  auto live = store->live_sessions();
  const auto tickets = store->tickets(SystemClock().now());
  // Client numbers of SMS sessions, in locked memory on this (the relay) thread.
  crypto::KeyArena numbers;
  for (auto& r : live) {
    r.standing = store->standing(r.client_id, restriction_rule(config_.policy));
    if (!r.proxy_number.empty() && config_.sms.enabled)
      if (auto n = store->client_number(r.client_id)) r.client_number = std::make_shared<const crypto::ArenaText>(numbers, *n);
  }
  spdlog::info("[store] opened {} (schema {})", config_.store.path.string(), store::schema_version());

  asio::io_context ioc(1);
  Metrics metrics;
  Poster post = [&ioc](std::function<void()> f) { asio::post(ioc, std::move(f)); };
  StoreWorker store_worker(std::move(store), post, metrics);
  store_worker.defer_wakes();
  ThreadWorker hasher(post, 1);
  SystemClock clock;
  Relay relay(config_, store_worker, hasher, keys, clock, metrics);
  std::optional<KannelGateway> kannel;
  if (config_.sms.enabled) {
    kannel.emplace(ioc.get_executor(), config_.sms, metrics);
    relay.enable_sms(*kannel, numbers);
    for (const auto& n : config_.sms.proxy_numbers) metrics.proxy_sessions(n, 0);
  }
  std::optional<CoturnCli> coturn;
  if (config_.calls.enabled) {
    auto secret = load_or_create_secret_file(config_.calls.turn_secret_file, "TURN secret file");
    coturn.emplace(ioc.get_executor(), config_.calls.turn_admin,
                   load_or_create_secret_file(config_.calls.turn_admin_password_file, "TURN admin password file"),
                   config_.calls.turn_admin_timeout, metrics);
    relay.enable_calls(*coturn, crypto::Secret::from(secret));
    proto::wipe(secret);
  }
  std::optional<KamailioRpc> kamailio;
  std::string phone_secret;
  if (config_.phone.enabled) {
    kamailio.emplace(ioc.get_executor(), config_.phone.kamailio_rpc, config_.phone.rpc_timeout, metrics);
    auto sip_secret = load_or_create_secret_file(config_.phone.sip_secret_file, "SIP secret file");
    relay.enable_phone(*kamailio, crypto::Secret::from(sip_secret));
    proto::wipe(sip_secret);
    phone_secret = load_or_create_secret_file(config_.phone.seam_secret_file, "phone seam secret file");
  }
  std::optional<asio::ssl::context> tls;
  if (config_.tls.enabled()) tls.emplace(make_tls_context(config_.tls));
  auto* tls_context = tls ? &*tls : nullptr;
  const auto relay_at = resolve(ioc, config_.relay.listen, "relay.listen");
  const auto admin_at = resolve(ioc, config_.admin.listen, "admin.listen");
  check_plaintext(relay_at, tls.has_value(), config_.relay.allow_plaintext, "relay");
  check_plaintext(admin_at, tls.has_value(), config_.admin.allow_plaintext, "admin");
  tcp::acceptor relay_acceptor(ioc), admin_acceptor(ioc), sms_acceptor(ioc), phone_acceptor(ioc);
  AdminContext admin{relay.bookings(), relay.ratings(), store_worker, metrics, admin_token, tls_context, {}, {}, relay.sms()};
  admin.header_timeout = config_.admin.header_timeout;
  admin.body_timeout = config_.admin.body_timeout;
  admin.max_header_bytes = config_.admin.max_header_bytes;
  // The apps: built into tiraid, or from relay.web_root while developing.
  const auto site = [&](std::string_view name, std::string connect_src) {
    return config_.relay.web_root.empty()
               ? std::make_shared<const web::Site>(web::Site::embedded(name, std::move(connect_src)))
               : std::make_shared<const web::Site>(web::Site::from_folder(config_.relay.web_root, name, std::move(connect_src)));
  };
  admin.site = site("admin", "");
  if (!config_.relay.web_root.empty())
    spdlog::info("[web] serving the apps from {} (relay.web_root)", config_.relay.web_root.string());
  asio::steady_timer timer(ioc);
  bool stopping = false;
  const auto close = [](tcp::acceptor& a) {
    boost::system::error_code ignored;
    a.close(ignored);
  };

  Lifecycle services("services");
  services.add("store", [&] { store_worker.start(); }, [&] { store_worker.stop(); });
  services.add("hasher", {}, [&] { hasher.stop(); });

  Lifecycle front("front");
  // Before the sessions, so that it stops after them: the calls that end
  // as the connections close still get their allocations cancelled (the
  // shutdown waits for that below).
  if (coturn) front.add("calls", [&] { relay.calls()->start(); }, {});
  // Likewise: phone calls are hung up at shutdown, before the sessions stop.
  if (kamailio) front.add("phone", [&] { relay.phone()->start(); }, [&] { relay.phone()->hang_up_all(); });
  front.add("sessions", [&] { relay.load(std::move(talents), std::move(live), tickets); }, [&] { relay.close_all(); });
  if (kannel)
    front.add("sms gateway", [&] {
      relay.sms()->resume();
      kannel->start();
    }, [&] { kannel->stop(); });
  front.add("timers", [&] {
    relay.core().on_deadline_change([&] { timer.cancel(); });
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          while (!stopping) {
            relay.core().tick();
            const auto next = relay.core().next_deadline();
            auto wait = std::chrono::milliseconds(1000);
            if (next) wait = std::clamp(std::chrono::milliseconds(*next - clock.now()), std::chrono::milliseconds(0), wait);
            timer.expires_after(wait);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
          }
        },
        asio::detached);
  }, [&] {
    stopping = true;
    timer.cancel();
  });
  front.add("relay listener", [&] {
    open_acceptor(relay_acceptor, relay_at, "relay.listen");
    admin.public_url = public_url(config_.relay, relay_acceptor.local_endpoint(), tls.has_value());
    // A page's WebSocket goes to its own origin, as ws:// or wss://.
    auto connect_src = (tls ? "wss" : "ws") + admin.public_url.substr(admin.public_url.find(':'));
    // The talent console registers with Kamailio over SIP-over-WebSocket (phone calls).
    if (config_.phone.enabled)
      for (const auto& url : config_.phone.sip_ws_urls) connect_src += " " + url;
    asio::co_spawn(ioc, run_relay_listener(relay_acceptor, relay, config_, tls_context, site("relay", connect_src),
                                           admin.public_url),
                   asio::detached);
    spdlog::info("[relay] listening on {}://{}/v1/ws", tls ? "wss" : "ws", endpoint_str(relay_acceptor.local_endpoint()));
    spdlog::info("[web] talent console {}/talent/; client links look like {}/s/#<token>", admin.public_url,
                 admin.public_url);
  }, [&] { close(relay_acceptor); });
  front.add("admin listener", [&] {
    open_acceptor(admin_acceptor, admin_at, "admin.listen");
    asio::co_spawn(ioc, run_admin_listener(admin_acceptor, admin), asio::detached);
    spdlog::info("[admin] listening on {}://{}; operator page {}://{}/", tls ? "https" : "http",
                 endpoint_str(admin_acceptor.local_endpoint()), tls ? "https" : "http",
                 endpoint_str(admin_acceptor.local_endpoint()));
  }, [&] { close(admin_acceptor); });
  if (config_.sms.enabled)
    front.add("sms listener", [&] {
      const auto sms_at = resolve(ioc, config_.sms.listen, "sms.listen");
      check_plaintext(sms_at, false, config_.sms.allow_plaintext, "sms");
      open_acceptor(sms_acceptor, sms_at, "sms.listen");
      asio::co_spawn(ioc, run_sms_listener(sms_acceptor, *relay.sms(), config_.sms), asio::detached);
      spdlog::info("[sms] listening on http://{}/v1/sms/kannel; sending through {} ({} proxy numbers)",
                   endpoint_str(sms_acceptor.local_endpoint()), sendsms_url_for_log(config_.sms.sendsms_url),
                   config_.sms.proxy_numbers.size());
    }, [&] { close(sms_acceptor); });

  if (config_.phone.enabled)
    front.add("phone listener", [&] {
      const auto phone_at = resolve(ioc, config_.phone.listen, "phone.listen");
      check_plaintext(phone_at, false, config_.phone.allow_plaintext, "phone");
      open_acceptor(phone_acceptor, phone_at, "phone.listen");
      asio::co_spawn(ioc, run_phone_listener(phone_acceptor, *relay.phone(), std::move(phone_secret), config_.phone), asio::detached);
      spdlog::info("[phone] the seam listens on http://{}/v1/phone/; calls are hung up through Kamailio at {}",
                   endpoint_str(phone_acceptor.local_endpoint()), config_.phone.kamailio_rpc.str());
    }, [&] { close(phone_acceptor); });

  services.start();
  front.start();
  // Signals are taken over before the ready line: a SIGHUP or SIGTERM sent
  // as soon as tiraid says it is ready must not meet the default action
  // (which ends the process). Asio queues what arrives before async_wait.
  asio::signal_set signals(ioc, SIGINT, SIGTERM, SIGHUP);
  const std::string listening =
      fmt::format("relay {} admin {}{}{}", endpoint_str(relay_acceptor.local_endpoint()),
                  endpoint_str(admin_acceptor.local_endpoint()),
                  config_.sms.enabled ? " sms " + endpoint_str(sms_acceptor.local_endpoint()) : "",
                  config_.phone.enabled ? " phone " + endpoint_str(phone_acceptor.local_endpoint()) : "");
  spdlog::info("[daemon] ready: {}", listening);
  ServiceManager systemd(ioc);
  systemd.ready("listening: " + listening);
  systemd.start_watchdog();

  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      systemd.reloading();
      systemd.reloaded(reload(relay) ? "listening: " + listening : "listening: " + listening + "; the last reload was refused");
      signals.async_wait(on_signal);
      return;
    }
    spdlog::info("[daemon] stopping on signal {}", sig);
    systemd.stopping();
    front.stop();
    // Connections get up to two seconds to finish their close handshakes,
    // and coturn's CLI to cancel the allocations of the calls they ended.
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer wait(ioc);
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
          while ((relay.core().connections() > 0 || (coturn && !coturn->idle()) || (kamailio && !kamailio->idle())) &&
                 std::chrono::steady_clock::now() < deadline) {
            wait.expires_after(std::chrono::milliseconds(20));
            co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          ioc.stop();
        },
        asio::detached);
  };
  signals.async_wait(on_signal);

  // The loop, with the store's jobs handed over between batches of handlers
  // (StoreWorker::defer_wakes): after at most wake_every handlers, or as soon
  // as nothing is ready. A few jobs for an idle worker run here
  // (StoreWorker::end_of_batch).
  constexpr int wake_every = 2048;
  store_worker.wake();  // for the jobs of the start-up
  while (ioc.run_one() > 0) {
    for (int n = 1; n < wake_every && ioc.poll_one() > 0; ++n) {
    }
    store_worker.end_of_batch();
  }
  services.stop();
  spdlog::info("[daemon] stopped");
  return 0;
}

// SIGHUP: what can change without a restart (log level, packages, policy).
bool Daemon::reload(Relay& relay) {
  try {
    auto fresh = load_config(config_file_);
    set_log_level(fresh.log.level);
    relay.set_packages(fresh.packages);
    relay.set_policy(fresh.policy);
    config_.log = fresh.log;
    spdlog::info("[daemon] reloaded: log level {}, {} packages, policy", fresh.log.level, fresh.packages.size());
    return true;
  } catch (const std::exception& e) {
    spdlog::error("[daemon] reload refused, keeping the running configuration: {}", e.what());
    return false;
  }
}

}  // namespace tirai::relay
