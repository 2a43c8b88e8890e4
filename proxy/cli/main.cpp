// `conduit`: one binary, one verb per job (serve, check-config, ca ...). Exit status
// (common/exit_codes.hpp): 0 success, 1 runtime failure, 2 bad configuration or bad command
// line, an unknown verb included.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common/exit_codes.hpp"
#include "config/load.hpp"
#include "mfa/site_ca.hpp"
#include "proxy/cli/admin_cli.hpp"
#include "proxy/cli/serve.hpp"
#include "proxy/cli/sessions_cli.hpp"
#include "proxy/client/login.hpp"
#include "proxy/client/tunnel.hpp"
#include "proxy/net/event_log.hpp"

namespace {

using namespace conduit;
namespace fs = std::filesystem;

using common::kExitFailure;
using common::kExitOk;
using common::kExitUsage;
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
  proxy::LoginOptions login;
  proxy::AdminOptions admin;
  proxy::SessionsOptions sessions;
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
  for (const std::string& note : config.notes) std::cout << "note: " << note << "\n";
  std::cout << "config ok: " << config.listeners.size() << " listeners, " << config.assets.size() << " assets, "
            << config.grants.size() << " grants\n";
  return kExitOk;
}

int run_ca_init(const Args& args) {
  auto ca = mfa::SiteCa::init(data_dir_or_default(args), args.name, std::chrono::days(args.days ? args.days : 3650));
  std::cout << "site CA created: " << ca.certificate_path().string() << "\n";
  return kExitOk;
}

int run_issue_server(const Args& args) {
  auto ca = mfa::SiteCa::open(data_dir_or_default(args));
  mfa::ServerCertificateSpec spec{args.name, args.dns, args.ips, std::chrono::days(args.days ? args.days : 397)};
  fs::path out = args.out.empty() ? data_dir_or_default(args) / "pki" : fs::path(args.out);
  auto files = mfa::write_certificate_files(ca.issue_server(spec), out, args.name);
  std::cout << "certificate: " << files.certificate.string() << "\nprivate key: " << files.private_key.string() << "\n";
  return kExitOk;
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
  return kExitOk;
}

int run_tunnel(const Args& args) {
  proxy::init_event_log(args.log_format == "json" ? proxy::LogFormat::json : proxy::LogFormat::text);
  return proxy::run_tunnel(args.tunnel);
}

int run_login(const Args& args) { return proxy::run_login(args.login); }

// Admin verbs read the data directory from --data-dir (default /var/lib/conduit).
template <int (*kVerb)(const proxy::AdminOptions&)>
int admin_verb(const Args& args) {
  proxy::AdminOptions options = args.admin;
  if (options.data_dir.empty()) options.data_dir = data_dir_or_default(args);
  return kVerb(options);
}

// The PIN comes from the environment, never from the command line (ps shows arguments).
void read_pin(mfa::KeyOptions& key) {
  if (const char* pin = std::getenv("CONDUIT_FIDO_PIN")) key.pin = pin;
}

void add_key_device(CLI::App* app, mfa::KeyOptions& key) {
  app->add_option("--key-device", key.device_path,
                  "Security key: /dev/hidrawN, or unix:/path for a socket authenticator (default: first USB key). "
                  "PIN from $CONDUIT_FIDO_PIN");
}

// Verbs that talk to the running gateway reach it through its admin socket (proxy/ADMIN.md).
void add_admin_socket(CLI::App* app, proxy::AdminOptions& admin) {
  app->add_option("--socket", admin.socket, "Admin socket (default <data-dir>/admin.sock)");
}

void add_admin_verbs(CLI::App& app, Args& args, const std::function<std::function<void()>(int (*)(const Args&))>& on) {
  proxy::AdminOptions& admin = args.admin;
  auto* user = app.add_subcommand("user", "Users in the credential store (on the gateway host)");
  user->require_subcommand(1);
  auto* user_add = user->add_subcommand("add", "Add a user");
  add_data_dir(user_add, args);
  user_add->add_option("name", admin.name, "User name")->required();
  user_add->add_option("--role", admin.roles, "Role (repeatable), e.g. Operator");
  user_add->callback(on(admin_verb<proxy::user_add>));
  auto* user_list = user->add_subcommand("list", "List users, roles and key counts");
  add_data_dir(user_list, args);
  user_list->callback(on(admin_verb<proxy::user_list>));

  auto* device = app.add_subcommand("device", "Devices (laptops, engineering stations)");
  device->require_subcommand(1);
  auto* request = device->add_subcommand("request", "On the device: make its key and a certificate request");
  request->add_option("--id", admin.name, "Device id, e.g. laptop-7")->required();
  request->add_option("--dir", admin.out, "Where to put device.key and device.csr (default ~/.config/conduit)");
  request->callback(on(admin_verb<proxy::device_request>));
  auto* enroll = device->add_subcommand("enroll", "On the gateway: sign a device's request and record the device");
  add_data_dir(enroll, args);
  enroll->add_option("--id", admin.name, "Device id")->required();
  enroll->add_option("--csr", admin.csr, "The device's device.csr")->required()->check(CLI::ExistingFile);
  enroll->add_option("--user", admin.users, "User who may log in from this device (repeatable)");
  enroll->add_option("--days", admin.days, "Validity in days (default 365)")->check(CLI::Range(1, 3650));
  enroll->add_option("--out", admin.out, "Certificate file to write (default <id>.crt)");
  enroll->callback(on(admin_verb<proxy::device_enroll>));

  auto* key = app.add_subcommand("key", "FIDO2 security keys");
  key->require_subcommand(1);
  auto* key_enroll = key->add_subcommand("enroll", "Enroll a key plugged into the gateway host");
  key_enroll->add_option("name", admin.name, "User")->required();
  key_enroll->add_option("--config", admin.config_file, "Gateway configuration (auth section)")->required();
  key_enroll->add_option("--data-dir", admin.data_dir, "Override gateway.data_dir");
  add_key_device(key_enroll, admin.key);
  key_enroll->callback([&args, on] {
    read_pin(args.admin.key);
    on(admin_verb<proxy::key_enroll>)();
  });
  auto* code = key->add_subcommand("code", "A one-time code to enroll a key remotely (conduit login --enroll)");
  add_data_dir(code, args);
  code->add_option("name", admin.name, "User")->required();
  code->add_option("--hours", admin.hours, "Validity in hours (default 24)")->check(CLI::Range(1, 720));
  code->callback(on(admin_verb<proxy::key_code>));
  auto* key_list = key->add_subcommand("list", "A user's keys");
  add_data_dir(key_list, args);
  key_list->add_option("name", admin.name, "User")->required();
  key_list->callback(on(admin_verb<proxy::key_list>));

  auto* revoke = app.add_subcommand("revoke", "Revoke a user, key, device or certificate on the running gateway");
  add_data_dir(revoke, args);
  revoke->add_option("kind", admin.kind, "user | key | device | certificate")
      ->required()
      ->check(CLI::IsMember({"user", "key", "device", "certificate"}));
  revoke->add_option("id", admin.name, "User name, key id, device id or certificate serial (hex)")->required();
  revoke->add_option("--reason", admin.reason, "Why (recorded)");
  add_admin_socket(revoke, admin);
  revoke->callback(on(admin_verb<proxy::revoke>));

  auto* lockdown = app.add_subcommand("lockdown", "Refuse and end sessions at once: all, a role's, or some assets'");
  add_data_dir(lockdown, args);
  lockdown->add_option("--role", admin.role, "Only sessions of users with this role");
  lockdown->add_option("--asset", admin.asset, "Only sessions to assets matching NAME, prefix* or *");
  lockdown->add_option("--reason", admin.reason, "Why (recorded)");
  add_admin_socket(lockdown, admin);
  auto* lift = lockdown->add_subcommand("lift", "Lift every lockdown");
  add_data_dir(lift, args);
  add_admin_socket(lift, admin);
  lift->callback(on(admin_verb<proxy::lockdown_lift>));
  // CLI11 runs the parent's callback after the subcommand's: `lockdown lift` must never
  // also impose a lockdown.
  lockdown->callback([lift, set = on(admin_verb<proxy::lockdown>)] {
    if (!lift->parsed()) set();
  });

  auto* status = app.add_subcommand("status", "Revocations and lockdowns in force on the running gateway");
  add_data_dir(status, args);
  add_admin_socket(status, admin);
  status->callback(on(admin_verb<proxy::admin_status>));

  auto* stats = app.add_subcommand("stats", "Counters of the running gateway: decisions and failures (proxy/STATS.md)");
  add_data_dir(stats, args);
  add_admin_socket(stats, admin);
  stats->add_flag("--json", admin.json, "One JSON object instead of a table");
  stats->callback(on(admin_verb<proxy::admin_stats>));
}

template <int (*kVerb)(const proxy::SessionsOptions&)>
int sessions_verb(const Args& args) {
  proxy::SessionsOptions options = args.sessions;
  options.data_dir = data_dir_or_default(args);
  return kVerb(options);
}

void add_security_verbs(CLI::App& app, Args& args, const std::function<std::function<void()>(int (*)(const Args&))>& on) {
  proxy::SessionsOptions& s = args.sessions;
  auto* sessions = app.add_subcommand("sessions", "Recorded sessions: list, show, hold");
  sessions->require_subcommand(1);
  auto* list = sessions->add_subcommand("list", "List sessions, newest first (times UTC)");
  add_data_dir(list, args);
  list->add_option("--user", s.user, "Only this user's sessions");
  list->add_option("--device", s.device, "Only sessions from this device");
  list->add_option("--asset", s.asset, "Only sessions to this asset");
  list->add_option("--since", s.since, "Sessions running at or after this time (2026-11-22T10:00, UTC)");
  list->add_option("--until", s.until, "Sessions running at or before this time");
  list->add_flag("--denials", s.had_denials, "Only sessions with denied requests");
  list->add_flag("--writes", s.had_writes, "Only sessions with writes");
  list->add_flag("--open", s.open_only, "Only sessions still open");
  list->add_option("--limit", s.limit, "At most this many (default 100)");
  list->add_flag("--json", s.json, "JSON instead of a table");
  list->callback(on(sessions_verb<proxy::sessions_list>));
  auto* show = sessions->add_subcommand("show", "Everything the index knows about one session (JSON)");
  add_data_dir(show, args);
  show->add_option("id", s.id, "Session id")->required();
  show->callback(on(sessions_verb<proxy::sessions_show>));
  auto* hold = sessions->add_subcommand("hold", "Keep a session from retention (evidence)");
  add_data_dir(hold, args);
  hold->add_option("id", s.id, "Session id")->required();
  hold->add_flag("--release", s.release, "Release the hold");
  hold->callback(on(sessions_verb<proxy::sessions_hold>));

  auto* replay = app.add_subcommand("replay", "A session as a readable timeline (Modbus decoded)");
  add_data_dir(replay, args);
  replay->add_option("id", s.id, "Session id")->required();
  replay->add_flag("--follow", s.follow, "Keep printing while the session is open");
  replay->add_option("--speed", s.speed, "Paced playback: 1 = as it happened, 10 = ten times faster")
      ->check(CLI::PositiveNumber);
  replay->add_flag("--seals", s.show_seals, "Show seal records too");
  replay->callback(on(sessions_verb<proxy::replay>));

  auto* exporter = app.add_subcommand("export", "A session as pcap (Wireshark, tshark) or JSON lines");
  add_data_dir(exporter, args);
  exporter->add_option("id", s.id, "Session id")->required();
  exporter->add_option("--format", s.format, "pcap or jsonl")->required()->check(CLI::IsMember({"pcap", "jsonl"}));
  exporter->add_option("--out", s.out, "Output file (default <id>.pcap or <id>.jsonl; - for stdout)");
  exporter->add_flag("--force", s.force, "Replace the output file if it exists (otherwise refused)");
  exporter->callback(on(sessions_verb<proxy::export_session>));

  auto* verifier = app.add_subcommand("verify", "Check recordings: CRC, hash chain, signatures, the index");
  add_data_dir(verifier, args);
  verifier->add_option("id", s.id, "Session id");
  verifier->add_flag("--all", s.all, "Every recording in the index");
  verifier->callback(on(sessions_verb<proxy::verify>));
}

// A word where a verb belongs that names none, e.g. NOSUCHVERB in `conduit NOSUCHVERB
// --help`. CLI11 keeps it as an extra argument and complains only after the whole line,
// and --help comes first: the top-level help, exit 0, as if the verb existed. So every
// parse error is first checked for one: the first extra argument of a command that has
// verbs (the top, or the last verb given), when it is not an option. Prints one line and
// returns true if there is one.
bool report_unknown_verb(const CLI::App& root) {
  std::string verbs;  // "user " in `conduit user NOSUCH`
  for (const CLI::App* app = &root;;) {
    const std::vector<std::string> extras = app->remaining();
    const bool has_verbs = !app->get_subcommands([](const CLI::App*) { return true; }).empty();
    if (has_verbs && !extras.empty() && !extras.front().empty() && extras.front().front() != '-') {
      std::cerr << "error: unknown command \"" << verbs << extras.front() << "\" (see " << root.get_name() << " "
                << verbs << "--help)\n";
      return true;
    }
    const std::vector<CLI::App*> given = app->get_subcommands();
    if (given.empty()) return false;
    verbs += given.front()->get_name() + " ";
    app = given.front();
  }
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
  tunnel->add_flag("--per-session-mfa", args.tunnel.per_session_mfa,
                   "Touch your key for every connection (grants with \"mfa\": \"per_session\")");
  tunnel->add_option("--auth", args.tunnel.auth, "The gateway's auth API host:port (with --per-session-mfa)");
  tunnel->add_option("--user", args.tunnel.user, "Your user name (with --per-session-mfa)");
  tunnel->add_option("--key-device", args.tunnel.key_device, "Security key (default: first USB key)");
  tunnel->callback([&] {
    if (const char* pin = std::getenv("CONDUIT_FIDO_PIN")) args.tunnel.key_pin = pin;
    action = run_tunnel;
  });

  auto* login = app.add_subcommand("login", "Log in with your FIDO2 key: a short-lived certificate for this device");
  login->add_option("--gateway", args.login.gateway, "The gateway's auth API, host:port")->required();
  login->add_option("--user", args.login.user, "Your user name");
  login->add_option("--dir", args.login.dir, "Where device.crt/.key and ca.crt are (default ~/.config/conduit)");
  login->add_option("--enroll", args.login.enrollment_code, "Enroll a new key with this one-time code instead");
  add_key_device(login, args.login.key);
  login->callback([&] {
    read_pin(args.login.key);
    action = run_login;
  });

  add_admin_verbs(app, args, on);
  add_security_verbs(app, args, on);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Before --help: help for a verb that does not exist would say it does.
    if (report_unknown_verb(app)) return kExitUsage;
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  try {
    return action(args);
  } catch (const config::ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitFailure;
  }
}
