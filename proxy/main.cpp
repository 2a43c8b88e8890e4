// `conduit`: one binary, one verb per job (serve, check-config, ca ...). Exit status:
// 0 success, 1 runtime failure, 2 bad configuration or bad command line.
#include <CLI/CLI.hpp>
#include <iostream>

#include "config/load.hpp"
#include "mfa/site_ca.hpp"
#include "proxy/event_log.hpp"
#include "proxy/gateway.hpp"
#include "proxy/tunnel.hpp"

namespace {

using namespace conduit;
namespace fs = std::filesystem;

constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;
constexpr const char* kDefaultDataDir = "/var/lib/conduit";

struct Args {
  std::string config_file;
  std::string data_dir;
  std::string log_format = "text";
  unsigned threads = 0;
  std::string name;
  std::string device;
  std::string user;
  std::string role;
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  int days = 0;
  std::string out;
  proxy::TunnelOptions tunnel;
};

std::optional<fs::path> data_dir_override(const Args& args) {
  if (args.data_dir.empty()) return std::nullopt;
  return fs::path(args.data_dir);
}

fs::path data_dir_or_default(const Args& args) { return args.data_dir.empty() ? kDefaultDataDir : args.data_dir; }

void add_data_dir(CLI::App* app, Args& args) {
  app->add_option("--data-dir", args.data_dir, "State directory: site CA, credentials, recordings")
      ->default_str(kDefaultDataDir);
}

int run_serve(const Args& args) {
  auto config = config::load_file(args.config_file, data_dir_override(args));
  proxy::init_event_log(args.log_format == "json" ? proxy::LogFormat::json : proxy::LogFormat::text);
  auto snapshot = proxy::make_snapshot(std::move(config));
  return proxy::serve({args.config_file, data_dir_override(args), args.threads}, std::move(snapshot));
}

int run_check_config(const Args& args) {
  auto config = config::load_file(args.config_file, data_dir_override(args));
  proxy::make_snapshot(config);  // also proves the TLS files load and match
  std::cout << "config ok: " << config.listeners.size() << " listeners, " << config.assets.size() << " assets, "
            << config.grants.size() << " grants\n";
  return 0;
}

int run_ca_init(const Args& args) {
  auto ca = mfa::SiteCa::init(data_dir_or_default(args), args.name, std::chrono::days(args.days ? args.days : 3650));
  std::cout << "site CA created: " << ca.certificate_path().string() << "\n";
  return 0;
}

int run_issue_server(const Args& args) {
  auto ca = mfa::SiteCa::open(data_dir_or_default(args));
  mfa::ServerCertificateSpec spec{args.name, args.dns, args.ips, std::chrono::days(args.days ? args.days : 397)};
  fs::path out = args.out.empty() ? data_dir_or_default(args) / "pki" : fs::path(args.out);
  auto files = mfa::write_certificate_files(ca.issue_server(spec), out, args.name);
  std::cout << "certificate: " << files.certificate.string() << "\nprivate key: " << files.private_key.string() << "\n";
  return 0;
}

int run_issue_device(const Args& args) {
  auto ca = mfa::SiteCa::open(data_dir_or_default(args));
  mfa::DeviceCertificateSpec spec;
  spec.device_id = args.device;
  spec.validity = std::chrono::days(args.days ? args.days : 365);
  if (!args.user.empty()) spec.user = args.user;
  if (!args.role.empty()) spec.role = args.role;
  auto files = mfa::write_certificate_files(ca.issue_device(spec), args.out, args.device);
  std::cout << "certificate: " << files.certificate.string() << "\nprivate key: " << files.private_key.string()
            << "\nsite CA:     " << ca.certificate_path().string() << "\n";
  return 0;
}

int run_tunnel(const Args& args) {
  proxy::init_event_log(args.log_format == "json" ? proxy::LogFormat::json : proxy::LogFormat::text);
  return proxy::run_tunnel(args.tunnel);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::function<int(const Args&)> action;
  auto on = [&action](int (*function)(const Args&)) { return [&action, function] { action = function; }; };

  CLI::App app{"Conduit: a Zero Trust access gateway for OT networks", "conduit"};
  app.require_subcommand(1);

  auto* serve = app.add_subcommand("serve", "Run the gateway");
  serve->add_option("--config", args.config_file, "Configuration file (JSON)")->required()->check(CLI::ExistingFile);
  add_data_dir(serve, args);
  serve->add_option("--log-format", args.log_format, "Log lines as text or JSON")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  serve->add_option("--threads", args.threads, "I/O threads (default: gateway.threads, else one per core)");
  serve->callback(on(run_serve));

  auto* check = app.add_subcommand("check-config", "Validate a configuration file without starting");
  check->add_option("file", args.config_file, "Configuration file (JSON)")->required();
  add_data_dir(check, args);
  check->callback(on(run_check_config));

  auto* ca = app.add_subcommand("ca", "Site certificate authority");
  ca->require_subcommand(1);
  auto* init = ca->add_subcommand("init", "Create the site CA in <data-dir>/pki (never overwrites)");
  add_data_dir(init, args);
  init->add_option("--name", args.name, "CA common name")->default_val("Conduit Site CA");
  init->add_option("--days", args.days, "Validity in days (default 3650)")->check(CLI::Range(1, 36500));
  init->callback(on(run_ca_init));

  auto* issue = ca->add_subcommand("issue", "Issue a certificate and key from the site CA");
  issue->require_subcommand(1);
  auto* server = issue->add_subcommand("server", "The gateway's TLS server certificate");
  add_data_dir(server, args);
  server->add_option("--name", args.name, "Subject CN and file name")->default_val("gateway");
  server->add_option("--dns", args.dns, "DNS name clients connect to (repeatable)");
  server->add_option("--ip", args.ips, "IP address clients connect to (repeatable)");
  server->add_option("--days", args.days, "Validity in days (default 397)")->check(CLI::Range(1, 3650));
  server->add_option("--out", args.out, "Output directory (default <data-dir>/pki)");
  server->callback(on(run_issue_server));

  auto* device = issue->add_subcommand("device", "A device client certificate, optionally bound to a user");
  add_data_dir(device, args);
  device->add_option("--device", args.device, "Device id (subject CN)")->required();
  device->add_option("--user", args.user, "User bound to the certificate (SAN URI conduit:user/NAME)");
  device->add_option("--role", args.role, "Modbus/TCP Security role (extension 1.3.6.1.4.1.50316.802.1)");
  device->add_option("--days", args.days, "Validity in days (default 365)")->check(CLI::Range(1, 3650));
  device->add_option("--out", args.out, "Output directory for <device>.crt and <device>.key")->required();
  device->callback(on(run_issue_device));

  auto* tunnel = app.add_subcommand(
      "tunnel", "Open a local plain-TCP port relayed to a gateway listener over TLS with your client certificate");
  tunnel->add_option("asset", args.tunnel.asset, "Asset behind the gateway listener (names it in log lines)")
      ->required();
  tunnel->add_option("--gateway", args.tunnel.gateway, "Gateway listener host:port (DNS name or IP)")->required();
  tunnel->add_option("--listen", args.tunnel.listen, "Local ip:port for your tools, e.g. 127.0.0.1:5020")
      ->required();
  tunnel->add_option("--cert", args.tunnel.certificate,
                     "Client certificate (default $XDG_CONFIG_HOME/conduit/client.crt, else ~/.config/conduit/)");
  tunnel->add_option("--key", args.tunnel.private_key, "Client private key (default <same dir>/client.key)");
  tunnel->add_option("--ca", args.tunnel.ca, "CA that signed the gateway's certificate (default <same dir>/ca.crt)");
  tunnel->add_flag("--allow-remote", args.tunnel.allow_remote,
                   "Allow --listen on a non-loopback address (anyone reaching it acts as you)");
  tunnel->add_option("--log-format", args.log_format, "Log lines as text or JSON")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  tunnel->callback(on(run_tunnel));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int status = app.exit(e);
    return status == 0 ? 0 : kExitConfig;
  }

  try {
    return action(args);
  } catch (const config::ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitConfig;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitFailure;
  }
}
