#include "engine/describe/describe.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/sys/sys.h"

namespace hashmatch::describe {
namespace {

// Hashes the sampled frames as engine/media hands them over (on its frame thread).
class VpdqSink final : public media::VideoSink {
 public:
  VpdqSink(hash::PdqHasher* hasher, double seconds_per_hash, VideoDescriptors* out)
      : hasher_(hasher), seconds_per_hash_(seconds_per_hash), out_(out) {}

  absl::Status Start(const media::VideoInfo& info) override {
    out_->info = info;
    out_->frames.clear();  // decoding restarted
    frame_mod_ = hash::VpdqFrameMod(info.frame_rate, seconds_per_hash_);
    return absl::OkStatus();
  }
  bool Wants(std::int64_t number) override { return number % frame_mod_ == 0; }
  absl::Status Frame(const media::VideoFrame& f) override {
    const hash::PixelView pixels{f.rgb, f.height,     f.width,
                                 3,     f.row_stride, hash::ChannelOrder::kRgb};
    HM_ASSIGN_OR_RETURN(const hash::PdqHash pdq, hasher_->Hash(pixels));
    out_->frames.push_back({f.number, static_cast<double>(f.number) / out_->info.frame_rate, pdq});
    return absl::OkStatus();
  }

 private:
  hash::PdqHasher* hasher_;
  double seconds_per_hash_;
  VideoDescriptors* out_;
  std::int64_t frame_mod_ = 1;
};

void AppendDigests(const hash::Digests& d, std::vector<DescriptorValue>* out) {
  out->push_back({Signal::kMd5, std::string(d.md5.AsChars()), -1});
  out->push_back({Signal::kSha1, std::string(d.sha1.AsChars()), -1});
  out->push_back({Signal::kSha256, std::string(d.sha256.AsChars()), -1});
}

}  // namespace

Describer::Describer(DescribeOptions options)
    : options_(options), video_pdq_(hash::kVpdqPdqOptions) {}

bool LooksLikeVideo(std::span<const std::uint8_t> bytes) { return media::ProbeVideo(bytes).ok(); }

absl::StatusOr<Descriptors> Describer::Describe(std::span<const std::uint8_t> bytes,
                                                MediaKind accept) {
  const bool video = LooksLikeVideo(bytes);
  if (video && accept == MediaKind::kImage) {
    return absl::InvalidArgumentError(
        "image: the bytes are a video, not an image (send videos with MatchVideo)");
  }
  if (video) return DescribeVideo(bytes);
  if (accept == MediaKind::kVideo) {
    // Say what the bytes are when they are an image (from the header alone: this is an error
    // path, and the caller's image limits may not be the server's); else the video prober's
    // own reason.
    if (media::ProbeImage(bytes).ok()) {
      return absl::InvalidArgumentError(
          "video: the bytes are an image, not a video (send images with MatchMedia)");
    }
    return media::ProbeVideo(bytes).status();
  }
  return DescribeImage(bytes);
}

absl::StatusOr<Descriptors> Describer::DescribeFile(const std::string& path, MediaKind accept) {
  const std::size_t bound =
      std::max(options_.image_limits.max_bytes, options_.video_limits.max_bytes);
  HM_ASSIGN_OR_RETURN(const std::vector<std::uint8_t> bytes, sys::ReadFileBounded(path, bound));
  return Describe(bytes, accept);
}

absl::StatusOr<ImageDescriptors> Describer::DescribeImage(std::span<const std::uint8_t> bytes) {
  HM_ASSIGN_OR_RETURN(const media::Image image, media::DecodeImage(bytes, options_.image_limits));
  const hash::PixelView pixels{image.bgr(),      image.height(),     image.width(),
                               image.channels(), image.row_stride(), hash::ChannelOrder::kBgr};
  ImageDescriptors out;
  out.format = image.format();
  out.width = image.width();
  out.height = image.height();
  if (options_.dihedral) {
    HM_ASSIGN_OR_RETURN(out.dihedral, image_pdq_.HashDihedral(pixels));
    out.pdq = {out.dihedral->hashes[0], out.dihedral->quality};
  } else {
    HM_ASSIGN_OR_RETURN(out.pdq, image_pdq_.Hash(pixels));
  }
  if (options_.trim_borders) {
    const BorderResult borders = FindContent(pixels, options_.borders);
    if (borders.kind == BorderResult::Kind::kTrimmed) {
      TrimmedContent& trimmed = out.trimmed.emplace();
      trimmed.box = borders.box;
      const hash::PixelView content = Crop(pixels, borders.box);
      if (options_.dihedral) {
        HM_ASSIGN_OR_RETURN(trimmed.dihedral, image_pdq_.HashDihedral(content));
        trimmed.pdq = {trimmed.dihedral->hashes[0], trimmed.dihedral->quality};
      } else {
        HM_ASSIGN_OR_RETURN(trimmed.pdq, image_pdq_.Hash(content));
      }
    }
  }
  HM_ASSIGN_OR_RETURN(out.digests, hash::ComputeDigests(bytes));
  return out;
}

absl::StatusOr<VideoDescriptors> Describer::DescribeVideo(std::span<const std::uint8_t> bytes) {
  VideoDescriptors out;
  // The digests on a thread of their own, in the time the decoder's threads leave idle.
  absl::StatusOr<hash::Digests> digests;
  std::jthread digest_thread([&] { digests = hash::ComputeDigests(bytes); });
  VpdqSink sink(&video_pdq_, options_.seconds_per_hash, &out);
  const absl::StatusOr<std::int64_t> decoded =
      media::DecodeVideo(bytes, options_.video_limits, sink);
  digest_thread.join();
  if (!decoded.ok()) return decoded.status();
  if (!digests.ok()) return digests.status();
  out.decoded_frames = *decoded;
  out.digests = *digests;
  return out;
}

std::vector<VpdqFeature> Features(const VideoDescriptors& video) {
  std::vector<VpdqFeature> out;
  out.reserve(video.frames.size());
  for (const hash::VpdqFrame& f : video.frames) {
    out.push_back({f.pdq.hash, f.pdq.quality,
                   static_cast<std::uint32_t>(std::llround(f.timestamp_seconds * 1000))});
  }
  return out;
}

std::vector<DescriptorValue> Values(const Descriptors& descriptors) {
  std::vector<DescriptorValue> out;
  if (const auto* image = std::get_if<ImageDescriptors>(&descriptors)) {
    out.push_back({Signal::kPdq, std::string(image->pdq.hash.AsChars()), image->pdq.quality});
    AppendDigests(image->digests, &out);
    return out;
  }
  const auto& video = std::get<VideoDescriptors>(descriptors);
  if (!video.frames.empty()) out.push_back({Signal::kVpdq, EncodeVpdq(Features(video)), -1});
  AppendDigests(video.digests, &out);
  return out;
}

}  // namespace hashmatch::describe
