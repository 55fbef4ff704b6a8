#!/usr/bin/python3
"""End-to-end: hashmatch-ingest push and review, and hashmatch keys, against the real hashmatchd
on loopback. Signed bundles from registered agencies are imported (police: VERIFIED, ict:
CANDIDATE); unsigned, unknown-signer, wrong-agency, tampered and truncated bundles are refused
whole; re-pushes are idempotent; a push resumes after a dropped connection and after kill -9.

Usage: push_e2e_test.py --bin build/bin --python-dir build/python --testdata DIR
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testing"))
import hashmatchd_server  # noqa: E402

import grpc

ARGS = None
v1 = None
bundle_pb2 = None

# Synthetic public images that are not near any demo image (checked: they do not match before
# the push).
EDGE_IMAGES = ["e02-gradient-64x64.png", "e05-wide-1000x40.png", "e13-checkerboard-100x100.png",
               "e14-noise-256x256.png", "e18-bilevel-120x90.png"]


def run(tool, *args, timeout=120):
    return subprocess.run([os.path.join(ARGS.bin, tool), *args], capture_output=True, text=True,
                          timeout=timeout)


def delimited(message):
    body = message.SerializeToString()
    n, prefix = len(body), bytearray()
    while True:
        prefix.append((n & 0x7F) | (0x80 if n >= 0x80 else 0))
        n >>= 7
        if not n:
            return bytes(prefix) + body


def write_digest_bundle(path, agency, count, seed):
    """An unsigned bundle of `count` distinct SHA-256 records, written as the format says."""
    records = b"".join(
        delimited(bundle_pb2.BundleRecord(
            hash=v1.types.HashValue(signal=v1.types.SIGNAL_SHA256,
                                    raw=hashlib.sha256(f"{seed}:{i}".encode()).digest()),
            category="B"))
        for i in range(count))
    header = bundle_pb2.BundleHeader(agency=agency, count=count, created_unix_ms=1,
                                     bundle_id=hashlib.sha256(records).hexdigest(),
                                     writer="push_e2e_test")
    with open(path, "wb") as f:
        f.write(b"HMBNDL01" + delimited(header) + records)


class PushTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hm_push_e2e.")
        cls.data = os.path.join(cls.tmp, "data")
        for name in ("unit7", "other"):
            r = run("hashmatch-ingest", "keygen", "--out", os.path.join(cls.tmp, name))
            assert r.returncode == 0, r.stderr
        cls.server = cls.start_server(cls.data)

    @classmethod
    def start_server(cls, data, port=None):
        """hashmatchd --demo in `data` with the agencies Unit 7 and Other registered."""
        server = hashmatchd_server.Server(ARGS.bin, ARGS.testdata, v1, data, port=port)
        for agency, key in (("Unit 7", "unit7"), ("Other", "other")):
            r = run("hashmatch", "keys", "add-agency", "--name", agency, "--pubkey",
                    os.path.join(cls.tmp, key + ".pub"), *server.connect_flags("admin"))
            # A restart on the same data keeps the registrations.
            assert r.returncode == 0 or "ALREADY_EXISTS" in r.stderr, r.stderr
        return server

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def connect(cls, role):
        return cls.server.connect_flags(role)

    @classmethod
    def admin(cls, *args):
        r = run("hashmatch", "keys", *args, *cls.connect("admin"))
        assert r.returncode == 0, r.stderr
        return r.stdout

    def push(self, bundle, role="police", *flags, server=None):
        return run("hashmatch-ingest", "push", bundle,
                   *(server or self.server).connect_flags(role), *flags)

    def sign(self, bundle, key="unit7"):
        r = run("hashmatch-ingest", "sign", bundle, "--key", os.path.join(self.tmp, key + ".key"))
        self.assertEqual(r.returncode, 0, r.stderr)

    def match(self, path):
        """hashmatch match as a platform: 0 match, 1 no match."""
        r = run("hashmatch", "match", path, *self.connect("platform"))
        self.assertIn(r.returncode, (0, 1), r.stderr)
        return r.returncode == 0

    def descriptor_count(self, server=None):
        server = server or self.server
        stats = server.admin.GetStats(v1.admin.GetStatsRequest(), metadata=server.auth("admin"))
        return sum(c.count for c in stats.descriptors)

    def image_bundle(self, name, agency="Unit 7"):
        folder = os.path.join(self.tmp, name + "-images")
        os.makedirs(folder, exist_ok=True)
        for image in EDGE_IMAGES:
            shutil.copy(os.path.join(ARGS.testdata, "pdq", "edge", image), folder)
        bundle = os.path.join(self.tmp, name + ".bundle")
        r = run("hashmatch-ingest", "hash", folder, "--out", bundle, "--agency", agency,
                "--category", "A", "--case-ref", "case-77")
        self.assertEqual(r.returncode, 0, r.stderr)
        return folder, bundle

    def unknown(self, bundle):
        """Whether no value of the bundle's records is stored."""
        with open(bundle, "rb") as f:
            data = f.read()
        values = [hashlib.sha256(f"refused:{i}".encode()).digest() for i in range(20)]
        self.assertTrue(all(v in data for v in values))
        for value in values:
            try:
                self.server.ingest.GetDescriptor(v1.ingest.GetDescriptorRequest(
                    hash=v1.types.HashValue(signal=v1.types.SIGNAL_SHA256, raw=value)),
                    metadata=self.server.auth("police"))
                return False
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        return True

    def test_refusals_add_nothing(self):
        # Values no other test stores, so that a wrong import could not hide as a merge.
        bundle = os.path.join(self.tmp, "refused.bundle")
        write_digest_bundle(bundle, "Unit 7", 20, "refused")
        before = self.descriptor_count()
        self.assertTrue(self.unknown(bundle))
        r = self.push(bundle)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not signed", r.stderr)

        # Signed by a key nobody registered.
        r = run("hashmatch-ingest", "keygen", "--out", os.path.join(self.tmp, "stranger"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sign(bundle, "stranger")
        r = self.push(bundle)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("rejected: all 20 records, nothing added", r.stdout)
        self.assertIn("not a registered agency key", r.stdout)

        # Signed by a registered key of another agency than the header names.
        self.sign(bundle, "other")
        r = self.push(bundle)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('registered to "Other"', r.stdout)

        # Tampered after signing, and truncated: sent raw, past the tool's own checks.
        self.sign(bundle, "unit7")
        with open(bundle, "rb") as f:
            data = f.read()
        category = data.index(b"\x12\x01B")  # the first record's category field
        tampered = data[:category] + b"\x12\x01C" + data[category + 3:]
        for broken, want in ((tampered, "does not match the records"),
                             (data[:len(data) - 40], "truncated")):
            file_sha256 = hashlib.sha256(broken).hexdigest()
            requests = iter([v1.ingest.PushBundleRequest(file_sha256=file_sha256, data=broken,
                                                         finish=True)])
            with self.assertRaises(grpc.RpcError) as refused:
                self.server.ingest.PushBundle(requests, metadata=self.server.auth("police"))
            self.assertIn("bundle refused, nothing added", refused.exception.details())
            self.assertIn(want, refused.exception.details())
            upload = self.server.ingest.GetBundleUpload(
                v1.ingest.GetBundleUploadRequest(file_sha256=file_sha256),
                metadata=self.server.auth("police"))
            self.assertEqual(upload.received_bytes, 0)  # discarded: a clean re-push starts over
        self.assertEqual(self.descriptor_count(), before)
        self.assertTrue(self.unknown(bundle))
        # The same bundle, signed right and pushed whole, is imported: the refusals above were
        # about the bundle, not about its values.
        self.sign(bundle, "unit7")
        r = self.push(bundle)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("added 20, merged 0", r.stdout)
        self.assertFalse(self.unknown(bundle))

    def test_video_bundle_push_then_a_reencoded_copy_matches(self):
        folder = os.path.join(self.tmp, "videos")
        os.makedirs(folder)
        # Not the shared videos: --demo already knows those.
        source = os.path.join(folder, "pattern.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "mandelbrot=size=320x240:rate=25", "-t", "6", "-pix_fmt", "yuv420p",
                        source], check=True, timeout=120)
        copy = os.path.join(self.tmp, "pattern-copy.mkv")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", source, "-vf", "scale=160:120",
                        "-c:v", "libx264", "-crf", "30", copy], check=True, timeout=120)
        r = run("hashmatch", "match", copy, *self.connect("ict"))
        self.assertNotIn("signal=VPDQ", r.stdout)
        bundle = os.path.join(self.tmp, "videos.bundle")
        r = run("hashmatch-ingest", "hash", folder, "--out", bundle, "--agency", "Unit 7",
                "--category", "A")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sign(bundle)
        r = self.push(bundle, "police")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("imported: 4 records", r.stdout)  # VPDQ + the file's three digests
        r = run("hashmatch", "match", copy, *self.connect("ict"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"signal=VPDQ distance=\d+ category=A video query=100% ")
        r = run("hashmatch", "match", os.path.join(folder, os.path.basename(source)),
                *self.connect("ict"))
        self.assertIn("signal=SHA256 distance=0 category=A file", r.stdout)

    def test_ict_candidates_police_verify_then_retract(self):
        folder, bundle = self.image_bundle("flow")
        self.sign(bundle)
        self.assertFalse(self.match(folder))

        r = self.push(bundle, "ict")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("imported: 20 records from agency \"Unit 7\"", r.stdout)
        self.assertIn("status CANDIDATE", r.stdout)
        self.assertFalse(self.match(folder))  # candidates do not match for platforms
        r = self.push(bundle, "ict")  # idempotent
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("was already imported", r.stdout)

        r = run("hashmatch-ingest", "review", "list", *self.connect("ict"))
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [line.split("\t") for line in r.stdout.splitlines()]
        mine = [row for row in rows if row[6] == "Unit 7"]
        self.assertEqual(len(mine), 20, r.stdout)
        self.assertTrue(all(row[5] == "CANDIDATE" for row in mine))
        r = run("hashmatch-ingest", "review", "verify", *[row[0] for row in mine],
                *self.connect("ict"))
        self.assertEqual(r.returncode, 2)  # ict may not verify
        self.assertIn("PERMISSION_DENIED", r.stderr)
        r = run("hashmatch-ingest", "review", "verify", *[row[0] for row in mine],
                *self.connect("police"))
        self.assertEqual(r.returncode, 0, r.stderr)
        for image in EDGE_IMAGES:
            self.assertTrue(self.match(os.path.join(folder, image)), image)

        # The same bundle from police: known values, now VERIFIED; provenance has the bundle id.
        r = self.push(bundle, "police")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("added 0, merged 20", r.stdout)
        d = self.server.ingest.GetDescriptor(v1.ingest.GetDescriptorRequest(id=int(mine[0][0])),
                                             metadata=self.server.auth("police"))
        bundle_ids = {p.bundle_id for p in d.provenance}
        self.assertEqual(len(bundle_ids - {""}), 1)
        self.assertIn("case-77", {p.case_ref for p in d.provenance})

        # Retract every descriptor of one image: it stops matching within a second.
        r = run("hashmatch-ingest", "review", "list", "--status", "verified",
                *self.connect("police"))
        first = os.path.join(folder, EDGE_IMAGES[0])
        local = run("hashmatch", "hash", first).stdout
        ids = [row.split("\t")[0] for row in r.stdout.splitlines()
               if row.split("\t")[2] in local]
        self.assertEqual(len(ids), 4, (local, r.stdout))  # PDQ, MD5, SHA-1, SHA-256
        r = run("hashmatch-ingest", "review", "retract", *ids, *self.connect("police"))
        self.assertEqual(r.returncode, 2)  # --reason is required
        r = run("hashmatch-ingest", "review", "retract", *ids, "--reason", "court order",
                *self.connect("police"))
        self.assertEqual(r.returncode, 0, r.stderr)
        time.sleep(1)
        self.assertFalse(self.match(first))
        self.assertTrue(self.match(os.path.join(folder, EDGE_IMAGES[1])))

    def test_resume_after_drop_and_kill(self):
        # A server of its own: this test kills and restarts it.
        data = os.path.join(self.tmp, "resume-data")
        server = self.start_server(data)
        try:
            count = 40_000
            bundle = os.path.join(self.tmp, "bulk.bundle")
            write_digest_bundle(bundle, "Unit 7", count, "bulk")
            self.sign(bundle)
            size = os.path.getsize(bundle)
            with open(bundle, "rb") as f:
                file_sha256 = hashlib.sha256(f.read()).hexdigest()
            before = self.descriptor_count(server)

            # The push stops after half the bytes; the server is then killed with -9.
            r = self.push(bundle, "police", "--chunk-bytes", "65536", "--stop-after-bytes",
                          str(size // 2), server=server)
            self.assertEqual(r.returncode, 2)
            staged = server.ingest.GetBundleUpload(
                v1.ingest.GetBundleUploadRequest(file_sha256=file_sha256),
                metadata=server.auth("police")).received_bytes
            self.assertIn(f"{staged} are staged", r.stderr)
            self.assertGreaterEqual(staged, size // 2)
            self.assertLess(staged, size)
            port = server.port
            server.kill()
            server = self.start_server(data, port=port)
            r = self.push(bundle, server=server)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f"resuming at byte {staged} of {size}", r.stderr)
            self.assertIn(f"added {count}, merged 0", r.stdout)

            # A second bundle, with the server killed while the push is under way: the tool
            # retries until the restarted server (same port) takes the rest.
            bundle2 = os.path.join(self.tmp, "bulk2.bundle")
            write_digest_bundle(bundle2, "Unit 7", count, "bulk2")
            self.sign(bundle2)
            with open(bundle2, "rb") as f:
                file2_sha256 = hashlib.sha256(f.read()).hexdigest()
            pusher = subprocess.Popen(
                [os.path.join(ARGS.bin, "hashmatch-ingest"), "push", bundle2,
                 *server.connect_flags("police"), "--chunk-bytes", "1024"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            ask = v1.ingest.GetBundleUploadRequest(file_sha256=file2_sha256)
            deadline = time.time() + 30
            while server.ingest.GetBundleUpload(
                    ask, metadata=server.auth("police")).received_bytes == 0:
                self.assertLess(time.time(), deadline, "the push never started")
                time.sleep(0.01)
            server.kill()
            server = self.start_server(data, port=port)
            out, err = pusher.communicate(timeout=120)
            self.assertEqual(pusher.returncode, 0, err)
            self.assertIn("retrying", err)
            self.assertIn(f"imported: {count} records", out)

            # Nothing lost, nothing twice; pushing again adds nothing.
            self.assertEqual(self.descriptor_count(server), before + 2 * count)
            for b in (bundle, bundle2):
                r = self.push(b, server=server)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("was already imported", r.stdout)
            self.assertEqual(self.descriptor_count(server), before + 2 * count)
        finally:
            server.kill()

    def test_import_push_export_round_trip(self):
        """Each exchange format: import -> sign -> push (police) -> export from the server gives
        the same records; malformed lines are refused with their line numbers."""
        def hexes(seed, count, size):
            return [hashlib.sha256(f"{seed}{i}".encode()).hexdigest()[:size] for i in range(count)]

        # Distinct values per format: a value already known keeps its first category.
        pdq, pdq2 = hexes("rt-pdq", 3, 64), hexes("rt-pdq2", 3, 64)
        digests = hexes("rt-md5", 2, 32) + hexes("rt-sha1", 2, 40) + hexes("rt-sha256", 2, 64)
        md5s = hexes("rt-vics", 2, 32)
        inputs = {
            "te-csv": ("signal_type,signal_str,collab,category,tags\r\n" + "".join(
                f"pdq,{h},c,POSITIVE_CLASS,RT1\r\n" for h in pdq), "RT1", []),
            "hma-csv": ("".join(f"{h},{i},{i},,RT2\n" for i, h in enumerate(pdq2)), "RT2", []),
            "digest-list": ("".join(h + "\n" for h in digests), "RT3", ["--category", "RT3"]),
            "vics-json": ('{"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/'
                          'DataModels/2.0.xml/Default/$metadata#Media","value":[' + ",".join(
                              f'{{"MediaID":{i + 1},"Category":201,"MD5":"{h.upper()}"}}'
                              for i, h in enumerate(md5s)) + "]}", "201", []),
        }
        for fmt, (text, category, flags) in inputs.items():
            source = os.path.join(self.tmp, "rt." + fmt)
            with open(source, "w", newline="") as f:
                f.write(text)
            bundle = os.path.join(self.tmp, "rt-" + fmt + ".bundle")
            r = run("hashmatch-ingest", "import", source, "--format", fmt, "--out", bundle,
                    "--agency", "Unit 7", *flags)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.sign(bundle)
            r = self.push(bundle)
            self.assertEqual(r.returncode, 0, r.stderr)
            exported = os.path.join(self.tmp, "rt-out." + fmt)
            r = run("hashmatch-ingest", "export", "--format", fmt, "--category", category,
                    "--out", exported, *self.connect("ict"))
            self.assertEqual(r.returncode, 0, r.stderr)
            again = os.path.join(self.tmp, "rt-again-" + fmt + ".bundle")
            r = run("hashmatch-ingest", "import", exported, "--format", fmt, "--out", again,
                    "--agency", "Unit 7", *flags)
            self.assertEqual(r.returncode, 0, r.stderr)
            shown = [run("hashmatch-ingest", "export", "--from-bundle", b, "--format",
                         "digest-list" if fmt == "digest-list" else fmt).stdout
                     for b in (bundle, again)]
            if fmt in ("te-csv", "hma-csv"):  # compare the values, not the row ids
                shown = [sorted(line.split(",")[1 if fmt == "te-csv" else 0]
                                for line in s.splitlines()[1 if fmt == "te-csv" else 0:])
                         for s in shown]
            else:
                shown = [sorted(s.replace("},{", "}\n{").splitlines()) for s in shown]
            self.assertEqual(shown[0], shown[1], fmt)

        # Straight to the server (AddDescriptors) with an ict key: candidates.
        direct = os.path.join(self.tmp, "direct.txt")
        with open(direct, "w") as f:
            f.write("".join(h + "\n" for h in hexes("rt-direct", 2, 64)))
        r = run("hashmatch-ingest", "import", direct, "--format", "digest-list", "--category",
                "RT4", "--agency", "ICT", "--to-server", *self.connect("ict"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("added 2, merged 0", r.stdout)
        r = run("hashmatch-ingest", "review", "list", "--category", "RT4", *self.connect("ict"))
        self.assertEqual([row.split("\t")[5] for row in r.stdout.splitlines()],
                         ["CANDIDATE", "CANDIDATE"])
        r = run("hashmatch-ingest", "import", direct, "--format", "digest-list", "--category",
                "RT4", "--agency", "ICT", "--to-server", "--out", "x.bundle")
        self.assertEqual(r.returncode, 2)
        self.assertIn("either --out BUNDLE or --to-server", r.stderr)

        # Malformed input: every bad line named, nothing written, nothing added.
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write(f"pdq,{pdq[0]},1,1,X\nnot,enough\n{pdq[1][:60]},2,2,,X\n")
        before = self.descriptor_count()
        out = os.path.join(self.tmp, "bad.bundle")
        r = run("hashmatch-ingest", "import", bad, "--format", "hma-csv", "--out", out,
                "--agency", "Unit 7")
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 1: pdq: 3 characters", r.stderr)
        self.assertIn("line 2: 2 fields; hma-csv has 5", r.stderr)
        self.assertIn("line 3: pdq: 60 characters", r.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(self.descriptor_count(), before)

    def test_agency_keys(self):
        out = self.admin("agencies")
        self.assertIn("\tactive\tUnit 7", out)
        self.assertIn("\tactive\tOther", out)
        r = run("hashmatch", "keys", "add-agency", "--name", "Again", "--pubkey",
                os.path.join(self.tmp, "other.pub"), *self.connect("admin"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("ALREADY_EXISTS", r.stderr)
        r = run("hashmatch", "keys", "agencies", *self.connect("police"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("PERMISSION_DENIED", r.stderr)

        # A revoked key's bundles are refused.
        run("hashmatch-ingest", "keygen", "--out", os.path.join(self.tmp, "gone"))
        fingerprint = self.admin("add-agency", "--name", "Gone", "--pubkey",
                                 os.path.join(self.tmp, "gone.pub")).split("\t")[0]
        self.admin("revoke-agency", fingerprint)
        self.assertIn(f"{fingerprint}\trevoked\tGone", self.admin("agencies"))
        bundle = os.path.join(self.tmp, "gone.bundle")
        write_digest_bundle(bundle, "Gone", 3, "gone")
        self.sign(bundle, "gone")
        r = self.push(bundle)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not a registered agency key", r.stdout)


if __name__ == "__main__":
    ARGS, rest = hashmatchd_server.parse_args()
    v1 = hashmatchd_server.load_v1(ARGS.python_dir)
    from hashmatch.v1 import bundle_pb2  # noqa: E402 (on the path load_v1 added)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
