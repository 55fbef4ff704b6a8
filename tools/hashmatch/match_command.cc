// `hashmatch match`: asks hashmatchd whether files are known. By default the files are hashed
// here (engine/describe) and only their hashes are sent.
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/describe/describe.h"
#include "engine/sys/sys.h"
#include "hashmatch/v1/match.grpc.pb.h"
#include "tools/cli/client.h"
#include "tools/hashmatch/commands.h"

namespace hashmatch::client {

using cli::AddConnectFlags;
using cli::ConnectFlags;
using cli::DescribeRpcError;
using cli::MakeContext;
using sys::DefaultThreads;
using sys::ListInputFiles;
using sys::ParallelOrdered;
using sys::ReadFileBounded;

namespace {

constexpr int kDeadlineSeconds = 60;
constexpr int kVideoDeadlineSeconds = 600;
constexpr std::size_t kFilesPerCall = 2'500;  // 4 hashes each: the server's 10 000 batch limit

struct MatchFlags {
  std::vector<std::string> paths;
  ConnectFlags connect;
  bool send_media = false;
  int threads = DefaultThreads();
};

std::string Describe(const v1::Match& m) {
  if (m.descriptor_id() == 0)
    return absl::StrCat("category=", m.category(), " ref=", m.match_ref());
  const std::string signal = v1::Signal_Name(m.signal());  // "SIGNAL_PDQ" -> "PDQ"
  return absl::StrCat("id=", m.descriptor_id(), " signal=", signal.substr(signal.find('_') + 1),
                      " distance=", m.distance(), " category=", m.category());
}

// One output line; returns whether it matched.
bool PrintResult(const std::string& path,
                 const google::protobuf::RepeatedPtrField<v1::Match>& matches) {
  std::vector<std::string> what;
  std::set<std::string> seen;  // a file matching by PDQ and digests names its descriptor once
  for (const v1::Match& m : matches) {
    if (seen.insert(m.match_ref()).second) what.push_back(Describe(m));
  }
  if (what.empty()) {
    std::printf("%s\tno-match\n", path.c_str());
    return false;
  }
  std::printf("%s\tmatch\t%s\n", path.c_str(), absl::StrJoin(what, "; ").c_str());
  return true;
}

v1::HashValue Hash(v1::Signal signal, const auto& value) {
  v1::HashValue h;
  h.set_signal(signal);
  h.set_raw(std::string(value.AsChars()));
  return h;
}

bool FailRpc(const grpc::Status& status) {
  std::fprintf(stderr, "hashmatch match: %s\n", DescribeRpcError(status).c_str());
  return false;
}

// Whether a file is a video, from its first bytes (the container's magic).
bool IsVideoFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  std::uint8_t head[3 * 188];
  const std::size_t n = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  return describe::LooksLikeVideo(std::span(head, n));
}

std::string Ranges(const google::protobuf::RepeatedPtrField<v1::TimeRange>& ranges, bool known) {
  std::vector<std::string> out;
  for (const v1::TimeRange& r : ranges) {
    std::string one = absl::StrFormat("%.1f-%.1fs", r.query_start_seconds(), r.query_end_seconds());
    if (known) {
      absl::StrAppendFormat(&one, "~%.1f-%.1fs", r.known_start_seconds(), r.known_end_seconds());
    }
    out.push_back(one);
  }
  return absl::StrJoin(out, ",");
}

// One output line for a video: known videos (percentages, query~known time ranges), known images
// seen in it (when), exact file matches; returns whether anything matched.
bool PrintVideoResult(const std::string& path, const v1::MatchVideoResponse& r) {
  std::vector<std::string> what;
  std::set<std::string> seen;
  for (const v1::VideoMatch& v : r.videos()) {
    seen.insert(v.match().match_ref());
    what.push_back(absl::StrFormat("%s video query=%.0f%% known=%.0f%% at=%s", Describe(v.match()),
                                   v.query_match_percent(), v.known_match_percent(),
                                   Ranges(v.ranges(), true)));
  }
  for (const v1::ImageInVideo& i : r.images()) {
    seen.insert(i.match().match_ref());
    what.push_back(absl::StrCat(Describe(i.match()), " image at=", Ranges(i.ranges(), false)));
  }
  for (const v1::Match& m : r.matches()) {
    if (seen.insert(m.match_ref()).second) what.push_back(Describe(m) + " file");
  }
  if (what.empty()) {
    std::printf("%s\tno-match\n", path.c_str());
    return false;
  }
  std::printf("%s\tmatch\t%s\n", path.c_str(), absl::StrJoin(what, "; ").c_str());
  return true;
}

// Sends one video to MatchVideo: its bytes (send_media) or the frame hashes and digests computed
// here. The file is read whole: videos up to the local limit (1 GiB).
absl::StatusOr<v1::MatchVideoResponse> MatchOneVideo(v1::MatchService::Stub& stub,
                                                     const cli::Connection& connection,
                                                     const std::string& path, bool send_media,
                                                     describe::Describer& describer) {
  HM_ASSIGN_OR_RETURN(const std::vector<std::uint8_t> bytes,
                      ReadFileBounded(path, describer.options().video_limits.max_bytes));
  std::vector<v1::MatchVideoChunk> chunks(1);
  v1::VideoHeader* header = chunks[0].mutable_header();
  if (send_media) {
    header->set_size_bytes(static_cast<std::int64_t>(bytes.size()));
    constexpr std::size_t kChunk = 1 << 20;
    for (std::size_t at = 0; at < bytes.size(); at += kChunk) {
      const std::size_t n = std::min(kChunk, bytes.size() - at);
      chunks.emplace_back().set_data(reinterpret_cast<const char*>(bytes.data() + at), n);
    }
  } else {
    HM_ASSIGN_OR_RETURN(const describe::Descriptors described,
                        describer.Describe(bytes, describe::MediaKind::kVideo));
    const auto& d = std::get<describe::VideoDescriptors>(described);
    *header->add_digests() = Hash(v1::SIGNAL_MD5, d.digests.md5);
    *header->add_digests() = Hash(v1::SIGNAL_SHA1, d.digests.sha1);
    *header->add_digests() = Hash(v1::SIGNAL_SHA256, d.digests.sha256);
    constexpr std::size_t kFramesPerMessage = 10'000;
    for (std::size_t i = 0; i < d.frames.size(); ++i) {
      if (i % kFramesPerMessage == 0) chunks.emplace_back();
      v1::FrameHash* f = chunks.back().mutable_frames()->add_frames();
      f->set_frame_number(d.frames[i].number);
      f->set_timestamp_seconds(d.frames[i].timestamp_seconds);
      f->set_quality(d.frames[i].pdq.quality);
      f->set_pdq(Hash(v1::SIGNAL_PDQ, d.frames[i].pdq.hash).raw());
    }
  }
  std::unique_ptr<grpc::ClientContext> context =
      MakeContext(connection.key(), kVideoDeadlineSeconds);
  v1::MatchVideoResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::MatchVideoChunk>> writer =
      stub.MatchVideo(context.get(), &response);
  for (const v1::MatchVideoChunk& chunk : chunks) {
    if (!writer->Write(chunk)) break;  // the server answered early: Finish says why
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    return absl::InvalidArgumentError(status.error_message());
  }
  if (!status.ok()) return absl::UnavailableError(DescribeRpcError(status));
  return response;
}

using FailFile = std::function<void(const std::string&, const absl::Status&)>;

// --send-media for images: one MatchMedia per file. False after an RPC failure (reported).
bool MatchImageFiles(v1::MatchService::Stub& stub, const cli::Connection& connection,
                     const std::vector<std::string>& files, const FailFile& fail_file,
                     bool* any_match) {
  for (const std::string& path : files) {
    absl::StatusOr<std::vector<std::uint8_t>> bytes =
        ReadFileBounded(path, media::ImageLimits{}.max_bytes);
    if (!bytes.ok()) {
      fail_file(path, bytes.status());
      continue;
    }
    v1::MatchMediaRequest request;
    request.set_media(std::string(bytes->begin(), bytes->end()));
    v1::MatchMediaResponse response;
    const grpc::Status status = connection.Call(stub, &v1::MatchService::Stub::MatchMedia, request,
                                                &response, kDeadlineSeconds);
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      fail_file(path, absl::InvalidArgumentError(status.error_message()));
      continue;
    }
    if (!status.ok()) return FailRpc(status);
    *any_match |= PrintResult(path, response.matches());
  }
  return true;
}

// Images hashed here (all cores), then one MatchHashes for the batch; printed in input order.
bool MatchImageHashes(v1::MatchService::Stub& stub, const cli::Connection& connection,
                      const std::vector<std::string>& files,
                      const std::vector<std::unique_ptr<describe::Describer>>& describers,
                      const FailFile& fail_file, bool* any_match) {
  const int threads = static_cast<int>(describers.size());
  std::vector<absl::StatusOr<describe::ImageDescriptors>> hashed(files.size(),
                                                                 absl::UnknownError("not hashed"));
  ParallelOrdered(
      files.size(), threads,
      [&](int thread, std::size_t i) {
        absl::StatusOr<describe::Descriptors> d =
            describers[thread]->DescribeFile(files[i], describe::MediaKind::kImage);
        if (d.ok()) {
          hashed[i] = std::get<describe::ImageDescriptors>(*std::move(d));
        } else {
          hashed[i] = d.status();
        }
      },
      [](std::size_t) {});
  v1::MatchHashesRequest request;
  std::vector<std::size_t> first_item(hashed.size(), 0);
  for (std::size_t i = 0; i < hashed.size(); ++i) {
    first_item[i] = static_cast<std::size_t>(request.hashes_size());
    if (!hashed[i].ok()) continue;
    v1::HashValue pdq = Hash(v1::SIGNAL_PDQ, hashed[i]->pdq.hash);
    pdq.set_quality(hashed[i]->pdq.quality);
    *request.add_hashes() = pdq;
    *request.add_hashes() = Hash(v1::SIGNAL_MD5, hashed[i]->digests.md5);
    *request.add_hashes() = Hash(v1::SIGNAL_SHA1, hashed[i]->digests.sha1);
    *request.add_hashes() = Hash(v1::SIGNAL_SHA256, hashed[i]->digests.sha256);
  }
  v1::MatchHashesResponse response;
  if (request.hashes_size() > 0) {
    const grpc::Status status = connection.Call(stub, &v1::MatchService::Stub::MatchHashes, request,
                                                &response, kDeadlineSeconds);
    if (!status.ok()) return FailRpc(status);
  }
  for (std::size_t i = 0; i < hashed.size(); ++i) {
    if (!hashed[i].ok()) {
      fail_file(files[i], hashed[i].status());
      continue;
    }
    google::protobuf::RepeatedPtrField<v1::Match> matches;
    for (std::size_t k = first_item[i]; k < first_item[i] + 4; ++k) {
      const v1::HashResult& r = response.results(static_cast<int>(k));
      if (r.has_error()) fail_file(files[i], absl::InvalidArgumentError(r.error().message()));
      for (const v1::Match& m : r.matches()) *matches.Add() = m;
    }
    *any_match |= PrintResult(files[i], matches);
  }
  return true;
}

int RunMatch(const MatchFlags& flags) {
  absl::StatusOr<std::vector<std::string>> files = ListInputFiles(flags.paths);
  absl::StatusOr<cli::Connection> connection = cli::Connection::Open(flags.connect);
  for (const absl::Status& s : {files.status(), connection.status()}) {
    if (!s.ok()) {
      std::fprintf(stderr, "hashmatch match: %s\n", std::string(s.message()).c_str());
      return cli::kExitError;
    }
  }
  auto stub = v1::MatchService::NewStub(connection->channel());
  bool any_match = false, any_error = false;
  const auto fail_file = [&](const std::string& path, const absl::Status& status) {
    any_error = true;
    const std::string message(status.message());
    std::fprintf(stderr, "hashmatch match: %s%s%s\n",
                 message.rfind(path + ":", 0) == 0 ? "" : path.c_str(),
                 message.rfind(path + ":", 0) == 0 ? "" : ": ", message.c_str());
  };

  // Videos go one by one through MatchVideo; the images between them in batches.
  describe::Describer video_describer;
  std::vector<std::unique_ptr<describe::Describer>> describers;
  for (int t = 0; t < flags.threads; ++t) {
    describers.push_back(std::make_unique<describe::Describer>());
  }
  std::vector<std::string> images;
  const auto match_images = [&]() -> bool {
    const bool ok =
        flags.send_media
            ? MatchImageFiles(*stub, *connection, images, fail_file, &any_match)
            : MatchImageHashes(*stub, *connection, images, describers, fail_file, &any_match);
    images.clear();
    return ok;
  };
  for (const std::string& path : *files) {
    if (!IsVideoFile(path)) {
      images.push_back(path);
      if (images.size() == kFilesPerCall && !match_images()) return cli::kExitError;
      continue;
    }
    if (!images.empty() && !match_images()) return cli::kExitError;
    absl::StatusOr<v1::MatchVideoResponse> r =
        MatchOneVideo(*stub, *connection, path, flags.send_media, video_describer);
    if (absl::IsUnavailable(r.status())) {
      std::fprintf(stderr, "hashmatch match: %s\n", std::string(r.status().message()).c_str());
      return cli::kExitError;
    }
    if (!r.ok()) {
      fail_file(path, r.status());
      continue;
    }
    any_match |= PrintVideoResult(path, *r);
  }
  if (!images.empty() && !match_images()) return cli::kExitError;
  std::fflush(stdout);
  return any_error ? cli::kExitError : any_match ? cli::kExitOk : cli::kExitNo;
}

}  // namespace

void AddMatchCommand(CLI::App& app, int* exit_code) {
  auto match = std::make_shared<MatchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "match",
      "Ask hashmatchd whether image and video files are known. By default the files are hashed "
      "here and only their hashes are sent (images: PDQ, MD5, SHA-1, SHA-256; videos: one PDQ "
      "per second with timestamps, and the file digests); --send-media sends the bytes.\n\n"
      "One line per file: path, then 'match' and what matched (a platform key sees the category "
      "and a match reference; ict and police keys also see the descriptor id, signal and "
      "distance), or 'no-match'. For a video, each known video is followed by 'video "
      "query=P% known=P% at=Q0-Q1s~K0-K1s,...' (share of this video's distinct frames found in "
      "the known one, the reverse, and the matching time ranges of this video ~ the known one), "
      "each known image seen in it by 'image at=T0-T1s,...', and a known file by 'file'.\n"
      "Exit status like grep: 0 when anything matched, 1 when nothing did, 2 on any error (the "
      "gRPC status and message on stderr).");
  cmd->add_option("paths", match->paths, "Image or video files, or folders (searched recursively)")
      ->required();
  AddConnectFlags(cmd, &match->connect, "platform");
  cmd->add_flag("--send-media", match->send_media,
                "Send the file bytes (the server hashes them in memory and discards them)");
  cmd->add_option("--threads", match->threads, "Files hashed in parallel (default: all cores)")
      ->check(CLI::Range(1, 256));
  cmd->callback([match, exit_code] { *exit_code = RunMatch(*match); });
}

}  // namespace hashmatch::client
