// MatchVideo: read the stream (header, then file chunks or frame hashes) within the limits, hash
// the file in memory when one was sent, then look up the file digests, every distinct good frame
// against the image index, and the frames as a whole against the stored videos.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "engine/describe/describe.h"
#include "engine/server/internal/services_impl.h"

namespace hashmatch::server {
namespace {

using index::DescriptorId;

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}
grpc::Status TooLarge(const std::string& message) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, message);
}

// What the client sent: the header and either the file or its frames.
struct VideoQuery {
  v1::VideoHeader header;
  std::string file;  // in memory only, never written anywhere
  std::vector<VpdqFeature> frames;
  bool hash_only = false;
};

grpc::Status AppendFrames(const v1::FrameHashes& in, int max_frames, VideoQuery* q) {
  for (const v1::FrameHash& f : in.frames()) {
    const std::string where = absl::StrCat("frames[", q->frames.size(), "]");
    if (static_cast<int>(q->frames.size()) >= max_frames) {
      return TooLarge(absl::StrCat("frames: more than the limit of ", max_frames));
    }
    if (f.pdq().size() != 32) {
      return Invalid(absl::StrCat(where, ".pdq: ", f.pdq().size(), " bytes, PDQ needs 32"));
    }
    if (f.quality() < 0 || f.quality() > 100) {
      return Invalid(absl::StrCat(where, ".quality: ", f.quality(), " is outside 0..100"));
    }
    const double ms = f.timestamp_seconds() * 1000;
    if (!(ms >= 0 && ms <= 4e9)) {  // also refuses NaN
      return Invalid(absl::StrCat(where, ".timestamp_seconds: ", f.timestamp_seconds(),
                                  " is outside 0..4000000"));
    }
    VpdqFeature& out = q->frames.emplace_back();
    std::copy(f.pdq().begin(), f.pdq().end(), out.pdq.bytes.begin());
    out.quality = f.quality();
    out.timestamp_ms = static_cast<std::uint32_t>(std::llround(ms));
    if (q->frames.size() > 1 && out.timestamp_ms < q->frames[q->frames.size() - 2].timestamp_ms) {
      return Invalid(absl::StrCat(where, ".timestamp_seconds: goes back in time"));
    }
  }
  return grpc::Status::OK;
}

grpc::Status ReadQuery(grpc::ServerReader<v1::MatchVideoChunk>* reader, const ServiceLimits& limits,
                       VideoQuery* q) {
  v1::MatchVideoChunk chunk;
  if (!reader->Read(&chunk) || !chunk.has_header()) {
    return Invalid("the first message must be the header");
  }
  q->header = chunk.header();
  if (q->header.size_bytes() > static_cast<std::int64_t>(limits.max_video_bytes)) {
    return TooLarge(absl::StrCat("header.size_bytes: ", q->header.size_bytes(),
                                 " exceeds the video limit of ", limits.max_video_bytes, " bytes"));
  }
  bool data = false;
  for (int i = 1; reader->Read(&chunk); ++i) {
    const std::string where = absl::StrCat("message ", i);
    if (chunk.has_header()) return Invalid(where + ": a second header");
    if (chunk.part_case() == v1::MatchVideoChunk::kData) {
      if (q->hash_only) return Invalid(where + ": file data after frame hashes");
      data = true;
      if (q->file.size() + chunk.data().size() > limits.max_video_bytes) {
        return TooLarge(
            absl::StrCat("data: more than the video limit of ", limits.max_video_bytes, " bytes"));
      }
      q->file += chunk.data();
    } else if (chunk.has_frames()) {
      if (data) return Invalid(where + ": frame hashes after file data");
      q->hash_only = true;
      if (grpc::Status s = AppendFrames(chunk.frames(), limits.max_video_frames, q); !s.ok()) {
        return s;
      }
    }
  }
  if (!data && !q->hash_only) return Invalid("neither file data nor frame hashes were sent");
  if (data && q->header.digests_size() > 0) {
    return Invalid("header.digests: only for hash-only submissions (the server hashes the file)");
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status Services::Impl::RunVideo(Call& call, grpc::ServerReader<v1::MatchVideoChunk>* reader,
                                      v1::MatchVideoResponse* response) {
  VideoQuery q;
  if (grpc::Status s = ReadQuery(reader, limits, &q); !s.ok()) return s;
  // Decoding takes longer than a lookup: the video limit runs from the end of the upload.
  RestartDeadline(&call, limits.max_video_seconds);
  absl::StatusOr<index::MatchOptions> options = Options(call, q.header.options());
  if (!options.ok()) return ToGrpc(options.status());
  index::VideoMatchOptions video_options;
  video_options.match = *options;
  if (q.header.has_video_threshold_percent()) {
    const double t = q.header.video_threshold_percent();
    if (!(t >= 1 && t <= 100)) {
      return Invalid(absl::StrCat("header.video_threshold_percent: ", t, " is outside 1..100"));
    }
    video_options.query_threshold_percent = t;
  }

  std::vector<absl::StatusOr<ParsedHash>> digests;
  for (int i = 0; i < q.header.digests_size(); ++i) {
    absl::StatusOr<ParsedHash> h =
        ParseHash(q.header.digests(i), absl::StrCat("header.digests[", i, "]"));
    if (h.ok() && (h->signal == Signal::kPdq || h->signal == Signal::kVpdq ||
                   h->signal == Signal::kPhotoDna)) {
      return Invalid(absl::StrCat("header.digests[", i, "].signal: ", SignalName(h->signal),
                                  " is not a file digest"));
    }
    if (!h.ok()) return ToGrpc(h.status());
    digests.push_back(*std::move(h));
  }
  if (!q.hash_only) {
    // Decoding holds the file and a few frames: bound how many run at once.
    VideoSlot slot(this);
    if (!slot.acquired()) {
      return TooLarge(absl::StrCat("the server is decoding ", limits.max_concurrent_videos,
                                   " videos already (--max-concurrent-videos); retry later"));
    }
    media::VideoLimits video_limits;
    video_limits.max_bytes = limits.max_video_bytes;
    video_limits.max_decode_seconds = std::max(
        0.0,
        std::chrono::duration<double>(call.deadline - std::chrono::system_clock::now()).count());
    describe::DescribeOptions describe_options;
    describe_options.video_limits = video_limits;
    describe::Describer describer(describe_options);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(q.file.data());
    absl::StatusOr<describe::Descriptors> described =
        describer.Describe(std::span(bytes, q.file.size()), describe::MediaKind::kVideo);
    if (absl::IsDeadlineExceeded(described.status())) {
      // The decode ran into the call's deadline: say whose (the client's or --max-video-seconds).
      if (grpc::Status s = CheckDeadline(call); !s.ok()) return s;
      return ToGrpc(described.status());
    }
    if (!described.ok()) return ToGrpc(described.status());
    const auto* d = &std::get<describe::VideoDescriptors>(*described);
    v1::ComputedVideo* c = response->mutable_computed();
    c->set_container(media::ContainerName(d->info.container));
    c->set_codec(d->info.codec);
    c->set_width(d->info.width);
    c->set_height(d->info.height);
    c->set_frames_decoded(d->decoded_frames);
    c->set_frames_hashed(static_cast<int>(d->frames.size()));
    c->set_md5(std::string(d->digests.md5.AsChars()));
    c->set_sha1(std::string(d->digests.sha1.AsChars()));
    c->set_sha256(std::string(d->digests.sha256.AsChars()));
    digests = {ParsedHash{Signal::kSha256, c->sha256(), std::nullopt},
               ParsedHash{Signal::kSha1, c->sha1(), std::nullopt},
               ParsedHash{Signal::kMd5, c->md5(), std::nullopt}};
    q.frames = describe::Features(*d);
    std::string().swap(q.file);  // the media is gone before any lookup
  }
  if (grpc::Status s = CheckDeadline(call); !s.ok()) return s;
  index::Matcher* m = Matcher();
  if (m == nullptr)
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the index is still loading");

  // Every distinct image or video descriptor once in `matches`, closest first.
  std::map<DescriptorId, std::pair<index::Match, Signal>> all;
  const auto note = [&](const index::Match& match, Signal signal) {
    auto [it, inserted] = all.try_emplace(match.id, match, signal);
    if (!inserted && match.distance < it->second.first.distance) it->second.first = match;
  };

  // The file's digests first (exact, distance 0); Lookup fills them for the caller's role.
  google::protobuf::RepeatedPtrField<v1::HashResult> digest_results;
  if (grpc::Status s = Lookup(&call, digests, *options, &digest_results); !s.ok()) return s;
  for (const v1::HashResult& r : digest_results) {
    for (const v1::Match& match : r.matches()) *response->add_matches() = match;
  }

  // Known images in the video.
  absl::StatusOr<index::ImagesInVideo> images = m->MatchImagesInVideo(q.frames, *options);
  if (!images.ok()) return ToGrpc(images.status());
  response->set_frames(static_cast<int>(q.frames.size()));
  response->set_distinct_good_frames(images->distinct_good_frames);
  for (const index::ImageInVideo& image : images->images) {
    v1::ImageInVideo* out = response->add_images();
    FillMatch(call, image.match, Signal::kPdq, out->mutable_match());
    for (const index::TimeRange& r : image.ranges) {
      v1::TimeRange* range = out->add_ranges();
      range->set_query_start_seconds(r.query_start);
      range->set_query_end_seconds(r.query_end);
    }
    note(image.match, Signal::kPdq);
  }

  // Known videos.
  absl::StatusOr<std::vector<index::VideoMatch>> videos = m->MatchVideo(q.frames, video_options);
  if (!videos.ok()) return ToGrpc(videos.status());
  for (const index::VideoMatch& v : *videos) {
    v1::VideoMatch* out = response->add_videos();
    FillMatch(call, v.match, Signal::kVpdq, out->mutable_match());
    out->set_query_match_percent(v.query_percent);
    out->set_known_match_percent(v.stored_percent);
    for (const index::TimeRange& r : v.ranges) FillRange(r, out->add_ranges());
    note(v.match, Signal::kVpdq);
  }
  std::vector<std::pair<index::Match, Signal>> ordered;
  for (const auto& [id, entry] : all) ordered.push_back(entry);
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.distance, a.first.id) < std::tie(b.first.distance, b.first.id);
  });
  for (const auto& [match, signal] : ordered) {
    FillMatch(call, match, signal, response->add_matches());
    call.descriptor_ids.push_back(match.id);
  }
  call.items = static_cast<int>(q.frames.size());
  metrics.RecordLookups(static_cast<std::int64_t>(images->distinct_good_frames),
                        static_cast<std::int64_t>(ordered.size()));
  response->set_matched(response->matches_size() > 0);
  return CheckDeadline(call);
}

}  // namespace hashmatch::server
