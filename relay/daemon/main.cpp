// tiraid: the relay daemon. A thin main over tirai_relay.
#include "relay/config/config.hpp"
#include "relay/daemon/daemon.hpp"
#include "relay/daemon/logging.hpp"
#include "relay/version.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"tiraid: pseudonymous relay messaging daemon"};
  std::string config_path;
  bool init = false;
  bool print_example = false;
  std::string rotate_to;
  std::string state_dir;
  std::string check_path;
  bool quiet = false;
  app.add_option("-c,--config", config_path, "TOML config file");
  app.add_flag("--init", init, "write the example config to --config first when that file does not exist");
  app.add_flag("--print-example-config", print_example, "print the example config, with every key and default");
  app.add_option("--state-dir", state_dir,
                 "with --print-example-config: the database, keys, token and secrets in this folder (absolute paths)")
      ->needs("--print-example-config");
  app.add_option("--check-config", check_path,
                 "validate this config file and print the settings in effect (secrets as [secret]); exit 0 or 1");
  app.add_flag("-q,--quiet", quiet, "with --check-config: print nothing but the problems (for ExecStartPre=)")
      ->needs("--check-config");
  app.add_option("--rotate-master-key", rotate_to,
                 "offline: re-key the database under the master key in this file (created when missing), then exit");
  app.set_version_flag("--version", "tiraid " + std::string(tirai::relay::version));
  CLI11_PARSE(app, argc, argv);

  if (print_example) {
    std::cout << tirai::relay::example_config(state_dir.empty() ? std::filesystem::path()
                                                                : std::filesystem::absolute(state_dir));
    return 0;
  }
  if (!check_path.empty()) {
    // For ExecStartPre= and for operators: what a start would read, and
    // whether it would take it; nothing is created or opened but the file.
    try {
      const auto config = tirai::relay::load_config(check_path);
      tirai::relay::check_config_file(config, check_path);
      if (!quiet) {
        std::cout << tirai::relay::effective_config(config);
        std::cerr << "tiraid: " << check_path << " is valid\n";
      }
      return 0;
    } catch (const std::exception& e) {
      std::cerr << "tiraid: " << e.what() << "\n";
      return 1;
    }
  }
  // Every file tiraid writes is private to its account from the first byte,
  // the config that --init writes included: it will hold sms.inbound_secret
  // and the Kannel password.
  ::umask(077);
  // From here on the process holds secrets (the config's, then keys) on every path.
  tirai::relay::harden_process();
  if (config_path.empty()) {
    std::cerr << "tiraid: --config PATH is required (try --init --config var/dev/tiraid.toml)\n";
    return 2;
  }
  try {
    if (init && !std::filesystem::exists(config_path)) {
      const std::filesystem::path p(config_path);
      if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
      std::ofstream(p) << tirai::relay::example_config();
      std::cerr << "tiraid: wrote a new config to " << config_path << "\n";
    }
    auto config = tirai::relay::load_config(config_path);
    tirai::relay::setup_logging(config.log);
    if (!rotate_to.empty()) {
      tirai::relay::rotate_master_key(config, rotate_to);
      std::cerr << "tiraid: the database is now keyed to " << rotate_to
                << ". Point keys.master_key_file at it (or move it over the old file) before the next start;\n"
                << "the old key file opens nothing any more. Keep a safe copy of the new key.\n";
      return 0;
    }
    tirai::relay::Daemon daemon(std::move(config), config_path);
    return daemon.run();
  } catch (const tirai::relay::ConfigError& e) {
    std::cerr << "tiraid: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tiraid: cannot start: " << e.what() << "\n";
    return 1;
  }
}
