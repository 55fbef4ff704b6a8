"""Shared by the Python end-to-end tests: the real hashmatchd on loopback, and the generated
grpcio modules.

The server picks its own port (--listen 127.0.0.1:0 --port-file), so no other process can take a
port chosen for it between a probe and the bind; a server that exits or hangs before it is ready
fails the set-up with its exit status and the end of its log; and a failed set-up never leaves
the process running. Use it as a context manager, or call stop()/kill()."""
import argparse
import json
import os
import subprocess
import sys
import time

import grpc


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
    """hashmatchd --demo in `data` (the demo images only, unless `demo=False`) on a port of its
    own choosing, or on `port` again (a restart that clients already connected to must find).
    `ready=False` returns once it listens, before the index is loaded."""

    def __init__(self, bin_dir, testdata, v1, data, *flags, port=None, demo=True, ready=True,
                 timeout=60):
        self.data = data
        os.makedirs(os.path.dirname(os.path.abspath(data)), exist_ok=True)
        self.log_path = data + ".log"
        self.log = open(self.log_path, "ab")
        port_file = data + ".port"
        if os.path.exists(port_file):
            os.remove(port_file)
        demo_flags = ["--demo", "--demo-images", os.path.join(testdata, "pdq", "images")] \
            if demo else []
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "hashmatchd"), "--data", data,
             "--listen", f"127.0.0.1:{port or 0}", "--port-file", port_file, *demo_flags,
             *flags],
            stdout=self.log, stderr=self.log)
        self.channel = None
        try:
            self.port = self._wait_for_port(port_file, timeout)
            self.address = f"127.0.0.1:{self.port}"
            self.channel = grpc.insecure_channel(self.address)
            if ready:
                self.wait_ready(timeout)
            self.keys = {}
            if demo:
                with open(os.path.join(data, "demo-keys.json")) as f:
                    self.keys = json.load(f)
        except BaseException:
            self.kill()
            raise
        self.match = v1.match_grpc.MatchServiceStub(self.channel)
        self.ingest = v1.ingest_grpc.IngestServiceStub(self.channel)
        self.admin = v1.admin_grpc.AdminServiceStub(self.channel)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()

    def _wait_for_port(self, port_file, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.assert_running()
            try:
                with open(port_file) as f:
                    lines = f.read().splitlines()
                if lines:  # written atomically once listening: gRPC port, metrics port
                    self.metrics_port = int(lines[1]) if len(lines) > 1 else None
                    return int(lines[0])
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        raise AssertionError(f"hashmatchd did not listen within {timeout} s\n{self.log_tail()}")

    def log_tail(self, lines=20):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")

    def health(self, service="hashmatch.v1.MatchService", timeout=1):
        """grpc.health.v1.Health/Check, encoded by hand (Debian ships no Python health stubs):
        True for SERVING (field 1 = 1), False for NOT_SERVING."""
        name = service.encode()
        check = self.channel.unary_unary("/grpc.health.v1.Health/Check")
        return check(b"\n" + bytes([len(name)]) + name, timeout=timeout) == b"\x08\x01"

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.assert_running()
            try:
                if self.health():
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"hashmatchd did not become ready\n{self.log_tail()}")

    def assert_running(self):
        if self.proc.poll() is not None:
            raise AssertionError(
                f"hashmatchd exited with {self.proc.returncode}\n{self.log_tail()}")

    def auth(self, role):
        return [("authorization", "Bearer " + self.keys[role])]

    def key_file(self):
        return os.path.join(self.data, "demo-keys.json")

    def connect_flags(self, role):
        """The CLI's connection flags for this server and a demo role."""
        return ["--server", self.address, "--key-file", self.key_file(), "--role", role]

    def _close(self):
        if self.channel is not None:
            self.channel.close()
        self.log.close()

    def stop(self, timeout=30):
        """SIGTERM (graceful drain); returns the exit status."""
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._close()
        return code

    def kill(self):
        """kill -9: no drain, no flush."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        if not self.log.closed:
            self._close()
