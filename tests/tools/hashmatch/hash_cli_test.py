#!/usr/bin/python3
"""End-to-end tests of `hashmatch hash`: the real binary on real files."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testing"))
from pdq_testdata import expected_pdq  # noqa: E402

ARGS = None


def run(*args):
    return subprocess.run([os.path.join(ARGS.bin, "hashmatch"), *args],
                          capture_output=True, text=True, timeout=120)


class HashCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hm_cli_test.")
        images = os.path.join(ARGS.testdata, "pdq", "images")
        os.makedirs(os.path.join(self.tmp, "sub"))
        shutil.copy(os.path.join(images, "p01-mate-aqua.jpg"), self.tmp)
        shutil.copy(os.path.join(images, "p02-mate-blinds.jpg"), os.path.join(self.tmp, "sub"))
        with open(os.path.join(self.tmp, "notes.txt"), "w") as f:
            f.write("not an image\n")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_folder_hashes_every_image_and_reports_bad_files(self):
        r = run("hash", self.tmp)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 2)
        exp = expected_pdq(ARGS.testdata)
        for line, name in zip(lines, ["p01-mate-aqua.jpg", "p02-mate-blinds.jpg"]):
            fields = line.split("\t")
            self.assertEqual(len(fields), 6)
            self.assertTrue(fields[0].endswith(name))
            self.assertEqual((fields[1], int(fields[2])), exp["images/" + name])
            self.assertEqual([len(x) for x in fields[3:]], [32, 40, 64])
        self.assertIn("notes.txt: not a supported image", r.stderr)
        self.assertIn("1 of 3 files failed", r.stderr)

    def test_all_good_files_exit_zero(self):
        r = run("hash", os.path.join(self.tmp, "p01-mate-aqua.jpg"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")

    def test_json_lines(self):
        r = run("hash", "--format", "json", "--dihedral", os.path.join(self.tmp, "sub"))
        self.assertEqual(r.returncode, 0, r.stderr)
        obj = json.loads(r.stdout)
        self.assertEqual(obj["format"], "JPEG")
        self.assertEqual((obj["width"], obj["height"]), (640, 400))
        self.assertEqual(obj["pdq"], expected_pdq(ARGS.testdata)["images/p02-mate-blinds.jpg"][0])
        self.assertEqual(sorted(obj["dihedral"]),
                         sorted(["orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipp", "flipm"]))

    def test_dihedral_tsv_matches_reference(self):
        r = run("hash", "--dihedral", os.path.join(self.tmp, "p01-mate-aqua.jpg"))
        self.assertEqual(r.returncode, 0, r.stderr)
        fields = r.stdout.rstrip("\n").split("\t")
        with open(os.path.join(ARGS.testdata, "pdq", "dihedral.tsv")) as f:
            row = [l.rstrip("\n").split("\t") for l in f if l.startswith("images/p01")][0]
        self.assertEqual([fields[1]] + fields[6:], row[2:])

    def test_video_prints_one_line_per_sampled_frame_like_vpdq(self):
        name = "v1-slideshow-320x240-25fps"
        video = os.path.join(ARGS.testdata, "pdq", "videos", name + ".mp4")
        r = run("hash", video)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = [l.split("\t") for l in r.stdout.splitlines()]
        with open(os.path.join(ARGS.testdata, "pdq", "vpdq", name + ".1s.txt")) as f:
            # reference lines: frame,quality,pdq,timestamp
            want = [l.strip().split(",") for l in f if l.strip()]
        self.assertEqual(len(got), len(want))
        for g, w in zip(got, want):
            self.assertEqual(g, [video, w[0], w[3], w[1], w[2]])

    def test_video_every_frame_and_json(self):
        name = "v4-zoom-pan-320x240-25fps"
        video = os.path.join(ARGS.testdata, "pdq", "videos", name + ".mp4")
        r = run("hash", "--seconds-per-hash", "0", "--format", "json", video)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = [json.loads(l) for l in r.stdout.splitlines()]
        with open(os.path.join(ARGS.testdata, "pdq", "vpdq", name + ".every-frame.txt")) as f:
            want = [l.strip().split(",") for l in f if l.strip()]
        self.assertEqual([(o["frame"], o["quality"], o["pdq"]) for o in got],
                         [(int(w[0]), int(w[1]), w[2]) for w in want])
        # README: the same fields plus container, codec, width, height, fps.
        self.assertEqual({k: got[0][k] for k in ("container", "codec", "width", "height", "fps")},
                         {"container": "MP4", "codec": "h264", "width": 320, "height": 240,
                          "fps": 25})
        self.assertEqual(got[1]["timestamp"], 0.04)  # frame 1 of 25 fps, 3 decimals

    def test_every_whitelisted_container_decodes_and_truncation_is_an_error(self):
        name = "v1-slideshow-320x240-25fps"
        source = os.path.join(ARGS.testdata, "pdq", "videos", name + ".mp4")
        with open(os.path.join(ARGS.testdata, "pdq", "vpdq", name + ".1s.txt")) as f:
            want = [int(l.split(",")[2], 16) for l in f if l.strip()]
        # H.264 with B-frames in AVI has no presentation times: the frame-skipping fast path
        # gives up and the video is decoded again in full (engine/media frame_skip.h).
        codecs = [("mkv", []), ("webm", ["-c:v", "libvpx-vp9", "-b:v", "500k"]), ("mov", []),
                  ("avi", ["-c:v", "mpeg4", "-q:v", "3"]), ("avi", ["-c:v", "libx264", "-bf", "3"]),
                  ("flv", ["-c:v", "libx264"]), ("ts", [])]
        for i, (ext, codec) in enumerate(codecs):
            with self.subTest(container=ext, codec=codec):
                video = os.path.join(self.tmp, f"v{i}.{ext}")
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", source, *codec, video],
                               check=True, timeout=120)
                r = run("hash", video)
                self.assertEqual(r.returncode, 0, r.stderr)
                got = [int(l.split("\t")[4], 16) for l in r.stdout.splitlines()]
                self.assertEqual(len(got), len(want))
                close = sum(bin(g ^ w).count("1") <= 10 for g, w in zip(got, want))
                self.assertGreaterEqual(close, 9)
                if ext == "ts":
                    continue  # a stream format: a cut-off MPEG-TS is indistinguishable from a short one
                with open(video, "rb") as f:
                    data = f.read()
                with open(video, "wb") as f:
                    f.write(data[: len(data) * 2 // 3])
                r = run("hash", video)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertEqual(r.stdout, "")
                self.assertRegex(r.stderr, "video: (truncated|cannot open the container)")

    def test_broken_video_is_reported_and_others_still_hashed(self):
        video = os.path.join(ARGS.testdata, "pdq", "videos", "v1-slideshow-320x240-25fps.mp4")
        with open(video, "rb") as f:
            data = f.read()
        with open(os.path.join(self.tmp, "truncated.mp4"), "wb") as f:
            f.write(data[: len(data) // 3])
        r = run("hash", self.tmp)
        self.assertEqual(r.returncode, 1)
        self.assertIn("truncated.mp4", r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 2)

    def test_usage_errors(self):
        for args, message in (((), "A subcommand is required"),
                              (("hash",), "paths is required"),
                              (("hash", "--format", "xml", self.tmp),
                               "--format: xml not in {tsv,json}")):
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(message, r.stderr)
            self.assertEqual(r.stdout, "")
        r = run("hash", "/nonexistent/hm")
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent/hm: no such file or folder", r.stderr)

    def test_help_explains_flags(self):
        r = run("hash", "--help")
        self.assertEqual(r.returncode, 0)
        for flag in ["--dihedral", "--format", "--threads", "--max-image-bytes", "--max-pixels",
                     "--seconds-per-hash", "--max-video-bytes"]:
            self.assertIn(flag, r.stdout)

    def test_limits_flags_apply(self):
        r = run("hash", "--max-image-bytes", "1000", os.path.join(self.tmp, "p01-mate-aqua.jpg"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("over the limit of 1000 bytes", r.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--testdata", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
