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

    def test_usage_errors(self):
        self.assertEqual(run().returncode, 2)
        self.assertEqual(run("hash").returncode, 2)
        self.assertEqual(run("hash", "--format", "xml", self.tmp).returncode, 2)
        r = run("hash", "/nonexistent/hm")
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent/hm: no such file or folder", r.stderr)

    def test_help_explains_flags(self):
        r = run("hash", "--help")
        self.assertEqual(r.returncode, 0)
        for flag in ["--dihedral", "--format", "--threads", "--max-image-bytes", "--max-pixels"]:
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
