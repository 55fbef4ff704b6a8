#include "tools/common/local_hash.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"

namespace hashmatch::tools {
namespace fs = std::filesystem;

absl::StatusOr<std::vector<std::string>> ListInputFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file or folder"));
    }
    if (!fs::is_directory(status)) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file(ec)) found.push_back(it->path().string());
    }
    if (ec) return absl::UnavailableError(absl::StrCat(path, ": cannot list: ", ec.message()));
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

absl::StatusOr<std::vector<std::uint8_t>> ReadFileBounded(const std::string& path,
                                                          std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  const std::streamoff size = in.tellg();
  if (size < 0) return absl::UnavailableError(absl::StrCat(path, ": cannot read size"));
  if (static_cast<std::uint64_t>(size) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", size, " bytes, over the limit of ", max_bytes, " bytes"));
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    return absl::UnavailableError(absl::StrCat(path, ": read failed"));
  }
  return bytes;
}

absl::StatusOr<ImageDescriptors> LocalHasher::HashImage(std::span<const std::uint8_t> bytes,
                                                        bool dihedral) {
  HM_ASSIGN_OR_RETURN(const media::Image image, media::DecodeImage(bytes, limits_));
  const hash::PixelView pixels{image.bgr(),      image.height(),     image.width(),
                               image.channels(), image.row_stride(), hash::ChannelOrder::kBgr};
  ImageDescriptors out;
  out.format = image.format();
  out.width = image.width();
  out.height = image.height();
  if (dihedral) {
    HM_ASSIGN_OR_RETURN(out.dihedral, pdq_.HashDihedral(pixels));
    out.pdq = {out.dihedral->hashes[0], out.dihedral->quality};
  } else {
    HM_ASSIGN_OR_RETURN(out.pdq, pdq_.Hash(pixels));
  }
  HM_ASSIGN_OR_RETURN(out.digests, hash::ComputeDigests(bytes));
  return out;
}

absl::StatusOr<ImageDescriptors> LocalHasher::HashImageFile(const std::string& path,
                                                            bool dihedral) {
  HM_ASSIGN_OR_RETURN(const std::vector<std::uint8_t> bytes,
                      ReadFileBounded(path, limits_.max_bytes));
  return HashImage(bytes, dihedral);
}

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

}  // namespace

std::vector<VpdqFeature> Features(const VideoDescriptors& video) {
  std::vector<VpdqFeature> out;
  out.reserve(video.frames.size());
  for (const hash::VpdqFrame& f : video.frames) {
    out.push_back({f.pdq.hash, f.pdq.quality,
                   static_cast<std::uint32_t>(std::llround(f.timestamp_seconds * 1000))});
  }
  return out;
}

absl::StatusOr<VideoDescriptors> LocalHasher::HashVideo(std::span<const std::uint8_t> bytes,
                                                        double seconds_per_hash) {
  VideoDescriptors out;
  // The digests on a thread of their own, in the time the decoder's threads leave idle.
  absl::StatusOr<hash::Digests> digests;
  std::jthread digest_thread([&] { digests = hash::ComputeDigests(bytes); });
  VpdqSink sink(&video_pdq_, seconds_per_hash, &out);
  const absl::StatusOr<std::int64_t> decoded = media::DecodeVideo(bytes, video_limits_, sink);
  digest_thread.join();
  if (!decoded.ok()) return decoded.status();
  if (!digests.ok()) return digests.status();
  out.decoded_frames = *decoded;
  out.digests = *digests;
  return out;
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

int DefaultThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace hashmatch::tools
