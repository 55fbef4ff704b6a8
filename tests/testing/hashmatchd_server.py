"""Shared by the Python end-to-end tests: the real hashmatchd on a free loopback port, and the
generated grpcio modules."""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

import grpc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_args():
    """--bin, --python-dir, --testdata (the end-to-end tests' flags); the rest is unittest's."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--python-dir", required=True)
    parser.add_argument("--testdata", required=True)
    return parser.parse_known_args()


def load_v1(python_dir):
    """The generated modules of proto/hashmatch/v1, as attributes of one object."""
    sys.path.insert(0, python_dir)
    from hashmatch.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc
    from hashmatch.v1 import match_pb2, match_pb2_grpc, types_pb2

    class V1:
        types, match, ingest, admin = types_pb2, match_pb2, ingest_pb2, admin_pb2
        match_grpc, ingest_grpc, admin_grpc = match_pb2_grpc, ingest_pb2_grpc, admin_pb2_grpc

    return V1


class Server:
    """hashmatchd --demo in `data` on a free loopback port (the same port again with `port`)."""

    def __init__(self, bin_dir, testdata, v1, data, *flags, port=None):
        self.data = data
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = open(os.path.join(data + ".log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "hashmatchd"), "--data", data, "--listen", self.address,
             "--demo", "--demo-images", os.path.join(testdata, "pdq", "images"), *flags],
            stdout=self.log, stderr=self.log)
        self.channel = grpc.insecure_channel(self.address)
        self.wait_ready()
        with open(os.path.join(data, "demo-keys.json")) as f:
            self.keys = json.load(f)
        self.match = v1.match_grpc.MatchServiceStub(self.channel)
        self.ingest = v1.ingest_grpc.IngestServiceStub(self.channel)
        self.admin = v1.admin_grpc.AdminServiceStub(self.channel)

    def wait_ready(self):
        # grpc.health.v1.Health/Check with service "hashmatch.v1.MatchService", encoded by hand
        # (Debian ships no Python health stubs): SERVING is field 1 = 1.
        name = b"hashmatch.v1.MatchService"
        check = self.channel.unary_unary("/grpc.health.v1.Health/Check")
        deadline = time.time() + 60
        while time.time() < deadline:
            self.assert_running()
            try:
                if check(b"\n" + bytes([len(name)]) + name, timeout=1) == b"\x08\x01":
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise AssertionError("hashmatchd did not become ready")

    def assert_running(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"hashmatchd exited with {self.proc.returncode}")

    def auth(self, role):
        return [("authorization", "Bearer " + self.keys[role])]

    def key_file(self):
        return os.path.join(self.data, "demo-keys.json")

    def stop(self):
        self.channel.close()
        self.proc.terminate()  # SIGTERM: graceful
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code

    def kill(self):
        """kill -9: no drain, no flush."""
        self.channel.close()
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.close()
