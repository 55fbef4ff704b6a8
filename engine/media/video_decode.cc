// Video decoding from memory with libavformat/libavcodec (media.h). Every FFmpeg object is owned
// by a unique_ptr with its FFmpeg destructor; the only I/O is the read callback over the caller's
// buffer. Which packets may go undecoded: internal/frame_skip.h; RGB conversion (libswscale) and
// hand-over to the sink on a thread of its own: internal/frame_pipeline.h.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
}

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/core/core.h"
#include "engine/media/internal/frame_pipeline.h"
#include "engine/media/internal/frame_skip.h"
#include "engine/media/media.h"

namespace hashmatch::media {
namespace {

struct FormatCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct IoFree {
  void operator()(AVIOContext* io) const {
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
struct CodecFree {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};

// The caller's bytes as an AVIOContext source.
struct MemoryInput {
  std::span<const std::uint8_t> bytes;
  std::size_t position = 0;

  static int Read(void* opaque, std::uint8_t* buffer, int size) {
    auto* in = static_cast<MemoryInput*>(opaque);
    const std::size_t n =
        std::min<std::size_t>(static_cast<std::size_t>(size), in->bytes.size() - in->position);
    if (n == 0) return AVERROR_EOF;
    std::memcpy(buffer, in->bytes.data() + in->position, n);
    in->position += n;
    return static_cast<int>(n);
  }

  static std::int64_t Seek(void* opaque, std::int64_t offset, int whence) {
    auto* in = static_cast<MemoryInput*>(opaque);
    const auto size = static_cast<std::int64_t>(in->bytes.size());
    std::int64_t target = 0;
    switch (whence & ~AVSEEK_FORCE) {
      case AVSEEK_SIZE:
        return size;
      case SEEK_SET:
        target = offset;
        break;
      case SEEK_CUR:
        target = static_cast<std::int64_t>(in->position) + offset;
        break;
      case SEEK_END:
        target = size + offset;
        break;
      default:
        return -1;
    }
    if (target < 0 || target > size) return -1;
    in->position = static_cast<std::size_t>(target);
    return target;
  }
};

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

absl::Status Invalid(const std::string& what) {
  return absl::InvalidArgumentError("video: " + what);
}

// The demuxer for a container: the only one FFmpeg may use on these bytes.
const char* DemuxerName(VideoContainer c) {
  switch (c) {
    case VideoContainer::kMp4:
      return "mov";
    case VideoContainer::kMatroska:
      return "matroska";
    case VideoContainer::kAvi:
      return "avi";
    case VideoContainer::kMpegTs:
      return "mpegts";
    case VideoContainer::kFlv:
      return "flv";
  }
  return "";
}

absl::Status CheckSize(int width, int height, const VideoLimits& limits) {
  if (width <= 0 || height <= 0) return Invalid("the video stream has no frame size");
  if (width > limits.max_side || height > limits.max_side) {
    return Invalid(
        absl::StrCat(width, "x", height, " exceeds the side limit of ", limits.max_side));
  }
  if (static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(height) > limits.max_pixels) {
    return Invalid(
        absl::StrCat(width, "x", height, " exceeds the limit of ", limits.max_pixels, " pixels"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* ContainerName(VideoContainer container) {
  switch (container) {
    case VideoContainer::kMp4:
      return "MP4";
    case VideoContainer::kMatroska:
      return "Matroska";
    case VideoContainer::kAvi:
      return "AVI";
    case VideoContainer::kMpegTs:
      return "MPEG-TS";
    case VideoContainer::kFlv:
      return "FLV";
  }
  return "?";
}

absl::StatusOr<VideoContainer> ProbeVideo(std::span<const std::uint8_t> b) {
  const auto at = [&](std::size_t offset, std::string_view magic) {
    return b.size() >= offset + magic.size() &&
           std::memcmp(b.data() + offset, magic.data(), magic.size()) == 0;
  };
  if (at(4, "ftyp")) return VideoContainer::kMp4;
  if (at(0, "\x1A\x45\xDF\xA3")) return VideoContainer::kMatroska;
  if (at(0, "RIFF") && at(8, "AVI ")) return VideoContainer::kAvi;
  if (at(0, "FLV\x01")) return VideoContainer::kFlv;
  if (b.size() >= 3 * 188 && b[0] == 0x47 && b[188] == 0x47 && b[376] == 0x47) {
    return VideoContainer::kMpegTs;
  }
  return Invalid(b.empty() ? "empty input"
                           : "not a supported container (MP4/MOV, Matroska/WebM, AVI, MPEG-TS, "
                             "FLV)");
}

namespace {

// One decode of the whole stream. With `skip_unwanted`, H.264/HEVC decoders skip the non-reference
// frames the sink does not want (internal/frame_skip.h); nullopt then means the stream did not
// allow it and must be decoded again in full.
absl::StatusOr<std::optional<std::int64_t>> DecodePass(std::span<const std::uint8_t> bytes,
                                                       VideoContainer container,
                                                       const VideoLimits& limits, VideoSink& sink,
                                                       std::chrono::steady_clock::time_point start,
                                                       bool skip_unwanted) {
  MemoryInput input{bytes};
  constexpr int kIoBuffer = 64 << 10;
  auto* io_buffer = static_cast<std::uint8_t*>(av_malloc(kIoBuffer));
  if (io_buffer == nullptr) return absl::ResourceExhaustedError("video: out of memory");
  std::unique_ptr<AVIOContext, IoFree> io(avio_alloc_context(
      io_buffer, kIoBuffer, 0, &input, &MemoryInput::Read, nullptr, &MemoryInput::Seek));
  if (!io) {
    av_free(io_buffer);
    return absl::ResourceExhaustedError("video: out of memory");
  }
  AVFormatContext* raw_format = avformat_alloc_context();
  if (raw_format == nullptr) return absl::ResourceExhaustedError("video: out of memory");
  raw_format->pb = io.get();
  raw_format->flags |= AVFMT_FLAG_CUSTOM_IO;
  const char* demuxer = DemuxerName(container);
  AVDictionary* options = nullptr;
  av_dict_set(&options, "format_whitelist", demuxer, 0);
  av_dict_set(&options, "protocol_whitelist", "", 0);  // nothing may open another input
  int rc = avformat_open_input(&raw_format, nullptr, av_find_input_format(demuxer), &options);
  av_dict_free(&options);
  if (rc < 0) return Invalid(absl::StrCat("cannot open the container: ", AvError(rc)));
  std::unique_ptr<AVFormatContext, FormatCloser> format(raw_format);
  if ((rc = avformat_find_stream_info(format.get(), nullptr)) < 0) {
    return Invalid(absl::StrCat("cannot read the streams: ", AvError(rc)));
  }
  // The first video stream, as Meta's vPDQ uses.
  int first = -1;
  for (unsigned i = 0; i < format->nb_streams && first < 0; ++i) {
    if (format->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) first = static_cast<int>(i);
  }
  if (first < 0) return Invalid("no video stream");
  const AVStream* stream = format->streams[first];
  const AVCodecParameters* par = stream->codecpar;
  HM_RETURN_IF_ERROR(CheckSize(par->width, par->height, limits));
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (codec == nullptr) {
    return Invalid(absl::StrCat("no decoder for codec ", avcodec_get_name(par->codec_id)));
  }

  VideoInfo info{container, codec->name, par->width, par->height, 0, 0};
  AVRational rate = stream->avg_frame_rate;
  if (rate.num == 0 || rate.den == 0) rate = stream->r_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) return Invalid("the video stream has no frame rate");
  info.frame_rate = av_q2d(rate);
  if (format->duration > 0) info.duration_seconds = format->duration / double{AV_TIME_BASE};
  if (info.duration_seconds > limits.max_duration_seconds) {
    return Invalid(absl::StrCat("duration ", info.duration_seconds, " s exceeds the limit of ",
                                limits.max_duration_seconds, " s"));
  }

  std::unique_ptr<AVCodecContext, CodecFree> decoder(avcodec_alloc_context3(codec));
  if (!decoder) return absl::ResourceExhaustedError("video: out of memory");
  decoder->thread_count = std::max(0, limits.decoder_threads);
  decoder->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  if ((rc = avcodec_parameters_to_context(decoder.get(), par)) < 0 ||
      (rc = avcodec_open2(decoder.get(), codec, nullptr)) < 0) {
    return Invalid(absl::StrCat("cannot open the ", codec->name, " decoder: ", AvError(rc)));
  }
  HM_RETURN_IF_ERROR(sink.Start(info));
  // The decoders whose skip_frame = AVDISCARD_NONREF drops exactly the non-reference frames.
  std::optional<internal::FrameSkipPlan> plan;
  if (skip_unwanted && (par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC)) {
    plan.emplace([&sink](std::int64_t number) { return sink.Wants(number); });
  }
  constexpr std::optional<std::int64_t> kDecodeInFull;

  std::unique_ptr<AVPacket, PacketFree> packet(av_packet_alloc());
  std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
  if (!packet || !frame) return absl::ResourceExhaustedError("video: out of memory");
  internal::FramePipeline pipeline(sink);  // after `decoder`: gone before it
  std::int64_t decoded = 0;
  bool plan_failed = false;
  // Drains the decoder's ready frames into the sink.
  const auto drain = [&]() -> absl::Status {
    while (!plan_failed) {
      const int got = avcodec_receive_frame(decoder.get(), frame.get());
      if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return absl::OkStatus();
      if (got < 0) return Invalid(absl::StrCat("frame ", decoded, ": ", AvError(got)));
      std::int64_t number = decoded++;
      if (plan) {
        const std::optional<std::int64_t> ranked =
            frame->pts == AV_NOPTS_VALUE ? std::nullopt : plan->Output(frame->pts);
        if (!ranked) {
          plan_failed = true;
          break;
        }
        number = *ranked;
      }
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (elapsed > limits.max_decode_seconds) {
        return absl::DeadlineExceededError(absl::StrCat(
            "video: decoding took longer than the limit of ", limits.max_decode_seconds, " s"));
      }
      if (sink.Wants(number)) {
        HM_RETURN_IF_ERROR(CheckSize(frame->width, frame->height, limits));
        HM_RETURN_IF_ERROR(pipeline.Push(*frame, number));
      }
      av_frame_unref(frame.get());
    }
    return absl::OkStatus();
  };
  std::int64_t packets = 0;
  double data_end_seconds = 0;
  const std::int64_t stream_start = stream->start_time == AV_NOPTS_VALUE ? 0 : stream->start_time;
  while ((rc = av_read_frame(format.get(), packet.get())) >= 0) {
    if (packet->stream_index != first) {
      av_packet_unref(packet.get());
      continue;
    }
    if (++packets > limits.max_frames) {
      return Invalid(absl::StrCat("more than ", limits.max_frames, " frames"));
    }
    // AVI stores no presentation times when there are B-frames: its decode times do as well.
    const std::int64_t stamp = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
    if (stamp != AV_NOPTS_VALUE) {
      const double end =
          static_cast<double>(stamp + packet->duration - stream_start) * av_q2d(stream->time_base);
      data_end_seconds = std::max(data_end_seconds, end);
    }
    if (plan) {
      // Trimmed (discard-flagged) or unstamped packets leave no pts rank to number frames by.
      if (packet->pts == AV_NOPTS_VALUE || (packet->flags & AV_PKT_FLAG_DISCARD) != 0 ||
          !plan->AddPacket(packet->pts)) {
        return kDecodeInFull;
      }
      decoder->skip_frame = plan->MaySkip(packet->pts) ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
    }
    const int sent = avcodec_send_packet(decoder.get(), packet.get());
    av_packet_unref(packet.get());
    // A damaged packet is skipped, as players do; the frames around it still count (in output
    // order, which only a full decode reproduces).
    if (sent < 0 && sent != AVERROR_INVALIDDATA) {
      return Invalid(absl::StrCat("frame ", decoded, ": ", AvError(sent)));
    }
    if (sent < 0 && plan) return kDecodeInFull;
    HM_RETURN_IF_ERROR(drain());
    if (plan_failed) return kDecodeInFull;
  }
  // A demuxer error before the end (the index points past the data, a damaged header) means the
  // file is truncated or corrupt: hashing only its readable start would under-report it.
  if (rc != AVERROR_EOF) {
    return Invalid(absl::StrCat("truncated or corrupt after frame ", decoded, ": ", AvError(rc)));
  }
  // Containers with a full sample index (MP4, AVI) say how many packets there are; the mov
  // demuxer reports a plain end of file when the data behind its index is missing.
  const int indexed = avformat_index_get_entries_count(stream);
  if (packets < indexed) {
    return Invalid(absl::StrCat("truncated: the data ends at packet ", packets, " of ", indexed));
  }
  // Streaming containers (Matroska, FLV) state their duration in the header; data that stops
  // well short of it was cut off. An estimate from the bit rate (MPEG-TS) proves nothing.
  if (format->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE &&
      info.duration_seconds > 0 &&
      data_end_seconds < info.duration_seconds - std::max(1.0, 0.05 * info.duration_seconds)) {
    return Invalid(absl::StrCat("truncated: the data ends at ", absl::SixDigits(data_end_seconds),
                                " s of ", absl::SixDigits(info.duration_seconds), " s"));
  }
  if (avcodec_send_packet(decoder.get(), nullptr) >= 0) HM_RETURN_IF_ERROR(drain());
  HM_RETURN_IF_ERROR(pipeline.Finish());
  if (plan_failed || (plan && !plan->Consistent())) return kDecodeInFull;
  if (decoded == 0) return Invalid("no frame could be decoded (truncated or corrupt)");
  return plan ? plan->packets() : decoded;
}

}  // namespace

absl::StatusOr<std::int64_t> DecodeVideo(std::span<const std::uint8_t> bytes,
                                         const VideoLimits& limits, VideoSink& sink) {
  static std::once_flag quiet;
  std::call_once(quiet, [] { av_log_set_level(AV_LOG_QUIET); });  // errors come back as statuses
  if (bytes.size() > limits.max_bytes) {
    return Invalid(absl::StrCat(bytes.size(), " bytes exceeds the limit of ", limits.max_bytes));
  }
  absl::StatusOr<VideoContainer> container = ProbeVideo(bytes);
  if (!container.ok()) return container.status();
  const auto start = std::chrono::steady_clock::now();  // one decode-time budget for both passes
  HM_ASSIGN_OR_RETURN(
      std::optional<std::int64_t> frames,
      DecodePass(bytes, *container, limits, sink, start, limits.skip_unwanted_frames));
  if (!frames) {  // the fast path was given up
    HM_ASSIGN_OR_RETURN(frames, DecodePass(bytes, *container, limits, sink, start, false));
  }
  if (!frames) return absl::InternalError("video: a full decode asked to be repeated");
  return *frames;
}

}  // namespace hashmatch::media
