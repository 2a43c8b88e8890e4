#include "proxy/cli/sessions_cli.hpp"

#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "audit/audit_key.hpp"
#include "audit/export_jsonl.hpp"
#include "audit/export_pcap.hpp"
#include "audit/recording.hpp"
#include "audit/replay.hpp"
#include "audit/session_index.hpp"
#include "common/exit_codes.hpp"
#include "common/hex.hpp"
#include "common/private_file.hpp"

namespace conduit::proxy {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

fs::path recordings_dir(const SessionsOptions& options) { return options.data_dir / "recordings"; }

audit::SessionIndex open_index(const SessionsOptions& options) {
  std::string message;
  auto index = audit::SessionIndex::open(recordings_dir(options) / "index.db", &message);
  if (!index) throw std::runtime_error(message.empty() ? index.error().message() : message);
  return std::move(*index);
}

audit::AuditKey public_key(const SessionsOptions& options) {
  fs::path path = options.data_dir / "audit" / "audit.pub";
  auto key = audit::AuditKey::load_public_pem(path);
  if (!key) throw std::runtime_error("cannot load the audit key " + path.string() + ": " + key.error().message());
  return std::move(*key);
}

std::vector<std::uint8_t> read_recording(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string() + ": " + std::strerror(errno));
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

audit::SessionRow find_row(audit::SessionIndex& index, const std::string& id) {
  auto row = index.find(id);
  if (!row) {
    if (row.error() == audit::IndexErrc::not_found) throw std::runtime_error("no session " + id + " in the index");
    throw std::runtime_error(index.last_error_message());
  }
  return std::move(*row);
}

// "2026-11-22", "2026-11-22T10:00", "2026-11-22T10:00:05", UTC.
std::optional<std::int64_t> parse_time(const std::string& text, const char* flag) {
  if (text.empty()) return std::nullopt;
  for (const char* format : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    std::tm tm{};
    std::istringstream in(text);
    in >> std::get_time(&tm, format);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) return std::int64_t{timegm(&tm)} * 1'000'000;
  }
  throw Usage(std::string(flag) + " \"" + text + "\" is not a UTC time like 2026-11-22 or 2026-11-22T10:00");
}

std::string utc(std::optional<std::int64_t> us) {
  if (!us) return "open";
  std::time_t seconds = static_cast<std::time_t>(*us / 1'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

json row_json(const audit::SessionRow& row) {
  const auto& s = row.start;
  const auto& p = row.progress;
  return {{"id", s.id},
          {"user", s.user},
          {"device", s.device},
          {"role", s.role},
          {"asset", s.asset},
          {"protocol", s.protocol},
          {"listener", s.listener},
          {"client_address", s.client_address},
          {"asset_address", s.asset_address},
          {"start", utc(s.start_us)},
          {"end", row.end_us ? json(utc(row.end_us)) : json(nullptr)},
          {"end_reason", row.end_reason},
          {"bytes_in", p.bytes_in},
          {"bytes_out", p.bytes_out},
          {"requests", p.requests},
          {"denials", p.denials},
          {"writes", p.writes},
          {"records", p.total_records},
          {"sealed_records", p.sealed_records},
          {"chain_head", p.chain_head},
          {"file", s.file},
          {"file_size", p.file_size},
          {"verification", audit::to_string(row.verification)},
          {"verification_detail", row.verification_detail},
          {"hold", row.hold}};
}

template <typename Function>
int guarded(Function function) {
  try {
    return function();
  } catch (const Usage& e) {
    std::cerr << "error: " << e.what() << "\n";
    return common::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return common::kExitFailure;
  }
}

// A recording against what the index knows about it: the file must hold this session
// and at least the records the index saw committed (a shorter file was cut).
struct Checked {
  audit::VerifyResult result;
  bool ok = false;
  std::string line;
};

// The hash chain after the first `count` records (lower hex), or empty if the file holds
// fewer complete records.
std::string chain_after(std::span<const std::uint8_t> bytes, std::uint64_t count) {
  audit::RecordingReader reader(bytes);
  audit::Record record;
  audit::Digest chain{};
  for (std::uint64_t i = 0; i < count; ++i) {
    if (reader.next(record).status != audit::ReadStatus::ok) return {};
    chain = i == 0 ? audit::chain_start(reader.preamble(), record.frame) : audit::chain_next(chain, record.frame);
  }
  return common::hex_encode(chain);
}

Checked check(const SessionsOptions& options, const audit::AuditKey& key, const audit::SessionRow& row) {
  Checked checked;
  std::vector<std::uint8_t> bytes;
  try {
    bytes = read_recording(recordings_dir(options) / row.start.file);
  } catch (const std::exception& e) {
    checked.line = row.start.id + "  FAILED: " + e.what();
    return checked;
  }
  checked.result = audit::verify_recording(bytes, key, row.start.id);
  const audit::VerifyResult& r = checked.result;
  checked.ok = r.ok;
  std::string detail = r.reason;
  if (r.ok && r.total_records < row.progress.total_records) {
    checked.ok = false;
    detail = "the file has " + std::to_string(r.total_records) + " complete records but the index saw " +
             std::to_string(row.progress.total_records) + " committed: records were removed from the end";
  } else if (r.ok && !row.progress.chain_head.empty() &&
             chain_after(bytes, row.progress.total_records) != row.progress.chain_head) {
    // Records after the last seal are chained but not signed; the index's chain head at
    // its last checkpoint still pins them.
    checked.ok = false;
    detail = "records 0.." + std::to_string(row.progress.total_records - 1) +
             " do not chain to the head the index recorded: they were rewritten";
  }
  std::ostringstream line;
  line << row.start.id << "  ";
  if (!checked.ok) {
    // The detail names the record and byte where the check failed; the first record that
    // can no longer be trusted may be an earlier one (a seal that fails vouches for nothing
    // since the previous seal), so it is said apart, never as the place of the failure.
    line << "FAILED: " << detail;
    if (r.first_bad_record) line << "; untrusted from record " << *r.first_bad_record << " on";
  } else {
    line << "ok  " << r.total_records << " records, " << r.sealed_records << " sealed"
         << (r.closed ? ", closed" : ", not closed") << (r.torn_tail ? ", torn tail (crash while writing)" : "");
    if (row.verification == audit::Verification::abnormal_end) line << ", ended abnormally";
  }
  checked.line = line.str();
  return checked;
}

}  // namespace

int sessions_list(const SessionsOptions& options) {
  return guarded([&] {
    audit::SessionFilter filter;
    filter.user = options.user;
    filter.device = options.device;
    filter.asset = options.asset;
    filter.since_us = parse_time(options.since, "--since");
    filter.until_us = parse_time(options.until, "--until");
    filter.had_denials = options.had_denials;
    filter.had_writes = options.had_writes;
    filter.open_only = options.open_only;
    filter.limit = options.limit;
    auto index = open_index(options);
    auto rows = index.list(filter);
    if (!rows) throw std::runtime_error(index.last_error_message());
    if (options.json) {
      json list = json::array();
      for (const auto& row : *rows) list.push_back(row_json(row));
      std::cout << list.dump(2) << "\n";
      return common::kExitOk;
    }
    std::cout << std::left << std::setw(18) << "SESSION" << std::setw(22) << "START (UTC)" << std::setw(10) << "USER"
              << std::setw(15) << "DEVICE" << std::setw(12) << "ASSET" << std::setw(7) << "PROTO" << std::right
              << std::setw(6) << "REQS" << std::setw(6) << "DENY" << std::setw(6) << "WRITE" << "  END\n";
    for (const auto& row : *rows) {
      const auto& s = row.start;
      std::cout << std::left << std::setw(18) << s.id << std::setw(22) << utc(s.start_us) << std::setw(10) << s.user
                << std::setw(15) << s.device << std::setw(12) << s.asset << std::setw(7) << s.protocol << std::right
                << std::setw(6) << row.progress.requests << std::setw(6) << row.progress.denials << std::setw(6)
                << row.progress.writes << "  " << (row.open() ? "open" : row.end_reason) << (row.hold ? " [hold]" : "")
                << "\n";
    }
    return common::kExitOk;
  });
}

int sessions_show(const SessionsOptions& options) {
  return guarded([&] {
    auto index = open_index(options);
    std::cout << row_json(find_row(index, options.id)).dump(2) << "\n";
    return common::kExitOk;
  });
}

int sessions_hold(const SessionsOptions& options) {
  return guarded([&] {
    auto index = open_index(options);
    find_row(index, options.id);
    if (!index.set_hold(options.id, !options.release)) throw std::runtime_error(index.last_error_message());
    std::cout << options.id << (options.release ? " released: retention may delete it\n" : " held: retention keeps it\n");
    return common::kExitOk;
  });
}

int replay(const SessionsOptions& options) {
  return guarded([&] {
    auto index = open_index(options);
    audit::SessionRow row = find_row(index, options.id);
    fs::path path = recordings_dir(options) / row.start.file;
    audit::ReplayOptions format;
    format.show_seals = options.show_seals;
    std::optional<audit::ReplayPacer> pacer;
    if (options.speed > 0) pacer.emplace(options.speed);
    std::uint64_t shown = 0;  // records already printed (the file is re-read when following)
    std::optional<std::uint64_t> first_monotonic;
    for (;;) {
      std::vector<std::uint8_t> bytes = read_recording(path);
      audit::RecordingReader reader(bytes);
      audit::Record record;
      std::optional<audit::Header> header;
      bool closed = false;
      for (;;) {
        audit::ReadResult result = reader.next(record);
        if (result.status != audit::ReadStatus::ok) {
          if (result.status == audit::ReadStatus::malformed || result.status == audit::ReadStatus::unsupported_version) {
            throw std::runtime_error(result.message + " (conduit verify " + options.id + " says more)");
          }
          break;  // end, or a torn tail: a write in progress (following) or a crash
        }
        if (auto* h = std::get_if<audit::Header>(&record.body)) header = *h;
        if (!first_monotonic) first_monotonic = audit::record_monotonic_us(record);
        if (auto* event = std::get_if<audit::EventRecord>(&record.body)) closed |= event->kind == audit::EventKind::close;
        if (record.index < shown) continue;
        shown = record.index + 1;
        if (pacer) pacer->wait_before(record);
        if (record.index == 0) {
          std::cout << audit::format_header(*header) << "\n";
        } else if (auto line = audit::format_record(record, *header, first_monotonic.value_or(0), format)) {
          std::cout << *line << "\n";
        }
        std::cout.flush();
      }
      if (!options.follow || closed) break;
      auto now = index.find(options.id);
      if (now && !now->open() && !closed) break;  // ended abnormally: nothing more will come
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return common::kExitOk;
  });
}

int export_session(const SessionsOptions& options) {
  return guarded([&] {
    auto index = open_index(options);
    audit::SessionRow row = find_row(index, options.id);
    std::vector<std::uint8_t> bytes = read_recording(recordings_dir(options) / row.start.file);
    std::string text;
    if (options.format == "pcap") {
      auto pcap = audit::export_pcap(bytes);
      if (!pcap) throw std::runtime_error(pcap.error().message);
      text.assign(pcap->begin(), pcap->end());
    } else {
      auto lines = audit::export_jsonl(bytes);
      if (!lines) throw std::runtime_error(lines.error().message);
      text = std::move(*lines);
    }
    if (options.out == "-") {
      std::cout.write(text.data(), static_cast<std::streamsize>(text.size()));
      return common::kExitOk;
    }
    fs::path out = options.out.empty() ? fs::path(options.id + "." + options.format) : options.out;
    // An export holds what was sent to the machine: readable by its owner only, and never
    // written over an existing file (an earlier export, evidence) unless asked to.
    constexpr mode_t kExportMode = 0600;
    auto written = options.force ? common::replace_file(out, text, kExportMode)
                                 : common::write_new_file(out, text, kExportMode);
    if (!written) {
      if (!options.force && written.error().code == boost::system::errc::file_exists) {
        throw std::runtime_error(out.string() + " exists; not overwritten (--force replaces it)");
      }
      throw std::runtime_error(written.error().message());
    }
    std::cerr << "wrote " << out.string() << " (" << text.size() << " bytes)\n";
    return common::kExitOk;
  });
}

int verify(const SessionsOptions& options) {
  return guarded([&] {
    if (options.all == !options.id.empty()) throw Usage("name one session, or --all");
    auto index = open_index(options);
    auto key = public_key(options);
    std::vector<audit::SessionRow> rows;
    if (options.all) {
      auto all = index.all();
      if (!all) throw std::runtime_error(index.last_error_message());
      rows = std::move(*all);
    } else {
      rows.push_back(find_row(index, options.id));
    }
    int failed = 0;
    for (const auto& row : rows) {
      Checked checked = check(options, key, row);
      std::cout << checked.line << "\n";
      if (!checked.ok) ++failed;
      // Remember the outcome for `sessions list --json`, but never turn a finding into "ok"
      // for a session the gateway marked as ended abnormally.
      auto state = !checked.ok ? audit::Verification::failed
                               : row.verification == audit::Verification::abnormal_end ? audit::Verification::abnormal_end
                                                                                       : audit::Verification::ok;
      (void)index.set_verification(row.start.id, state, checked.result.reason);
    }
    if (options.all) std::cout << rows.size() - failed << " of " << rows.size() << " recordings verify\n";
    return failed ? common::kExitFailure : common::kExitOk;
  });
}

}  // namespace conduit::proxy
