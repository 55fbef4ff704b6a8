"""What the hashmatch-ingest end-to-end tests share: a hashmatchd (--demo) with two registered
agency keys, and helpers to run the tools against it. The test modules set `args`, `v1` and
`bundle_pb2` on E2eBase before unittest.main()."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testing"))
import hashmatchd_server  # noqa: E402

# Synthetic public images that are not near any demo image (checked: they do not match before
# the push).
EDGE_IMAGES = ["e02-gradient-64x64.png", "e05-wide-1000x40.png", "e13-checkerboard-100x100.png",
               "e14-noise-256x256.png", "e18-bilevel-120x90.png"]


def delimited(message):
    """The bundle format's framing, written here independently of the C++ code under test."""
    body = message.SerializeToString()
    n, prefix = len(body), bytearray()
    while True:
        prefix.append((n & 0x7F) | (0x80 if n >= 0x80 else 0))
        n >>= 7
        if not n:
            return bytes(prefix) + body


class E2eBase(unittest.TestCase):
    args = v1 = bundle_pb2 = None  # set by the test module's main

    @classmethod
    def run_tool(cls, tool, *args, timeout=120):
        return subprocess.run([os.path.join(cls.args.bin, tool), *args], capture_output=True,
                              text=True, timeout=timeout)

    @classmethod
    def write_digest_bundle(cls, path, agency, count, seed):
        """An unsigned bundle of `count` distinct SHA-256 records, written as the format says."""
        types = cls.v1.types
        records = b"".join(
            delimited(cls.bundle_pb2.BundleRecord(
                hash=types.HashValue(signal=types.SIGNAL_SHA256,
                                     raw=hashlib.sha256(f"{seed}:{i}".encode()).digest()),
                category="B"))
            for i in range(count))
        header = cls.bundle_pb2.BundleHeader(agency=agency, count=count, created_unix_ms=1,
                                             bundle_id=hashlib.sha256(records).hexdigest(),
                                             writer="ingest e2e test")
        with open(path, "wb") as f:
            f.write(b"HMBNDL01" + delimited(header) + records)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hm_ingest_e2e.")
        cls.data = os.path.join(cls.tmp, "data")
        for name in ("unit7", "other"):
            r = cls.run_tool("hashmatch-ingest", "keygen", "--out", os.path.join(cls.tmp, name))
            assert r.returncode == 0, r.stderr
        cls.server = cls.start_server(cls.data)

    @classmethod
    def start_server(cls, data, port=None):
        """hashmatchd --demo in `data` with the agencies Unit 7 and Other registered."""
        server = hashmatchd_server.Server(cls.args.bin, cls.args.testdata, cls.v1, data,
                                          port=port)
        for agency, key in (("Unit 7", "unit7"), ("Other", "other")):
            r = cls.run_tool("hashmatch", "keys", "add-agency", "--name", agency, "--pubkey",
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
        r = cls.run_tool("hashmatch", "keys", *args, *cls.connect("admin"))
        assert r.returncode == 0, r.stderr
        return r.stdout

    def push(self, bundle, role="police", *flags, server=None):
        return self.run_tool("hashmatch-ingest", "push", bundle,
                             *(server or self.server).connect_flags(role), *flags)

    def sign(self, bundle, key="unit7"):
        r = self.run_tool("hashmatch-ingest", "sign", bundle, "--key",
                          os.path.join(self.tmp, key + ".key"))
        self.assertEqual(r.returncode, 0, r.stderr)

    def match(self, path):
        """hashmatch match as a platform: 0 match, 1 no match."""
        r = self.run_tool("hashmatch", "match", path, *self.connect("platform"))
        self.assertIn(r.returncode, (0, 1), r.stderr)
        return r.returncode == 0

    def descriptor_count(self, server=None):
        server = server or self.server
        stats = server.admin.GetStats(self.v1.admin.GetStatsRequest(),
                                      metadata=server.auth("admin"))
        return sum(c.count for c in stats.descriptors)

    def image_bundle(self, name, agency="Unit 7"):
        folder = os.path.join(self.tmp, name + "-images")
        os.makedirs(folder, exist_ok=True)
        for image in EDGE_IMAGES:
            shutil.copy(os.path.join(self.args.testdata, "pdq", "edge", image), folder)
        bundle = os.path.join(self.tmp, name + ".bundle")
        r = self.run_tool("hashmatch-ingest", "hash", folder, "--out", bundle, "--agency", agency,
                          "--category", "A", "--case-ref", "case-77")
        self.assertEqual(r.returncode, 0, r.stderr)
        return folder, bundle


def main():
    args, rest = hashmatchd_server.parse_args()
    E2eBase.args = args
    E2eBase.v1 = hashmatchd_server.load_v1(args.python_dir)
    from hashmatch.v1 import bundle_pb2  # on the path load_v1 added
    E2eBase.bundle_pb2 = bundle_pb2
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
