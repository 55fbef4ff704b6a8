#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/sys/sys.h"

namespace hashmatch::sys {
namespace {

// One share of a ParallelFor call; taken exactly once, by a pool thread or by the caller.
struct Share {
  const std::function<void(int)>* body = nullptr;
  int worker = 0;
  std::atomic<bool> taken{false};
};

// A ParallelFor call's shares and the count of those still running.
struct Job {
  std::vector<std::unique_ptr<Share>> shares;
  std::mutex mu;
  std::condition_variable done_cv;
  int running = 0;

  void RunShare(Share& share) {
    (*share.body)(share.worker);
    std::lock_guard lock(mu);
    if (--running == 0) done_cv.notify_all();
  }
};

// Threads started on first use and kept for the life of the process (detached: the process may
// exit while they wait).
class Pool {
 public:
  static Pool& Get() {
    static Pool* const pool = new Pool(std::max(1, DefaultThreads() - 1));
    return *pool;
  }

  void Submit(std::shared_ptr<Job> job, Share* share) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back({std::move(job), share});
    }
    cv_.notify_one();
  }

 private:
  struct Task {
    std::shared_ptr<Job> job;
    Share* share;
  };

  explicit Pool(int threads) {
    for (int i = 0; i < threads; ++i) std::thread([this] { Loop(); }).detach();
  }

  void Loop() {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      if (!task.share->taken.exchange(true)) task.job->RunShare(*task.share);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
};

}  // namespace

int DefaultThreads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

void ParallelFor(int workers, const std::function<void(int worker)>& body) {
  if (workers <= 1) {
    body(0);
    return;
  }
  auto job = std::make_shared<Job>();
  job->running = workers - 1;
  for (int w = 1; w < workers; ++w) {
    auto share = std::make_unique<Share>();
    share->body = &body;
    share->worker = w;
    job->shares.push_back(std::move(share));
  }
  for (const auto& share : job->shares) Pool::Get().Submit(job, share.get());
  body(0);
  for (const auto& share : job->shares) {
    if (!share->taken.exchange(true)) job->RunShare(*share);
  }
  std::unique_lock lock(job->mu);
  job->done_cv.wait(lock, [&] { return job->running == 0; });
}

void ParallelForOnNewThreads(int workers, const std::function<void(int worker)>& body) {
  std::vector<std::jthread> threads;
  for (int w = 1; w < workers; ++w) threads.emplace_back([&body, w] { body(w); });
  body(0);
}

void ParallelOrdered(std::size_t n, int threads, const std::function<void(int, std::size_t)>& work,
                     const std::function<void(std::size_t)>& emit) {
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<std::size_t>(n, 1))));
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<char> done(n, 0);
  std::vector<std::jthread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t i = next++; i < n; i = next++) {
        work(t, i);
        {
          std::lock_guard lock(mu);
          done[i] = 1;
        }
        cv.notify_one();
      }
    });
  }
  for (std::size_t i = 0; i < n; ++i) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return done[i] != 0; });
    }
    emit(i);
  }
}

}  // namespace hashmatch::sys
