#!/usr/bin/python3
"""End-to-end: the real hashmatchd on loopback (--demo, a fresh data folder) and a real grpcio
client. Matching by hash and by media, what each role sees, the role x RPC matrix, limits,
ingest and review taking effect live, the audit chain (and its tamper detection), restart.

Usage: hashmatchd_e2e_test.py --bin build/bin --python-dir build/python --testdata DIR
"""
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testing"))
from pdq_testdata import expected_pdq  # noqa: E402
import hashmatchd_server  # noqa: E402

import grpc

ARGS = None
v1 = None  # the generated modules, imported in main()


def flip_bits(hex_value, count, rng):
    value = bytearray(bytes.fromhex(hex_value))
    for bit in rng.sample(range(256), count):
        value[bit // 8] ^= 1 << (bit % 8)
    return value.hex()


def Server(data, *flags):
    return hashmatchd_server.Server(ARGS.bin, ARGS.testdata, v1, data, *flags)


class HashmatchdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hm_e2e.")
        cls.data = os.path.join(cls.tmp, "data")
        cls.server = Server(cls.data)
        cls.pdq = expected_pdq(ARGS.testdata)

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def hashes(self, role, items, **options):
        request = v1.match.MatchHashesRequest(hashes=items,
                                              options=v1.match.MatchOptions(**options))
        return self.server.match.MatchHashes(request, metadata=self.server.auth(role))

    def pdq_item(self, hex_value, quality=100):
        return v1.types.HashValue(signal=v1.types.SIGNAL_PDQ, hex=hex_value, quality=quality)

    def test_platform_sees_match_or_not_and_nothing_more(self):
        known, _ = self.pdq["images/p01-mate-aqua.jpg"]
        rng = random.Random(1)
        items = [self.pdq_item(known),
                 self.pdq_item(bytes(rng.getrandbits(8) for _ in range(32)).hex()),
                 self.pdq_item("zz" * 32),
                 v1.types.HashValue(signal=v1.types.SIGNAL_MD5, hex="00" * 15)]
        response = self.hashes("platform", items)
        self.assertEqual([r.index for r in response.results], [0, 1, 2, 3])
        first = response.results[0]
        self.assertTrue(first.matched)
        self.assertEqual(first.matches[0].category, "demo")
        self.assertTrue(first.matches[0].match_ref.startswith("m_"))
        self.assertEqual(first.matches[0].descriptor_id, 0)  # hidden from platforms
        self.assertEqual(first.matches[0].distance, 0)
        self.assertFalse(response.results[1].matched)
        self.assertEqual(response.results[2].error.code, "INVALID_ARGUMENT")
        self.assertIn("hashes[2].hex: 'z' at position 0 is not a hex digit", response.results[2].error.message)
        self.assertIn("hashes[3].hex: 30 hex digits, MD5 needs 32", response.results[3].error.message)

    def test_ict_sees_distance_of_a_transformed_hash(self):
        known, _ = self.pdq["images/p02-mate-blinds.jpg"]
        near = flip_bits(known, 9, random.Random(2))
        response = self.hashes("ict", [self.pdq_item(near)])
        match = response.results[0].matches[0]
        self.assertEqual(match.distance, 9)
        self.assertGreater(match.descriptor_id, 0)
        self.assertEqual(match.status, v1.types.DESCRIPTOR_STATUS_VERIFIED)
        far = flip_bits(known, 40, random.Random(3))
        self.assertFalse(self.hashes("ict", [self.pdq_item(far)]).results[0].matched)
        self.assertTrue(self.hashes("ict", [self.pdq_item(far)],
                                    max_distance=40).results[0].matched)
        with self.assertRaises(grpc.RpcError) as denied:
            self.hashes("platform", [self.pdq_item(far)], max_distance=40)
        self.assertEqual(denied.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_match_media_for_an_edited_copy_and_an_unrelated_image(self):
        variants = os.path.join(ARGS.testdata, "pdq", "variants")
        with open(os.path.join(variants, "p01-mate-aqua__jpeg_q30.jpg"), "rb") as f:
            edited = f.read()
        response = self.server.match.MatchMedia(v1.match.MatchMediaRequest(media=edited),
                                                metadata=self.server.auth("police"))
        self.assertTrue(response.matched)
        self.assertEqual(len(response.computed.pdq), 32)
        self.assertEqual(response.matches[0].distance, 2)  # variants.tsv: distance_to_original 2
        self.assertEqual(response.matches[0].provenance[0].agency, "demo")
        with open(os.path.join(ARGS.testdata, "pdq", "edge", "e07-exact-512x512.png"), "rb") as f:
            unrelated = f.read()
        response = self.server.match.MatchMedia(v1.match.MatchMediaRequest(media=unrelated),
                                                metadata=self.server.auth("platform"))
        self.assertFalse(response.matched)
        with self.assertRaises(grpc.RpcError) as bad:
            self.server.match.MatchMedia(v1.match.MatchMediaRequest(media=edited[:200]),
                                         metadata=self.server.auth("platform"))
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("media:", bad.exception.details())

    def test_roles_times_rpcs(self):
        s = self.server
        calls = {
            "MatchHashes": lambda md: s.match.MatchHashes(v1.match.MatchHashesRequest(), metadata=md),
            "MatchMedia": lambda md: s.match.MatchMedia(v1.match.MatchMediaRequest(), metadata=md),
            "MatchVideo": lambda md: s.match.MatchVideo(iter([]), metadata=md),
            "AddDescriptors": lambda md: list(s.ingest.AddDescriptors(iter([]), metadata=md)),
            "SetStatus": lambda md: s.ingest.SetStatus(v1.ingest.SetStatusRequest(), metadata=md),
            "GetDescriptor": lambda md: s.ingest.GetDescriptor(
                v1.ingest.GetDescriptorRequest(id=1), metadata=md),
            "GetStats": lambda md: s.admin.GetStats(v1.admin.GetStatsRequest(), metadata=md),
            "CreateApiKey": lambda md: s.admin.CreateApiKey(v1.admin.CreateApiKeyRequest(),
                                                            metadata=md),
            "ListApiKeys": lambda md: s.admin.ListApiKeys(v1.admin.ListApiKeysRequest(),
                                                          metadata=md),
            "RevokeApiKey": lambda md: s.admin.RevokeApiKey(
                v1.admin.RevokeApiKeyRequest(key_id="k_none"), metadata=md),
            "VerifyAudit": lambda md: s.admin.VerifyAudit(v1.admin.VerifyAuditRequest(),
                                                          metadata=md),
            "ListDescriptors": lambda md: s.ingest.ListDescriptors(
                v1.ingest.ListDescriptorsRequest(status=1), metadata=md),
            "GetBundleUpload": lambda md: s.ingest.GetBundleUpload(
                v1.ingest.GetBundleUploadRequest(file_sha256="0" * 64), metadata=md),
            "PushBundle": lambda md: s.ingest.PushBundle(iter([]), metadata=md),
            "AddAgencyKey": lambda md: s.admin.AddAgencyKey(v1.admin.AddAgencyKeyRequest(),
                                                            metadata=md),
            "ListAgencyKeys": lambda md: s.admin.ListAgencyKeys(
                v1.admin.ListAgencyKeysRequest(), metadata=md),
            "RevokeAgencyKey": lambda md: s.admin.RevokeAgencyKey(
                v1.admin.RevokeAgencyKeyRequest(fingerprint="0" * 16), metadata=md),
        }
        match = {"MatchHashes", "MatchMedia", "MatchVideo"}
        ingest = {"AddDescriptors", "GetDescriptor", "ListDescriptors", "GetBundleUpload",
                  "PushBundle"}
        allowed = {"platform": match, "ict": match | ingest,
                   "police": match | ingest | {"SetStatus"},
                   "admin": {"GetStats", "CreateApiKey", "ListApiKeys", "RevokeApiKey",
                             "VerifyAudit", "AddAgencyKey", "ListAgencyKeys", "RevokeAgencyKey"}}
        api = {m.name for module, service in ((v1.match, "MatchService"),
                                              (v1.ingest, "IngestService"),
                                              (v1.admin, "AdminService"))
               for m in module.DESCRIPTOR.services_by_name[service].methods}
        self.assertEqual(set(calls), api)  # every RPC of the API, from the proto itself

        def code(call, metadata):
            try:
                call(metadata)
                return grpc.StatusCode.OK
            except grpc.RpcError as e:
                return e.code()

        for name, call in calls.items():
            self.assertEqual(code(call, []), grpc.StatusCode.UNAUTHENTICATED, name)
            self.assertEqual(code(call, [("authorization", "Bearer hm_" + "0" * 64)]),
                             grpc.StatusCode.UNAUTHENTICATED, name)
            for role, methods in allowed.items():
                got = code(call, s.auth(role))
                if name in methods:
                    self.assertNotIn(got, (grpc.StatusCode.PERMISSION_DENIED,
                                           grpc.StatusCode.UNAUTHENTICATED), f"{role} {name}")
                else:
                    self.assertEqual(got, grpc.StatusCode.PERMISSION_DENIED, f"{role} {name}")

    def test_batch_limit(self):
        items = [self.pdq_item("00" * 32)] * 10001
        with self.assertRaises(grpc.RpcError) as over:
            self.hashes("ict", items)
        self.assertEqual(over.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("the batch limit is 10000", over.exception.details())

    def add(self, role, values, category="B"):
        request = v1.ingest.AddDescriptorsRequest(
            contribution=v1.ingest.Contribution(agency="unit-7", case_ref="case-42"),
            items=[v1.ingest.NewDescriptor(hash=self.pdq_item(h), category=category)
                   for h in values])
        return list(self.server.ingest.AddDescriptors(iter([request]),
                                                      metadata=self.server.auth(role)))

    def test_ingest_review_and_retraction_take_effect_live(self):
        rng = random.Random(4)
        police_value, ict_value = (bytes(rng.getrandbits(8) for _ in range(32)).hex()
                                   for _ in range(2))
        added = self.add("police", [police_value])
        self.assertEqual(added[0].outcomes, [v1.ingest.ADD_OUTCOME_ADDED])
        self.assertEqual(self.add("police", [police_value])[0].outcomes,
                         [v1.ingest.ADD_OUTCOME_MERGED])  # idempotent
        self.assertTrue(self.hashes("platform", [self.pdq_item(police_value)]).results[0].matched)

        candidate = self.add("ict", [ict_value])[0].ids[0]
        self.assertFalse(self.hashes("platform", [self.pdq_item(ict_value)]).results[0].matched)
        self.assertTrue(self.hashes("ict", [self.pdq_item(ict_value)],
                                    include_candidates=True).results[0].matched)
        police = self.server.auth("police")
        self.server.ingest.SetStatus(v1.ingest.SetStatusRequest(
            descriptor_id=candidate, status=v1.types.DESCRIPTOR_STATUS_VERIFIED), metadata=police)
        self.assertTrue(self.hashes("platform", [self.pdq_item(ict_value)]).results[0].matched)
        with self.assertRaises(grpc.RpcError) as no_reason:
            self.server.ingest.SetStatus(v1.ingest.SetStatusRequest(
                descriptor_id=candidate, status=v1.types.DESCRIPTOR_STATUS_RETRACTED),
                metadata=police)
        self.assertEqual(no_reason.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.server.ingest.SetStatus(v1.ingest.SetStatusRequest(
            descriptor_id=candidate, status=v1.types.DESCRIPTOR_STATUS_RETRACTED,
            reason="duplicate of a better hash"), metadata=police)
        self.assertFalse(self.hashes("platform", [self.pdq_item(ict_value)]).results[0].matched)

        # Case references reach police only.
        got = self.server.ingest.GetDescriptor(v1.ingest.GetDescriptorRequest(id=added[0].ids[0]),
                                               metadata=police)
        self.assertEqual(got.provenance[0].case_ref, "case-42")
        got = self.server.ingest.GetDescriptor(v1.ingest.GetDescriptorRequest(id=added[0].ids[0]),
                                               metadata=self.server.auth("ict"))
        self.assertEqual(got.provenance[0].case_ref, "")

        # A bad batch adds nothing and names the item.
        with self.assertRaises(grpc.RpcError) as bad:
            self.add("police", [flip_bits(police_value, 3, rng), "12" * 31])
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("batch 0: items[1].hash.hex: 62 hex digits", bad.exception.details())

    def cli(self, *args):
        return subprocess.run(
            [os.path.join(ARGS.bin, "hashmatch"), *args, "--server",
             f"127.0.0.1:{self.server.port}", "--key-file",
             os.path.join(self.data, "demo-keys.json")],
            capture_output=True, text=True, timeout=120)

    def test_cli_match_stats_and_audit(self):
        images = os.path.join(ARGS.testdata, "pdq")
        known = os.path.join(images, "images", "p03-mate-dune.jpg")
        unrelated = os.path.join(images, "edge", "e07-exact-512x512.png")
        edited = os.path.join(images, "variants", "p01-mate-aqua__jpeg_q30.jpg")
        run = self.cli("match", known, unrelated)
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = run.stdout.splitlines()
        self.assertTrue(lines[0].startswith(known + "\tmatch\tcategory=demo ref=m_"), lines)
        self.assertEqual(lines[1], unrelated + "\tno-match")
        self.assertEqual(self.cli("match", unrelated).returncode, 1)
        run = self.cli("match", "--role", "ict", "--send-media", edited)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stdout, r"\tmatch\tid=\d+ signal=PDQ distance=2 category=demo")
        run = self.cli("match", "--role", "admin", known)
        self.assertEqual(run.returncode, 2)
        self.assertIn("PERMISSION_DENIED: role admin may not call", run.stderr)
        run = self.cli("match", os.path.join(self.tmp, "missing.jpg"))
        self.assertEqual(run.returncode, 2)
        run = self.cli("stats")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("descriptors\tPDQ\tVERIFIED\tdemo\t", run.stdout)
        run = self.cli("audit", "verify")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stdout, r"^audit: intact, \d+ records")

    def test_python_example_client(self):
        known, quality = self.pdq["images/p04-mate-freshflower.jpg"]
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                               "tools", "python", "match_example.py")
        run = subprocess.run(
            ["/usr/bin/python3", example, "--python-dir", ARGS.python_dir, "--server",
             f"127.0.0.1:{self.server.port}", "--key-file",
             os.path.join(self.data, "demo-keys.json"), "--role", "ict"],
            input=f"pdq {known} {quality}\nmd5 {'0' * 32}\nsha1 xyz\n", capture_output=True,
            text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = run.stdout.splitlines()
        self.assertRegex(lines[0], r"\tmatch category=demo ref=m_\w+ id=\d+ distance=0$")
        self.assertTrue(lines[1].endswith("\tno-match"), lines[1])
        self.assertIn("\terror hashes[2].hex: 3 hex digits, SHA1 needs 40", lines[2])

    def test_metrics_endpoint_and_server_deadline(self):
        # A second server: Prometheus on a loopback port, and a server-side deadline no call
        # can meet.
        server = Server(os.path.join(self.tmp, "metrics-data"), "--metrics-listen", "127.0.0.1:0",
                        "--max-call-seconds", "0.000001")
        metrics_port = server.metrics_port
        try:
            known, _ = self.pdq["images/p01-mate-aqua.jpg"]
            request = v1.match.MatchHashesRequest(hashes=[self.pdq_item(known)])
            with self.assertRaises(grpc.RpcError) as raised:
                server.match.MatchHashes(request, metadata=server.auth("platform"))
            self.assertEqual(raised.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            self.assertIn("server's limit of 1e-06 s (--max-call-seconds)",
                          raised.exception.details())

            def get(path):
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}{path}",
                                            timeout=10) as response:
                    return response.status, response.read().decode()

            self.assertEqual(get("/livez"), (200, "ok\n"))
            self.assertEqual(get("/readyz"), (200, "ready\n"))
            status, text = get("/metrics")
            self.assertEqual(status, 200)
            lines = text.splitlines()
            self.assertIn('hashmatch_rpc_calls_total{method="/hashmatch.v1.MatchService/'
                          'MatchHashes",code="DEADLINE_EXCEEDED"} 1', lines)
            self.assertIn('hashmatch_rpc_latency_seconds_count{method="/hashmatch.v1.'
                          'MatchService/MatchHashes"} 1', lines)
            self.assertIn('hashmatch_rpc_latency_seconds_bucket{method="/hashmatch.v1.'
                          'MatchService/MatchHashes",le="+Inf"} 1', lines)
            self.assertIn("hashmatch_ready 1", lines)
            # 44 images x 4 signals, and 4 videos x 3 digests plus their distinct VPDQ frames.
            self.assertIn("hashmatch_index_entries 216", lines)
            self.assertIn("# TYPE hashmatch_rpc_latency_seconds histogram", lines)
            # No key, hash or case data on the endpoint.
            self.assertNotIn(server.keys["platform"], text)
            self.assertNotIn(known, text)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_audit_chain_stats_restart_and_tamper(self):
        # A server of its own: the counts below are this test's calls only.
        data = os.path.join(self.tmp, "audit-data")
        server = Server(data)
        try:
            known, _ = self.pdq["images/p01-mate-aqua.jpg"]
            request = v1.match.MatchHashesRequest(hashes=[self.pdq_item(known)])
            for _ in range(4):
                self.assertTrue(server.match.MatchHashes(
                    request, metadata=server.auth("platform")).results[0].matched)
            with self.assertRaises(grpc.RpcError):
                server.match.MatchHashes(request, metadata=server.auth("admin"))
            admin = server.auth("admin")
            # Lookups are answered once their records are queued; they are committed within 5 ms
            # (VerifyAudit checks what is committed).
            time.sleep(0.5)
            verified = server.admin.VerifyAudit(v1.admin.VerifyAuditRequest(), metadata=admin)
            self.assertTrue(verified.intact, verified.problem)
            self.assertEqual(verified.records, 5)  # 4 OK + 1 PERMISSION_DENIED lookups
            stats = server.admin.GetStats(v1.admin.GetStatsRequest(), metadata=admin)
            self.assertEqual(stats.lookups, 4)
            self.assertEqual(stats.matches, 4)
            self.assertEqual(stats.index_entries, 216)  # the demo: 44 images x 4, the videos
            methods = {m.method: m for m in stats.methods}
            match_hashes = methods["/hashmatch.v1.MatchService/MatchHashes"]
            self.assertEqual(dict(match_hashes.calls_by_code), {"OK": 4, "PERMISSION_DENIED": 1})
            self.assertEqual(sum(match_hashes.latency_bucket_counts), 5)
            self.assertGreater(match_hashes.latency_p99_seconds, 0)
            self.assertGreaterEqual(match_hashes.latency_p99_seconds,
                                    match_hashes.latency_p50_seconds)
            self.assertEqual(server.stop(), 0)

            with sqlite3.connect(os.path.join(data, "audit.db")) as db:
                db.execute("UPDATE audit SET record = record || '7' WHERE seq = 3")  # one more id
            server = Server(data)
            self.assertTrue(server.match.MatchHashes(
                request, metadata=server.auth("platform")).results[0].matched)
            verified = server.admin.VerifyAudit(v1.admin.VerifyAuditRequest(),
                                                metadata=server.auth("admin"))
            self.assertFalse(verified.intact)
            self.assertTrue(verified.problem.startswith("record 3:"), verified.problem)
            run = subprocess.run(
                [os.path.join(ARGS.bin, "hashmatch"), "audit", "verify", *server.connect_flags(
                    "admin")], capture_output=True, text=True, timeout=120)
            self.assertEqual(run.returncode, 1)
            self.assertIn("NOT intact after 2 good records: record 3:", run.stdout)
        finally:
            server.kill()

    def test_cli_reads_a_compact_json_key_file(self):
        compact = os.path.join(self.tmp, "compact-keys.json")
        with open(compact, "w") as f:
            f.write('{"platform":"%s"}' % self.server.keys["platform"])
        known = os.path.join(ARGS.testdata, "pdq", "images", "p03-mate-dune.jpg")
        run = subprocess.run([os.path.join(ARGS.bin, "hashmatch"), "match", known, "--server",
                              self.server.address, "--key-file", compact],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("\tmatch\tcategory=demo", run.stdout)
        run = subprocess.run([os.path.join(ARGS.bin, "hashmatch"), "match", known, "--server",
                              self.server.address, "--key-file", compact, "--role", "ict"],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 2)
        self.assertIn("has no key for role ict", run.stderr)

if __name__ == "__main__":
    ARGS, rest = hashmatchd_server.parse_args()
    v1 = hashmatchd_server.load_v1(ARGS.python_dir)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
