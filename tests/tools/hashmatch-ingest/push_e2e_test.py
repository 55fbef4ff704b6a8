#!/usr/bin/python3
"""End-to-end: hashmatch-ingest push and review, and hashmatch keys, against the real hashmatchd
on loopback. Signed bundles from registered agencies are imported (police: VERIFIED, ict:
CANDIDATE); unsigned, unknown-signer, wrong-agency, tampered and truncated bundles are refused
whole; re-pushes are idempotent; a push resumes after a dropped connection and after kill -9.

Usage: push_e2e_test.py --bin build/bin --python-dir build/python --testdata DIR
"""
import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest_e2e_base import E2eBase, EDGE_IMAGES, main  # noqa: E402

import grpc


class PushTest(E2eBase):
    def unknown(self, bundle):
        """Whether no value of the bundle's records is stored."""
        with open(bundle, "rb") as f:
            data = f.read()
        values = [hashlib.sha256(f"refused:{i}".encode()).digest() for i in range(20)]
        self.assertTrue(all(v in data for v in values))
        for value in values:
            try:
                self.server.ingest.GetDescriptor(self.v1.ingest.GetDescriptorRequest(
                    hash=self.v1.types.HashValue(signal=self.v1.types.SIGNAL_SHA256, raw=value)),
                    metadata=self.server.auth("police"))
                return False
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        return True

    def test_refusals_add_nothing(self):
        # Values no other test stores, so that a wrong import could not hide as a merge.
        bundle = os.path.join(self.tmp, "refused.bundle")
        self.write_digest_bundle(bundle, "Unit 7", 20, "refused")
        before = self.descriptor_count()
        self.assertTrue(self.unknown(bundle))
        r = self.push(bundle)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not signed", r.stderr)

        # Signed by a key nobody registered.
        r = self.run_tool("hashmatch-ingest", "keygen", "--out", os.path.join(self.tmp, "stranger"))
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
            requests = iter([self.v1.ingest.PushBundleRequest(file_sha256=file_sha256, data=broken,
                                                         finish=True)])
            with self.assertRaises(grpc.RpcError) as refused:
                self.server.ingest.PushBundle(requests, metadata=self.server.auth("police"))
            self.assertIn("bundle refused, nothing added", refused.exception.details())
            self.assertIn(want, refused.exception.details())
            upload = self.server.ingest.GetBundleUpload(
                self.v1.ingest.GetBundleUploadRequest(file_sha256=file_sha256),
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
        r = self.run_tool("hashmatch", "match", copy, *self.connect("ict"))
        self.assertNotIn("signal=VPDQ", r.stdout)
        bundle = os.path.join(self.tmp, "videos.bundle")
        r = self.run_tool("hashmatch-ingest", "hash", folder, "--out", bundle, "--agency", "Unit 7",
                "--category", "A")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sign(bundle)
        r = self.push(bundle, "police")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("imported: 4 records", r.stdout)  # VPDQ + the file's three digests
        r = self.run_tool("hashmatch", "match", copy, *self.connect("ict"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"signal=VPDQ distance=\d+ category=A video query=100% ")
        r = self.run_tool("hashmatch", "match", os.path.join(folder, os.path.basename(source)),
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

        r = self.run_tool("hashmatch-ingest", "review", "list", *self.connect("ict"))
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [line.split("\t") for line in r.stdout.splitlines()]
        mine = [row for row in rows if row[6] == "Unit 7"]
        self.assertEqual(len(mine), 20, r.stdout)
        self.assertTrue(all(row[5] == "CANDIDATE" for row in mine))
        r = self.run_tool("hashmatch-ingest", "review", "verify", *[row[0] for row in mine],
                *self.connect("ict"))
        self.assertEqual(r.returncode, 2)  # ict may not verify
        self.assertIn("PERMISSION_DENIED", r.stderr)
        r = self.run_tool("hashmatch-ingest", "review", "verify", *[row[0] for row in mine],
                *self.connect("police"))
        self.assertEqual(r.returncode, 0, r.stderr)
        for image in EDGE_IMAGES:
            self.assertTrue(self.match(os.path.join(folder, image)), image)

        # The same bundle from police: known values, now VERIFIED; provenance has the bundle id.
        r = self.push(bundle, "police")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("added 0, merged 20", r.stdout)
        d = self.server.ingest.GetDescriptor(self.v1.ingest.GetDescriptorRequest(id=int(mine[0][0])),
                                             metadata=self.server.auth("police"))
        bundle_ids = {p.bundle_id for p in d.provenance}
        self.assertEqual(len(bundle_ids - {""}), 1)
        self.assertIn("case-77", {p.case_ref for p in d.provenance})

        # Retract every descriptor of one image: it stops matching within a second.
        r = self.run_tool("hashmatch-ingest", "review", "list", "--status", "verified",
                *self.connect("police"))
        first = os.path.join(folder, EDGE_IMAGES[0])
        local = self.run_tool("hashmatch", "hash", first).stdout
        ids = [row.split("\t")[0] for row in r.stdout.splitlines()
               if row.split("\t")[2] in local]
        self.assertEqual(len(ids), 4, (local, r.stdout))  # PDQ, MD5, SHA-1, SHA-256
        r = self.run_tool("hashmatch-ingest", "review", "retract", *ids, *self.connect("police"))
        self.assertEqual(r.returncode, 2)  # --reason is required
        r = self.run_tool("hashmatch-ingest", "review", "retract", *ids, "--reason", "court order",
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
            self.write_digest_bundle(bundle, "Unit 7", count, "bulk")
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
                self.v1.ingest.GetBundleUploadRequest(file_sha256=file_sha256),
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
            self.write_digest_bundle(bundle2, "Unit 7", count, "bulk2")
            self.sign(bundle2)
            with open(bundle2, "rb") as f:
                file2_sha256 = hashlib.sha256(f.read()).hexdigest()
            pusher = subprocess.Popen(
                [os.path.join(self.args.bin, "hashmatch-ingest"), "push", bundle2,
                 *server.connect_flags("police"), "--chunk-bytes", "1024"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            ask = self.v1.ingest.GetBundleUploadRequest(file_sha256=file2_sha256)
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

    def test_agency_keys(self):
        out = self.admin("agencies")
        self.assertIn("\tactive\tUnit 7", out)
        self.assertIn("\tactive\tOther", out)
        r = self.run_tool("hashmatch", "keys", "add-agency", "--name", "Again", "--pubkey",
                os.path.join(self.tmp, "other.pub"), *self.connect("admin"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("ALREADY_EXISTS", r.stderr)
        r = self.run_tool("hashmatch", "keys", "agencies", *self.connect("police"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("PERMISSION_DENIED", r.stderr)

        # A revoked key's bundles are refused.
        self.run_tool("hashmatch-ingest", "keygen", "--out", os.path.join(self.tmp, "gone"))
        fingerprint = self.admin("add-agency", "--name", "Gone", "--pubkey",
                                 os.path.join(self.tmp, "gone.pub")).split("\t")[0]
        self.admin("revoke-agency", fingerprint)
        self.assertIn(f"{fingerprint}\trevoked\tGone", self.admin("agencies"))
        bundle = os.path.join(self.tmp, "gone.bundle")
        self.write_digest_bundle(bundle, "Gone", 3, "gone")
        self.sign(bundle, "gone")
        r = self.push(bundle)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not a registered agency key", r.stdout)


if __name__ == "__main__":
    main()
