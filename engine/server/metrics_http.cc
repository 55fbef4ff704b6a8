#include "engine/server/internal/metrics_http.h"

#include <httplib.h>

#include <charconv>
#include <thread>

namespace hashmatch::server {

struct MetricsEndpoint::Impl {
  httplib::Server server;
  std::thread thread;
  int port = -1;
};

int MetricsEndpoint::port() const { return impl_->port; }

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& address,
                                                                        const Services* services) {
  const auto colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = -1;
  if (colon != std::string::npos) {
    const char* begin = address.data() + colon + 1;
    const char* end = address.data() + address.size();
    if (std::from_chars(begin, end, port).ptr != end) port = -1;
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError("--metrics-listen " + address + ": expected HOST:PORT");
  }
  auto impl = std::make_unique<Impl>();
  impl->server.Get("/metrics", [services](const httplib::Request&, httplib::Response& response) {
    response.set_content(services->PrometheusMetrics(), "text/plain; version=0.0.4");
  });
  impl->server.Get("/livez", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain");
  });
  impl->server.Get("/readyz", [services](const httplib::Request&, httplib::Response& response) {
    const bool ready = services->ready();
    response.status = ready ? 200 : 503;
    response.set_content(ready ? "ready\n" : "loading the index\n", "text/plain");
  });
  // Port 0: any free port (tests), reported by port().
  impl->port = port == 0 ? impl->server.bind_to_any_port(host)
                         : (impl->server.bind_to_port(host, port) ? port : -1);
  if (impl->port <= 0) {
    return absl::UnavailableError("--metrics-listen: cannot listen on " + address);
  }
  impl->thread = std::thread([server = &impl->server] { server->listen_after_bind(); });
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(impl)));
}

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsEndpoint::~MetricsEndpoint() {
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace hashmatch::server
