#pragma once
#include <exception>
#include <functional>

namespace tirai::store {
class Store;
}

namespace tirai::relay {

// Where the relay sends its storage work. `job` runs on the store's
// own thread inside a group transaction; `done` runs back on the relay thread
// after that transaction committed (or with the exception that rolled the job
// back). Jobs run, and dones are called, in submission order. A runner keeps
// each done until its job has run, so a job may use what its done owns.
class StoreRunner {
 public:
  using Job = std::function<void(store::Store&)>;
  using Done = std::function<void(std::exception_ptr)>;
  virtual ~StoreRunner() = default;
  virtual void submit(Job job, Done done) = 0;
};

// Runs CPU-heavy work (Argon2id) away from the relay thread; `done` comes back
// on the relay thread.
class Worker {
 public:
  virtual ~Worker() = default;
  virtual void run(std::function<void()> work, std::function<void()> done) = 0;
};

}  // namespace tirai::relay
