// The session recorder (issue 5): every session writes one recording file
// (<data_dir>/recordings/<session>.rec, audit/FORMAT.md) and one row in the session index
// (audit/session_index.hpp).
//
// Two sides, two threads:
//  - SessionRecording lives on its session's I/O thread. Encoding, the hash chain and the
//    seals happen there, into the recording's own buffer (no lock, and after warm-up no
//    allocation per record).
//  - The Recorder's writer thread owns every file descriptor and the index connection. A
//    session hands it buffered bytes with flush(); the writer takes everything queued at
//    once, writes it, and with one fdatasync per file per group makes durable what a
//    session is waiting for (group commit). flush_durable()'s callback runs on the writer
//    thread once the bytes are on disk, or failed to get there; the caller posts it back
//    to its own thread.
//
// What must be durable before it happens (a Modbus write reaching a PLC) waits for
// flush_durable; reads are flushed without waiting. If a write or fsync fails (disk full),
// the recorder stops for good (healthy() false, `on_failure` called once): the gateway
// refuses new sessions and writes rather than run unrecorded. A restart recovers.
//
// At start-up, sessions the index still shows as open (the gateway was killed) are
// verified up to their last complete record and marked "ended abnormally". Retention
// (audit/retention.hpp) runs at start-up and hourly.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_key.hpp"
#include "audit/parallel_sync.hpp"
#include "audit/recording.hpp"
#include "audit/retention.hpp"
#include "audit/session_index.hpp"

namespace conduit::audit {

struct RecorderOptions {
  std::filesystem::path directory;  // <data_dir>/recordings
  std::chrono::milliseconds seal_interval{2000};
  RetentionPolicy retention;
  // Called once, on the writer thread, when recording fails (what failed and why).
  std::function<void(const std::string& what)> on_failure;
  // Called on the writer thread for each session found open at start-up and closed as
  // "ended abnormally" (id, verification detail).
  std::function<void(const std::string& id, const std::string& detail)> on_recovered;
  // Called on the writer thread for each session removed by retention.
  std::function<void(const std::string& id)> on_expired;
};

class Recorder;
struct RecordingFile;

// Told, on the writer thread, when records it waits for are durable (ok) or could not be
// made so. Implemented by a session, which keeps itself alive while it waits.
class DurableWaiter {
 public:
  virtual void on_durable(bool ok) = 0;

 protected:
  ~DurableWaiter() = default;
};

// Counters a session keeps for the index (session_close has the same).
struct SessionCounters {
  std::uint64_t bytes_in = 0, bytes_out = 0, requests = 0, denials = 0, writes = 0;
};

class SessionRecording {
 public:
  using Clock = std::chrono::steady_clock;

  ~SessionRecording();
  SessionRecording(const SessionRecording&) = delete;
  SessionRecording& operator=(const SessionRecording&) = delete;

  // False once the recorder has failed: nothing more will be recorded.
  bool healthy() const;

  // Buffers a record. Payloads over 64 KiB are split. Returns false if the recording
  // cannot take it (recorder failed, or the session is already closed).
  bool data(Direction direction, RecordedDecision decision, std::string_view rule, std::string_view summary,
            std::span<const std::uint8_t> payload);
  bool note(std::string_view text);

  // Hands the buffered records to the writer (nothing to wait for). Seals first when the
  // seal interval has passed.
  void flush(const SessionCounters& counters);
  // The same, and `waiter.on_durable(ok)` runs on the writer thread once the records are
  // durable. Allocates nothing beyond the recorder's recycled buffers: this is the path of
  // every Modbus write.
  void flush_durable(const SessionCounters& counters, DurableWaiter& waiter);
  // Bytes buffered and not yet handed over.
  std::size_t buffered() const { return writer_.pending().size(); }

  // Close event, final seal, flush; the writer closes the file and the index row, then
  // calls `done(ok)` (on the writer thread) if given.
  void close(std::string_view reason, const SessionCounters& counters, std::function<void(bool)> done = {});

 private:
  friend class Recorder;
  SessionRecording(Recorder& recorder, std::shared_ptr<RecordingFile> file, RecordingWriter writer);
  void hand_over(const SessionCounters& counters, DurableWaiter* waiter, std::function<void(bool)> closed,
                 bool closing);

  Recorder& recorder_;
  std::shared_ptr<RecordingFile> file_;
  RecordingWriter writer_;
  Clock::time_point last_seal_;
  std::string close_reason_;
  bool closed_ = false;
};

class Recorder {
 public:
  // Threads that sync a group's files in parallel (measured on a 2-core VM: 64 files take
  // 100-200 ms one after another, 3 ms from 8 threads; more threads gained nothing).
  static constexpr unsigned kSyncThreads = 8;

  // Creates the directory (0700), loads or creates the audit key (<data_dir>/audit/
  // audit.key, 0600, and audit.pub), opens the index, recovers sessions left open, applies
  // retention, and starts the writer thread. Throws std::runtime_error naming what failed.
  static std::unique_ptr<Recorder> start(const std::filesystem::path& data_dir, RecorderOptions options);
  ~Recorder();

  // A new recording for an admitted session; thread-safe. The header's session id names
  // the file. Returns null when the recorder has failed.
  std::unique_ptr<SessionRecording> open(const Header& header);

  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  const AuditKey& key() const { return key_; }

  // Writes what is queued, closes every file and joins the writer thread.
  void stop();

 private:
  friend class SessionRecording;
  struct Batch;

  Recorder(RecorderOptions options, AuditKey key, SessionIndex index);
  void submit(Batch batch);
  std::vector<std::uint8_t> take_buffer();
  void run();
  void write_group(std::vector<Batch>& group);
  void sync_files();
  void checkpoint(std::vector<Batch>& group);
  void fail(const std::string& what);
  void recover();
  void apply_retention(std::int64_t now_us);

  RecorderOptions options_;
  AuditKey key_;
  SessionIndex index_;
  std::atomic<bool> healthy_{true};

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Batch> queue_;
  std::vector<std::vector<std::uint8_t>> free_buffers_;
  // Writer thread only: the files of one group to sync, reused from group to group.
  std::vector<RecordingFile*> to_sync_;
  std::vector<int> sync_fds_;
  std::vector<int> sync_errors_;
  ParallelSync syncer_{kSyncThreads};
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace conduit::audit
