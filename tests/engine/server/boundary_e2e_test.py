#!/usr/bin/python3
"""End-to-end tests of hashmatchd's boundary, each on a server of its own: TLS and mutual TLS
with throwaway certificates, the refusal of a non-loopback listener without TLS, the per-key rate
limit, the documented error codes of the ingest and admin RPCs, UNAVAILABLE while loading and
while draining, and a SIGTERM drain that lets a call in flight finish, writes the snapshot, and
does not wait for idle client connections.

Usage: boundary_e2e_test.py --bin build/bin --python-dir build/python --testdata DIR
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testing"))
import hashmatchd_server  # noqa: E402

import grpc

ARGS = None
v1 = None


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder):
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate,
    all signed by the CA (PEM files in `folder`)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hm-test-ca",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)
    with open(os.path.join(folder, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, extra in (("server", ["-extfile", "server.ext"]), ("client", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=hm-test-{name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "1", "-out", f"{name}.pem", *extra, cwd=folder)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def code_of(call):
    try:
        call()
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


class BoundaryTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hm_boundary.")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, name, *flags, **options):
        return hashmatchd_server.Server(ARGS.bin, ARGS.testdata, v1, os.path.join(self.tmp, name),
                                        *flags, **options)

    def stats_call(self, channel, key):
        stub = v1.admin_grpc.AdminServiceStub(channel)
        return lambda: stub.GetStats(v1.admin.GetStatsRequest(),
                                     metadata=[("authorization", "Bearer " + key)], timeout=10)

    def test_tls_and_mutual_tls(self):
        make_certificates(self.tmp)
        cert = lambda name: os.path.join(self.tmp, name)  # noqa: E731
        ca = read(cert("ca.pem"))
        with self.server("tls", "--tls-cert", cert("server.pem"), "--tls-key", cert("server.key"),
                         ready=False) as server:
            tls = grpc.secure_channel(server.address, grpc.ssl_channel_credentials(ca))
            grpc.channel_ready_future(tls).result(timeout=30)
            # The Python channel is TLS; the harness's plaintext channel cannot talk to it.
            deadline = time.time() + 30
            while code_of(self.stats_call(tls, "none")) == grpc.StatusCode.UNAVAILABLE:
                self.assertLess(time.time(), deadline)
                time.sleep(0.1)
            keys = server.keys  # written before the server listens
            self.assertEqual(code_of(self.stats_call(tls, keys["admin"])), grpc.StatusCode.OK)
            self.assertEqual(code_of(self.stats_call(server.channel, keys["admin"])),
                             grpc.StatusCode.UNAVAILABLE)
            # The CLI with --tls-ca.
            r = subprocess.run([os.path.join(ARGS.bin, "hashmatch"), "stats", "--server",
                                server.address, "--key-file", server.key_file(), "--tls-ca",
                                cert("ca.pem")], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("index_entries\t", r.stdout)
            # A client that trusts another CA is refused in the handshake.
            other = tempfile.mkdtemp(dir=self.tmp)
            make_certificates(other)
            wrong = grpc.secure_channel(server.address,
                                        grpc.ssl_channel_credentials(read(os.path.join(other,
                                                                                       "ca.pem"))))
            self.assertEqual(code_of(self.stats_call(wrong, keys["admin"])),
                             grpc.StatusCode.UNAVAILABLE)
            tls.close()
            wrong.close()

        with self.server("mtls", "--tls-cert", cert("server.pem"), "--tls-key", cert("server.key"),
                         "--tls-client-ca", cert("ca.pem"), ready=False) as server:
            admin = server.keys["admin"]
            with_cert = grpc.secure_channel(server.address, grpc.ssl_channel_credentials(
                ca, read(cert("client.key")), read(cert("client.pem"))))
            deadline = time.time() + 30
            while code_of(self.stats_call(with_cert, admin)) != grpc.StatusCode.OK:
                self.assertLess(time.time(), deadline, "mTLS client never got through")
                time.sleep(0.1)
            without = grpc.secure_channel(server.address, grpc.ssl_channel_credentials(ca))
            self.assertEqual(code_of(self.stats_call(without, admin)), grpc.StatusCode.UNAVAILABLE)
            with_cert.close()
            without.close()

    def test_non_loopback_listener_needs_tls(self):
        data = os.path.join(self.tmp, "open")
        for flags, want in ((["--listen", "0.0.0.0:0"], "refusing to serve 0.0.0.0:0 without TLS"),
                            (["--metrics-listen", "0.0.0.0:0"],
                             "refusing plain-HTTP metrics on 0.0.0.0:0")):
            r = subprocess.run([os.path.join(ARGS.bin, "hashmatchd"), "--data", data, *flags],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(want, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "store.db")))  # nothing started

    def test_rate_limit_per_key(self):
        with self.server("rate") as server:
            created = server.admin.CreateApiKey(
                v1.admin.CreateApiKeyRequest(role=v1.admin.ROLE_PLATFORM, label="slow",
                                             rate_per_second=1), metadata=server.auth("admin"))
            slow = [("authorization", "Bearer " + created.secret)]
            request = v1.match.MatchHashesRequest(hashes=[v1.types.HashValue(
                signal=v1.types.SIGNAL_MD5, hex="00" * 16)])
            codes = [code_of(lambda: server.match.MatchHashes(request, metadata=slow))
                     for _ in range(3)]
            # Bursts of two seconds' worth: two calls pass, the third is refused.
            self.assertEqual(codes, [grpc.StatusCode.OK] * 2 + [grpc.StatusCode.RESOURCE_EXHAUSTED])
            with self.assertRaises(grpc.RpcError) as limited:
                server.match.MatchHashes(request, metadata=slow)
            self.assertIn("rate limit of 1 calls per second for this key",
                          limited.exception.details())
            # Other keys are not affected.
            self.assertEqual(code_of(lambda: server.match.MatchHashes(
                request, metadata=server.auth("platform"))), grpc.StatusCode.OK)
            time.sleep(1.1)
            self.assertEqual(code_of(lambda: server.match.MatchHashes(request, metadata=slow)),
                             grpc.StatusCode.OK)

    def test_documented_error_codes_of_ingest_and_admin(self):
        with self.server("codes") as s:
            police, admin = s.auth("police"), s.auth("admin")
            value = hashlib.sha256(b"codes").hexdigest()
            added = list(s.ingest.AddDescriptors(iter([v1.ingest.AddDescriptorsRequest(
                contribution=v1.ingest.Contribution(agency="unit"),
                items=[v1.ingest.NewDescriptor(hash=v1.types.HashValue(
                    signal=v1.types.SIGNAL_SHA256, hex=value), category="A")])]),
                metadata=police))
            known = added[0].ids[0]

            def expect(code, text, call):
                with self.assertRaises(grpc.RpcError) as raised:
                    call()
                self.assertEqual(raised.exception.code(), code, raised.exception.details())
                self.assertIn(text, raised.exception.details())

            # SetStatus: NOT_FOUND for an unknown id; FAILED_PRECONDITION for a forbidden
            # transition (RETRACTED cannot become VERIFIED again).
            expect(grpc.StatusCode.NOT_FOUND, "no descriptor with id 999999",
                   lambda: s.ingest.SetStatus(v1.ingest.SetStatusRequest(
                       descriptor_id=999999, status=v1.types.DESCRIPTOR_STATUS_VERIFIED),
                       metadata=police))
            s.ingest.SetStatus(v1.ingest.SetStatusRequest(
                descriptor_id=known, status=v1.types.DESCRIPTOR_STATUS_RETRACTED, reason="test"),
                metadata=police)
            expect(grpc.StatusCode.FAILED_PRECONDITION, "cannot become VERIFIED",
                   lambda: s.ingest.SetStatus(v1.ingest.SetStatusRequest(
                       descriptor_id=known, status=v1.types.DESCRIPTOR_STATUS_VERIFIED),
                       metadata=police))
            # GetDescriptor: NOT_FOUND by id and by value.
            expect(grpc.StatusCode.NOT_FOUND, "no descriptor",
                   lambda: s.ingest.GetDescriptor(v1.ingest.GetDescriptorRequest(id=999999),
                                                  metadata=police))
            expect(grpc.StatusCode.NOT_FOUND, "no descriptor with that hash",
                   lambda: s.ingest.GetDescriptor(v1.ingest.GetDescriptorRequest(
                       hash=v1.types.HashValue(signal=v1.types.SIGNAL_SHA256, hex="11" * 32)),
                       metadata=police))
            # PushBundle: FAILED_PRECONDITION for an offset other than the staged size;
            # DATA_LOSS when the bytes do not hash to file_sha256 (and the staged file is gone).
            sha = hashlib.sha256(b"the real file").hexdigest()
            expect(grpc.StatusCode.FAILED_PRECONDITION, "offset: 10 but 0 bytes are staged",
                   lambda: s.ingest.PushBundle(iter([v1.ingest.PushBundleRequest(
                       file_sha256=sha, offset=10, data=b"x")]), metadata=police))
            expect(grpc.StatusCode.DATA_LOSS, "do not hash to file_sha256",
                   lambda: s.ingest.PushBundle(iter([v1.ingest.PushBundleRequest(
                       file_sha256=sha, data=b"another file", finish=True)]), metadata=police))
            self.assertEqual(s.ingest.GetBundleUpload(v1.ingest.GetBundleUploadRequest(
                file_sha256=sha), metadata=police).received_bytes, 0)
            # Admin: NOT_FOUND for unknown keys; ALREADY_EXISTS / INVALID_ARGUMENT for agency
            # keys; UNAUTHENTICATED for a revoked key's next call.
            expect(grpc.StatusCode.NOT_FOUND, "",
                   lambda: s.admin.RevokeApiKey(v1.admin.RevokeApiKeyRequest(key_id="k_none"),
                                                metadata=admin))
            expect(grpc.StatusCode.NOT_FOUND, "",
                   lambda: s.admin.RevokeAgencyKey(v1.admin.RevokeAgencyKeyRequest(
                       fingerprint="0" * 16), metadata=admin))
            expect(grpc.StatusCode.INVALID_ARGUMENT, "",
                   lambda: s.admin.AddAgencyKey(v1.admin.AddAgencyKeyRequest(
                       agency="A", public_key=b"short"), metadata=admin))
            s.admin.AddAgencyKey(v1.admin.AddAgencyKeyRequest(agency="A", public_key=b"k" * 32),
                                 metadata=admin)
            expect(grpc.StatusCode.ALREADY_EXISTS, "",
                   lambda: s.admin.AddAgencyKey(v1.admin.AddAgencyKeyRequest(
                       agency="B", public_key=b"k" * 32), metadata=admin))
            created = s.admin.CreateApiKey(v1.admin.CreateApiKeyRequest(
                role=v1.admin.ROLE_ICT, label="leaver"), metadata=admin)
            leaver = [("authorization", "Bearer " + created.secret)]
            probe = v1.ingest.GetDescriptorRequest(id=known)
            self.assertEqual(s.ingest.GetDescriptor(probe, metadata=leaver).id, known)
            s.admin.RevokeApiKey(v1.admin.RevokeApiKeyRequest(key_id=created.key_id),
                                 metadata=admin)
            expect(grpc.StatusCode.UNAUTHENTICATED, "",
                   lambda: s.ingest.GetDescriptor(probe, metadata=leaver))

    def test_unavailable_while_loading(self):
        with self.server("loading", "--test-hold-loading-seconds", "3", ready=False) as s:
            request = v1.match.MatchHashesRequest(hashes=[v1.types.HashValue(
                signal=v1.types.SIGNAL_MD5, hex="00" * 16)])
            self.assertFalse(s.health())
            with self.assertRaises(grpc.RpcError) as loading:
                s.match.MatchHashes(request, metadata=s.auth("platform"))
            self.assertEqual(loading.exception.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertIn("loading", loading.exception.details())
            s.wait_ready()
            s.match.MatchHashes(request, metadata=s.auth("platform"))

    def test_sigterm_drains_a_call_in_flight_then_writes_the_snapshot(self):
        s = self.server("drain")
        snapshot = os.path.join(s.data, "index.snapshot")
        if os.path.exists(snapshot):
            os.remove(snapshot)
        # A MatchVideo upload in flight: the header and a first chunk, the rest held back.
        video = read(os.path.join(ARGS.testdata, "pdq", "videos",
                                  "v1-slideshow-320x240-25fps.mp4"))
        release = threading.Event()

        def chunks():
            yield v1.match.MatchVideoChunk(header=v1.match.VideoHeader(size_bytes=len(video)))
            yield v1.match.MatchVideoChunk(data=video[:1000])
            release.wait(30)
            yield v1.match.MatchVideoChunk(data=video[1000:])

        result = {}

        def upload():
            try:
                result["response"] = s.match.MatchVideo(chunks(), metadata=s.auth("police"),
                                                        timeout=60)
            except grpc.RpcError as e:
                result["error"] = e

        uploader = threading.Thread(target=upload)
        uploader.start()
        time.sleep(0.5)  # the call is in the server's handler, reading chunks
        s.proc.terminate()
        deadline = time.time() + 10
        while s.health():
            self.assertLess(time.time(), deadline, "still SERVING after SIGTERM")
            time.sleep(0.05)
        # New calls are refused while the upload still runs.
        with self.assertRaises(grpc.RpcError) as refused:
            s.match.MatchHashes(v1.match.MatchHashesRequest(), metadata=s.auth("platform"))
        self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertIn("shutting down", refused.exception.details())
        self.assertIsNone(s.proc.poll())
        release.set()
        uploader.join(60)
        self.assertNotIn("error", result, result.get("error"))
        self.assertTrue(result["response"].matched)  # the demo knows this video
        self.assertEqual(s.proc.wait(timeout=30), 0)
        self.assertTrue(os.path.exists(snapshot), "no snapshot written at exit")
        s.kill()  # closes the channel and log (the process is gone)

    def test_sigterm_does_not_wait_for_idle_client_connections(self):
        s = self.server("idle")
        # The channel stays connected and idle after a call.
        s.admin.GetStats(v1.admin.GetStatsRequest(), metadata=s.auth("admin"))
        start = time.time()
        s.proc.terminate()
        self.assertEqual(s.proc.wait(timeout=30), 0)
        self.assertLess(time.time() - start, 2.0)
        s.kill()


if __name__ == "__main__":
    ARGS, rest = hashmatchd_server.parse_args()
    v1 = hashmatchd_server.load_v1(ARGS.python_dir)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
