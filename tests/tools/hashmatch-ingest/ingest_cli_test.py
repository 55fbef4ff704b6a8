#!/usr/bin/python3
"""End-to-end tests of hashmatch-ingest's offline commands: the real binary on real files.
hash a folder into a bundle, resume after adding files, sign, verify, show; tampered and
truncated bundles and the wrong key are refused."""
import argparse
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testing"))
from pdq_testdata import expected_pdq  # noqa: E402

ARGS = None


def ingest(*args):
    return subprocess.run([os.path.join(ARGS.bin, "hashmatch-ingest"), *args],
                          capture_output=True, text=True, timeout=120)


class IngestCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hm_ingest_test.")
        self.images = os.path.join(self.tmp, "images")
        os.makedirs(self.images)
        source = os.path.join(ARGS.testdata, "pdq", "images")
        for name in ["p01-mate-aqua.jpg", "p02-mate-blinds.jpg", "p03-mate-dune.jpg"]:
            shutil.copy(os.path.join(source, name), self.images)
        with open(os.path.join(self.images, "notes.txt"), "w") as f:
            f.write("not an image\n")
        self.bundle = os.path.join(self.tmp, "case.bundle")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def hash(self, *paths):
        return ingest("hash", *paths, "--out", self.bundle, "--agency", "C50", "--category", "A",
                      "--case-ref", "case-secret-17")

    def test_hash_resume_sign_verify(self):
        r = self.hash(self.images)
        self.assertEqual(r.returncode, 1, r.stderr)  # notes.txt is not an image
        self.assertIn("notes.txt: ", r.stderr)
        self.assertIn("12 records (3 files hashed now, 0 skipped", r.stdout)
        with open(self.bundle, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"HMBNDL01"))
        pdq = expected_pdq(ARGS.testdata)
        self.assertIn(bytes.fromhex(pdq["images/p01-mate-aqua.jpg"][0]), data)
        self.assertNotIn(b"p01-mate-aqua", data)  # no file names in the bundle
        self.assertNotIn(b"case-secret-17", open(self.bundle + ".sources", "rb").read())

        shutil.copy(os.path.join(ARGS.testdata, "pdq", "images", "p04-mate-freshflower.jpg"),
                    self.images)
        r = self.hash(self.images)
        self.assertIn("16 records (1 files hashed now, 3 skipped as already done, 1 failed)",
                      r.stdout)
        r = ingest("hash", self.images, "--out", self.bundle, "--agency", "other", "--category",
                   "A")
        self.assertEqual(r.returncode, 2)
        self.assertIn("another agency or case reference", r.stderr)

        self.assertEqual(ingest("keygen", "--out", os.path.join(self.tmp, "police")).returncode, 0)
        key_mode = os.stat(os.path.join(self.tmp, "police.key")).st_mode
        self.assertEqual(stat.S_IMODE(key_mode), 0o600)
        r = ingest("keygen", "--out", os.path.join(self.tmp, "police"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("not overwriting a key", r.stderr)
        self.assertEqual(ingest("keygen", "--out", os.path.join(self.tmp, "other")).returncode, 0)

        pub = os.path.join(self.tmp, "police.pub")
        r = ingest("verify", self.bundle, "--pubkey", pub)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not signed", r.stderr)
        r = ingest("sign", self.bundle, "--key", os.path.join(self.tmp, "police.key"))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = ingest("verify", self.bundle, "--pubkey", pub)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("valid, signed by", r.stdout)
        r = ingest("verify", self.bundle, "--pubkey", os.path.join(self.tmp, "other.pub"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("signed by key", r.stderr)

        r = ingest("show", self.bundle)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("records\tPDQ\tA\t4", r.stdout)
        self.assertIn("case_ref\t(set)", r.stdout)
        self.assertNotIn("case-secret-17", r.stdout)

        with open(self.bundle, "rb") as f:
            data = bytearray(f.read())
        tampered = os.path.join(self.tmp, "tampered.bundle")
        data[len(data) // 2] ^= 1
        open(tampered, "wb").write(bytes(data))
        r = ingest("verify", tampered, "--pubkey", pub)
        self.assertEqual(r.returncode, 1)
        # One flipped bit: a damaged record (named with its byte offset), a content id that no
        # longer matches, or a signature that no longer verifies; never "valid".
        self.assertRegex(r.stderr, r"tampered\.bundle: .*(at byte \d+|does not match|altered)")
        self.assertNotIn("valid", r.stdout)
        truncated = os.path.join(self.tmp, "truncated.bundle")
        open(truncated, "wb").write(open(self.bundle, "rb").read()[:300])
        r = ingest("verify", truncated, "--pubkey", pub)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"record \d+ at byte \d+ is truncated")


    def test_video_becomes_one_vpdq_record_plus_digests(self):
        videos = os.path.join(self.tmp, "videos")
        os.makedirs(videos)
        name = "v1-slideshow-320x240-25fps"
        shutil.copy(os.path.join(ARGS.testdata, "pdq", "videos", name + ".mp4"), videos)
        r = self.hash(videos)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 records (1 files hashed now", r.stdout)
        r = ingest("show", self.bundle)
        for signal in ["VPDQ", "MD5", "SHA1", "SHA256"]:
            self.assertIn(f"records\t{signal}\tA\t1", r.stdout)
        # The VPDQ value: 0x01, then per frame u32 ms, u8 quality, 32-byte PDQ (the reference's).
        with open(os.path.join(ARGS.testdata, "pdq", "vpdq", name + ".1s.txt")) as f:
            want = b"\x01" + b"".join(
                struct.pack("<IB", round(float(t) * 1000), int(q)) + bytes.fromhex(h)
                for _, q, h, t in (line.strip().split(",") for line in f if line.strip()))
        with open(self.bundle, "rb") as f:
            self.assertIn(want, f.read())


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--testdata", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
