#include "audit/recorder.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <algorithm>
#include <stdexcept>

#include "common/hex.hpp"
#include "common/private_file.hpp"

namespace conduit::audit {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How often a live session's progress (chain head, counters) reaches the index when
// nothing forces it (a durable flush, a seal, the close).
constexpr auto kIndexInterval = std::chrono::seconds(1);
constexpr auto kRetentionInterval = std::chrono::hours(1);

std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t monotonic_us() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count());
}

std::string errno_text(int err) { return std::strerror(err); }

bool write_all(int fd, std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return true;
}

AuditKey load_or_create_key(const fs::path& dir) {
  fs::path private_path = dir / "audit.key";
  if (fs::exists(private_path)) {
    auto key = AuditKey::load_private_pem(private_path);
    if (!key) throw std::runtime_error("cannot load the audit key " + private_path.string() + ": " + key.error().message());
    return std::move(*key);
  }
  auto key = AuditKey::generate();
  if (!key) throw std::runtime_error("cannot generate an audit key: " + key.error().message());
  if (auto saved = key->save_private_pem(private_path); !saved) {
    throw std::runtime_error("cannot save the audit key " + private_path.string() + ": " + saved.error().message());
  }
  fs::path public_path = dir / "audit.pub";
  if (!fs::exists(public_path)) {
    if (auto saved = key->save_public_pem(public_path); !saved) {
      throw std::runtime_error("cannot save " + public_path.string() + ": " + saved.error().message());
    }
  }
  return std::move(*key);
}

// "cannot create <dir>: <reason>", or "cannot set the mode of <dir>: ..." when it
// cannot be made 0700.
void make_private_directory(const fs::path& dir) {
  if (auto made = common::make_private_directory(dir); !made) throw std::runtime_error(made.error().message());
}

std::vector<std::uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

// Writer-thread state of one recording, shared with its SessionRecording only by pointer.
struct RecordingFile {
  SessionStart start;
  int fd = -1;
  Clock::time_point last_index_update{};
};

struct Recorder::Batch {
  std::shared_ptr<RecordingFile> file;
  std::vector<std::uint8_t> bytes;
  DurableWaiter* waiter = nullptr;      // told once the bytes are durable
  std::function<void(bool)> closed;     // at close: told once the file and the row are closed
  SessionProgress progress;             // chain_head is filled in on the writer thread
  Digest chain_head{};
  bool opening = false;
  bool closing = false;
  bool sealed = false;  // the bytes end with a seal: worth an index checkpoint
  std::string close_reason;
  std::int64_t end_us = 0;
};

// --- SessionRecording (the session's thread) ------------------------------------------

SessionRecording::SessionRecording(Recorder& recorder, std::shared_ptr<RecordingFile> file, RecordingWriter writer)
    : recorder_(recorder), file_(std::move(file)), writer_(std::move(writer)), last_seal_(Clock::now()) {}

SessionRecording::~SessionRecording() {
  if (!closed_) close("session ended without a close", {});
}

bool SessionRecording::healthy() const { return recorder_.healthy() && !closed_; }

bool SessionRecording::data(Direction direction, RecordedDecision decision, std::string_view rule,
                            std::string_view summary, std::span<const std::uint8_t> payload) {
  if (!healthy()) return false;
  std::uint64_t wall = static_cast<std::uint64_t>(wall_us());
  std::uint64_t mono = monotonic_us();
  do {
    auto part = payload.first(std::min(payload.size(), kMaxPayload));
    DataRecord record{wall, mono, direction, decision, rule.substr(0, kMaxRule), summary.substr(0, kMaxSummary), part};
    if (!writer_.append_data(record)) return false;
    payload = payload.subspan(part.size());
  } while (!payload.empty());
  return true;
}

bool SessionRecording::note(std::string_view text) {
  if (!healthy()) return false;
  EventRecord event{static_cast<std::uint64_t>(wall_us()), monotonic_us(), EventKind::note, text.substr(0, kMaxText)};
  return static_cast<bool>(writer_.append_event(event));
}

void SessionRecording::flush(const SessionCounters& counters) { hand_over(counters, nullptr, {}, false); }

void SessionRecording::flush_durable(const SessionCounters& counters, DurableWaiter& waiter) {
  if (!healthy()) {
    waiter.on_durable(false);
    return;
  }
  hand_over(counters, &waiter, {}, false);
}

void SessionRecording::close(std::string_view reason, const SessionCounters& counters,
                             std::function<void(bool)> done) {
  if (closed_) {
    if (done) done(false);
    return;
  }
  EventRecord event{static_cast<std::uint64_t>(wall_us()), monotonic_us(), EventKind::close, reason.substr(0, kMaxText)};
  (void)writer_.append_event(event);
  close_reason_ = std::string(reason);
  hand_over(counters, nullptr, std::move(done), true);
  closed_ = true;
}

void SessionRecording::hand_over(const SessionCounters& counters, DurableWaiter* waiter,
                                 std::function<void(bool)> closed, bool closing) {
  bool sealed = false;
  if (closing || Clock::now() - last_seal_ >= recorder_.options_.seal_interval) {
    auto seal = writer_.seal(recorder_.key());
    sealed = seal && *seal;
    last_seal_ = Clock::now();
  }
  if (writer_.pending().empty() && !waiter && !closing) return;
  Recorder::Batch batch;
  batch.file = file_;
  batch.bytes = recorder_.take_buffer();
  writer_.drain_into(batch.bytes);
  batch.waiter = waiter;
  batch.closed = std::move(closed);
  batch.closing = closing;
  batch.sealed = sealed;
  batch.progress = {counters.bytes_in, counters.bytes_out, counters.requests, counters.denials, counters.writes,
                    writer_.record_count(), writer_.record_count() - writer_.unsealed_records(), {}, 0};
  batch.chain_head = writer_.chain_head();  // as hex on the writer thread: no string here
  if (closing) {
    batch.end_us = wall_us();
    batch.close_reason = close_reason_;
  }
  recorder_.submit(std::move(batch));
}

// --- Recorder ----------------------------------------------------------------------------

Recorder::Recorder(RecorderOptions options, AuditKey key, SessionIndex index)
    : options_(std::move(options)), key_(std::move(key)), index_(std::move(index)) {}

std::unique_ptr<Recorder> Recorder::start(const fs::path& data_dir, RecorderOptions options) {
  make_private_directory(data_dir / "audit");
  make_private_directory(options.directory);
  AuditKey key = load_or_create_key(data_dir / "audit");
  std::string message;
  auto index = SessionIndex::open(options.directory / "index.db", &message);
  if (!index) throw std::runtime_error(message.empty() ? index.error().message() : message);
  std::unique_ptr<Recorder> recorder(new Recorder(std::move(options), std::move(key), std::move(*index)));
  recorder->recover();
  recorder->apply_retention(wall_us());
  recorder->thread_ = std::thread([r = recorder.get()] { r->run(); });
  return recorder;
}

Recorder::~Recorder() { stop(); }

std::unique_ptr<SessionRecording> Recorder::open(const Header& header) {
  if (!healthy()) return nullptr;
  auto writer = RecordingWriter::start(header);
  if (!writer) return nullptr;
  auto file = std::make_shared<RecordingFile>();
  file->start = {std::string(header.session_id), std::string(header.user),     std::string(header.device),
                 std::string(header.role),       std::string(header.asset),    std::string(header.protocol),
                 std::string(header.listener),   std::string(header.client_address),
                 std::string(header.asset_address), std::string(header.session_id) + ".rec",
                 static_cast<std::int64_t>(header.start_wall_us)};
  std::unique_ptr<SessionRecording> recording(new SessionRecording(*this, file, std::move(*writer)));
  Batch batch;
  batch.file = std::move(file);
  batch.bytes = take_buffer();
  recording->writer_.drain_into(batch.bytes);
  batch.opening = true;
  submit(std::move(batch));
  return recording;
}

void Recorder::submit(Batch batch) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(batch));
  if (queue_.size() == 1) wake_.notify_one();
}

std::vector<std::uint8_t> Recorder::take_buffer() {
  std::lock_guard lock(mutex_);
  if (free_buffers_.empty()) return {};
  std::vector<std::uint8_t> buffer = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  return buffer;
}

void Recorder::run() {
  std::vector<Batch> group;
  auto next_retention = Clock::now() + kRetentionInterval;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_retention, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      group.swap(queue_);
    }
    write_group(group);
    {
      std::lock_guard lock(mutex_);
      for (Batch& batch : group) {
        batch.bytes.clear();
        if (batch.bytes.capacity() <= 256 * 1024 && free_buffers_.size() < 256) free_buffers_.push_back(std::move(batch.bytes));
      }
    }
    group.clear();
    if (Clock::now() >= next_retention) {
      apply_retention(wall_us());
      next_retention = Clock::now() + kRetentionInterval;
    }
  }
}

// One group: create new files, write everything, make durable what someone waits for
// (all those files at once, and the directory once if files were created), update the
// index in one transaction, then answer the waiters.
void Recorder::write_group(std::vector<Batch>& group) {
  bool created = false;
  auto stored = index_.batch([&]() -> IndexResult<void> {
    to_sync_.clear();
    for (Batch& batch : group) {
      RecordingFile& file = *batch.file;
      if (!healthy()) continue;
      if (batch.opening) {
        fs::path path = options_.directory / file.start.file;
        auto opened = common::create_new_file(path, 0600, O_APPEND);
        if (!opened) {
          fail("cannot create recording " + path.string() + ": " + opened.error().code.message());
          continue;
        }
        file.fd = *opened;
        created = true;
        if (auto inserted = index_.insert(file.start); !inserted) {
          fail("cannot add session " + file.start.id + " to the index: " + index_.last_error_message());
          continue;
        }
      }
      if (file.fd >= 0 && !write_all(file.fd, batch.bytes)) {
        fail("cannot write recording " + file.start.file + ": " + errno_text(errno));
        continue;
      }
      bool waited_for = batch.waiter || batch.closing;
      if (waited_for && std::find(to_sync_.begin(), to_sync_.end(), &file) == to_sync_.end()) to_sync_.push_back(&file);
    }
    sync_files();
    if (created && healthy()) {
      int dir = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir < 0 || ::fsync(dir) != 0) fail("cannot sync " + options_.directory.string() + ": " + errno_text(errno));
      if (dir >= 0) ::close(dir);
    }
    checkpoint(group);
    return {};
  });
  if (!stored) fail("cannot commit the session index: " + index_.last_error_message());
  for (Batch& batch : group) {
    if (batch.closing && batch.file->fd >= 0) {
      ::close(batch.file->fd);
      batch.file->fd = -1;
    }
  }
  // Last: whoever waits sees the records on disk and the index up to date.
  bool ok = healthy();
  for (Batch& batch : group) {
    if (batch.waiter) batch.waiter->on_durable(ok);
    if (batch.closed) batch.closed(ok);
  }
}

// fdatasync on every file someone waits for, in parallel (parallel_sync.hpp).
void Recorder::sync_files() {
  if (!healthy() || to_sync_.empty()) return;
  sync_fds_.clear();
  for (RecordingFile* file : to_sync_) sync_fds_.push_back(file->fd);
  sync_errors_.assign(sync_fds_.size(), 0);
  syncer_.sync(sync_fds_, sync_errors_);
  for (std::size_t i = 0; i < to_sync_.size(); ++i) {
    if (sync_errors_[i] != 0) fail("cannot sync recording " + to_sync_[i]->start.file + ": " + errno_text(sync_errors_[i]));
  }
}

// The index learns each session's progress when someone waits for it, at a seal, at the
// close, and otherwise at most every kIndexInterval.
void Recorder::checkpoint(std::vector<Batch>& group) {
  auto now = Clock::now();
  for (Batch& batch : group) {
    RecordingFile& file = *batch.file;
    if (file.fd < 0 || !healthy()) continue;
    if (!(batch.closing || batch.waiter || batch.sealed || now - file.last_index_update >= kIndexInterval)) continue;
    struct stat info {};
    if (::fstat(file.fd, &info) == 0) batch.progress.file_size = static_cast<std::uint64_t>(info.st_size);
    batch.progress.chain_head = common::hex_encode(batch.chain_head);
    auto stored = batch.closing ? index_.close(file.start.id, batch.progress, batch.end_us, batch.close_reason)
                                : index_.progress(file.start.id, batch.progress);
    if (!stored) fail("cannot update the session index: " + index_.last_error_message());
    file.last_index_update = now;
  }
}

void Recorder::fail(const std::string& what) {
  if (healthy_.exchange(false)) {
    if (options_.on_failure) options_.on_failure(what);
  }
}

void Recorder::recover() {
  auto open = index_.open_sessions();
  if (!open) throw std::runtime_error("cannot read the session index: " + index_.last_error_message());
  for (const SessionRow& row : *open) {
    auto bytes = read_file(options_.directory / row.start.file);
    VerifyResult verified = verify_recording(bytes, key_, row.start.id);
    std::string detail = "ended abnormally (gateway stopped without closing it); " + verified.reason;
    std::int64_t end = row.start.start_us;
    (void)index_.mark_abnormal(row.start.id, std::max(end, wall_us()), detail);
    (void)index_.set_verification(row.start.id, verified.ok ? Verification::abnormal_end : Verification::failed,
                                  verified.reason);
    if (options_.on_recovered) options_.on_recovered(row.start.id, detail);
  }
}

void Recorder::apply_retention(std::int64_t now_us) {
  if (!options_.retention.max_age_us && !options_.retention.max_total_bytes) return;
  auto rows = index_.all();
  if (!rows) return;
  for (const std::string& id : select_for_deletion(*rows, now_us, options_.retention)) {
    auto row = index_.find(id);
    // The index first: it refuses, in the same transaction, a session held meanwhile.
    if (!row || !index_.remove(id)) continue;
    std::error_code ec;
    fs::remove(options_.directory / row->start.file, ec);
    if (options_.on_expired) options_.on_expired(id);
  }
}

void Recorder::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

}  // namespace conduit::audit
