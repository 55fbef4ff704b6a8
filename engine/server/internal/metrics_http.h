// engine/server/internal/metrics_http: hashmatchd --metrics-listen. Prometheus text on
// GET /metrics, plus /livez and /readyz for orchestrators that probe over HTTP (cpp-httplib on a
// thread of its own). Plain HTTP: it shows counts and latencies, never keys, hashes or case data.
// Internal to engine/server. Construct and destroy from one thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/server/service.h"

namespace hashmatch::server {

class MetricsEndpoint {
 public:
  // Binds `address` (HOST:PORT; [v6]:PORT; port 0 picks a free one) and serves until destroyed.
  // InvalidArgument for a malformed address, Unavailable when it cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& address, const Services* services);
  ~MetricsEndpoint();
  int port() const;  // the port bound (the one asked for, or the one chosen for port 0)

  struct Impl;

 private:
  explicit MetricsEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hashmatch::server
