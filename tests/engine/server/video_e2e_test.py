#!/usr/bin/python3
"""MatchVideo end to end: the real hashmatchd (--demo: the public images are known) on loopback,
fixture videos made here with the ffmpeg CLI from the public images, a grpcio client and the
hashmatch CLI. A known video matches its re-encoded, rescaled copy with time ranges; a video made
of known images reports them with their timestamps; an unrelated video matches nothing; broken
files and bad frame hashes are refused with a clear error while the server keeps serving."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testing"))
from hashmatchd_server import Server, load_v1, parse_args  # noqa: E402

ARGS = None
V1 = None
IMAGES = ["p01-mate-aqua.jpg", "p02-mate-blinds.jpg", "p03-mate-dune.jpg"]


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=300)


def slideshow(images, out, seconds=3):
    """A 640x400 25 fps H.264 video showing each image for `seconds`."""
    inputs, chains = [], []
    for i, path in enumerate(images):
        inputs += ["-loop", "1", "-t", str(seconds), "-i", path]
        chains.append(f"[{i}]scale=640:400,setsar=1,fps=25[v{i}]")
    graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(len(images))) + \
        f"concat=n={len(images)}:v=1,format=yuv420p[out]"
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", out)


def run(*args):
    return subprocess.run([os.path.join(ARGS.bin, args[0]), *args[1:]], capture_output=True,
                          text=True, timeout=300)


class VideoE2eTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hm_video_e2e.")
        images = [os.path.join(ARGS.testdata, "pdq", "images", name) for name in IMAGES]
        cls.known = os.path.join(cls.tmp, "known.mp4")
        slideshow(images, cls.known)
        cls.copy = os.path.join(cls.tmp, "copy.mkv")  # re-encoded, rescaled, other container
        ffmpeg("-i", cls.known, "-vf", "scale=320:200", "-c:v", "libx264", "-crf", "32", cls.copy)
        cls.unrelated = os.path.join(cls.tmp, "unrelated.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=duration=8:size=320x240:rate=25",
               "-pix_fmt", "yuv420p", cls.unrelated)
        cls.server = Server(ARGS.bin, ARGS.testdata, V1, os.path.join(cls.tmp, "data"))
        # Store the known video as a VPDQ descriptor, built from `hashmatch hash` output with the
        # documented encoding (README, "VPDQ values").
        r = run("hashmatch", "hash", "--format", "json", cls.known)
        assert r.returncode == 0, r.stderr
        value = b"\x01"
        for line in r.stdout.splitlines():
            f = json.loads(line)
            value += struct.pack("<IB", round(f["timestamp"] * 1000), f["quality"])
            value += bytes.fromhex(f["pdq"])
        request = V1.ingest.AddDescriptorsRequest(
            contribution=V1.ingest.Contribution(agency="C50", case_ref="case-v"),
            items=[V1.ingest.NewDescriptor(
                hash=V1.types.HashValue(signal=V1.types.SIGNAL_VPDQ, raw=value), category="A")])
        responses = list(cls.server.ingest.AddDescriptors(iter([request]),
                                                          metadata=cls.server.auth("police")))
        cls.video_id = responses[0].ids[0]
        assert cls.video_id > 0, responses

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp)

    def match_file(self, path, role="platform", chunk=256 << 10, **header):
        with open(path, "rb") as f:
            data = f.read()
        messages = [V1.match.MatchVideoChunk(header=V1.match.VideoHeader(**header))]
        messages += [V1.match.MatchVideoChunk(data=data[i:i + chunk])
                     for i in range(0, len(data), chunk)]
        return self.server.match.MatchVideo(iter(messages), metadata=self.server.auth(role),
                                            timeout=120)

    def assert_refused(self, code, text, messages):
        with self.assertRaises(grpc.RpcError) as e:
            self.server.match.MatchVideo(iter(messages), metadata=self.server.auth("platform"),
                                         timeout=60)
        self.assertEqual(e.exception.code(), code, e.exception.details())
        self.assertIn(text, e.exception.details())

    def test_reencoded_rescaled_copy_matches_the_known_video_with_time_ranges(self):
        r = self.match_file(self.copy, role="police")
        self.assertTrue(r.matched)
        self.assertEqual(r.computed.container, "Matroska")
        self.assertEqual((r.computed.width, r.computed.height), (320, 200))
        self.assertEqual(r.frames, 9)
        self.assertEqual(len(r.videos), 1, r)
        v = r.videos[0]
        self.assertEqual(v.match.descriptor_id, self.video_id)
        self.assertEqual(v.match.signal, V1.types.SIGNAL_VPDQ)
        self.assertEqual(v.query_match_percent, 100)
        self.assertEqual(v.known_match_percent, 100)
        self.assertEqual(len(v.ranges), 1)
        self.assertEqual((v.ranges[0].query_start_seconds, v.ranges[0].query_end_seconds), (0, 8))
        self.assertEqual((v.ranges[0].known_start_seconds, v.ranges[0].known_end_seconds), (0, 8))
        self.assertEqual(v.match.provenance[0].case_ref, "case-v")  # police see provenance

    def test_a_video_of_known_images_reports_each_with_when_it_appears(self):
        r = self.match_file(self.known)
        self.assertTrue(r.matched)
        starts = [(img.ranges[0].query_start_seconds, img.ranges[-1].query_end_seconds)
                  for img in r.images]
        self.assertEqual(starts, [(0, 2), (3, 5), (6, 8)])
        for img in r.images:
            self.assertEqual(img.match.descriptor_id, 0)  # a platform sees no ids
            self.assertTrue(img.match.match_ref.startswith("m_"))
        # Each matched descriptor once in `matches`: 3 images and the video.
        self.assertEqual(len({m.match_ref for m in r.matches}), 4)

    def test_unrelated_video_matches_nothing(self):
        r = self.match_file(self.unrelated)
        self.assertFalse(r.matched)
        self.assertEqual(list(r.videos), [])
        self.assertEqual(list(r.images), [])
        self.assertGreater(r.distinct_good_frames, 0)

    def test_hash_only_cli_and_send_media_agree(self):
        for extra in ([], ["--send-media"]):
            r = run("hashmatch", "match", self.copy, self.unrelated, *extra, "--server",
                    self.server.address, "--key-file", self.server.key_file(), "--role", "ict")
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stdout.splitlines()
            self.assertEqual(len(lines), 2, r.stdout)
            self.assertIn(f"id={self.video_id} signal=VPDQ", lines[0])
            self.assertIn("video query=100% known=100% at=0.0-8.0s~0.0-8.0s", lines[0])
            self.assertIn("image at=0.0-2.0s", lines[0])
            self.assertTrue(lines[1].endswith("\tno-match"), lines[1])

    def test_broken_files_are_refused_and_the_server_keeps_serving(self):
        with open(self.known, "rb") as f:
            good = f.read()
        cases = {
            "zero-length": b"",
            "truncated": good[: len(good) // 2],
            "corrupt": good[:64] + bytes(range(256)) * 40,
            "wrong container": open(os.path.join(ARGS.testdata, "pdq", "images", IMAGES[0]),
                                    "rb").read(),
        }
        huge = os.path.join(self.tmp, "huge.mkv")
        ffmpeg("-f", "lavfi", "-i", "color=c=red:s=8400x16:d=1", "-c:v", "ffv1", huge)
        cases["huge dimension"] = open(huge, "rb").read()
        for name, data in cases.items():
            with self.subTest(name):
                messages = [V1.match.MatchVideoChunk(header=V1.match.VideoHeader())]
                if data:
                    messages.append(V1.match.MatchVideoChunk(data=data))
                    text = "video:"
                else:
                    text = "neither file data nor frame hashes"
                if name == "huge dimension":
                    text = "8400x16 exceeds the side limit of 8192"
                self.assert_refused(grpc.StatusCode.INVALID_ARGUMENT, text, messages)
        self.assertTrue(self.match_file(self.copy).matched)  # still serving

    def test_a_decode_past_the_servers_limit_is_deadline_exceeded(self):
        server = Server(ARGS.bin, ARGS.testdata, V1, os.path.join(self.tmp, "slow-data"),
                        "--max-video-seconds", "0.000001")
        try:
            with open(self.known, "rb") as f:
                messages = [V1.match.MatchVideoChunk(header=V1.match.VideoHeader()),
                            V1.match.MatchVideoChunk(data=f.read())]
            with self.assertRaises(grpc.RpcError) as e:
                server.match.MatchVideo(iter(messages), metadata=server.auth("platform"),
                                        timeout=60)
            self.assertEqual(e.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED,
                             e.exception.details())
            self.assertIn("server's limit of 1e-06 s (--max-video-seconds)",
                          e.exception.details())
        finally:
            server.stop()

    def test_bad_headers_and_frame_hashes_name_the_field(self):
        header = V1.match.MatchVideoChunk(header=V1.match.VideoHeader())
        frame = V1.match.FrameHash(timestamp_seconds=1, quality=90, pdq=b"\x01" * 32)
        self.assert_refused(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be the header",
                            [V1.match.MatchVideoChunk(data=b"x")])
        self.assert_refused(grpc.StatusCode.RESOURCE_EXHAUSTED, "header.size_bytes",
                            [V1.match.MatchVideoChunk(header=V1.match.VideoHeader(
                                size_bytes=1 << 40))])
        short = V1.match.FrameHash(timestamp_seconds=2, quality=90, pdq=b"\x01" * 31)
        self.assert_refused(grpc.StatusCode.INVALID_ARGUMENT, "frames[1].pdq: 31 bytes", [
            header, V1.match.MatchVideoChunk(frames=V1.match.FrameHashes(frames=[frame, short]))])
        back = V1.match.FrameHash(timestamp_seconds=0.5, quality=90, pdq=b"\x01" * 32)
        self.assert_refused(grpc.StatusCode.INVALID_ARGUMENT, "frames[1].timestamp_seconds", [
            header, V1.match.MatchVideoChunk(frames=V1.match.FrameHashes(frames=[frame, back]))])
        self.assert_refused(grpc.StatusCode.INVALID_ARGUMENT, "file data after frame hashes", [
            header, V1.match.MatchVideoChunk(frames=V1.match.FrameHashes(frames=[frame])),
            V1.match.MatchVideoChunk(data=b"x")])
        self.assert_refused(grpc.StatusCode.PERMISSION_DENIED, "options.max_distance", [
            V1.match.MatchVideoChunk(header=V1.match.VideoHeader(
                options=V1.match.MatchOptions(max_distance=40))),
            V1.match.MatchVideoChunk(frames=V1.match.FrameHashes(frames=[frame]))])

    def test_retracted_video_stops_matching(self):
        other = os.path.join(self.tmp, "other.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc=duration=5:size=320x240:rate=25", "-pix_fmt",
               "yuv420p", other)
        r = run("hashmatch", "hash", "--format", "json", other)
        value = b"\x01" + b"".join(
            struct.pack("<IB", round(f["timestamp"] * 1000), f["quality"]) + bytes.fromhex(f["pdq"])
            for f in map(json.loads, r.stdout.splitlines()))
        request = V1.ingest.AddDescriptorsRequest(
            contribution=V1.ingest.Contribution(agency="C50"),
            items=[V1.ingest.NewDescriptor(
                hash=V1.types.HashValue(signal=V1.types.SIGNAL_VPDQ, raw=value), category="B")])
        added = list(self.server.ingest.AddDescriptors(iter([request]),
                                                       metadata=self.server.auth("police")))
        video_id = added[0].ids[0]
        self.assertEqual(len(self.match_file(other).videos), 1)
        self.server.ingest.SetStatus(
            V1.ingest.SetStatusRequest(descriptor_id=video_id, status=V1.types.DESCRIPTOR_STATUS_RETRACTED,
                                       reason="test"), metadata=self.server.auth("police"))
        self.assertEqual(len(self.match_file(other).videos), 0)


if __name__ == "__main__":
    ARGS, rest = parse_args()
    V1 = load_v1(ARGS.python_dir)
    unittest.main(argv=[sys.argv[0], "-v", *rest])
