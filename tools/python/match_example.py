#!/usr/bin/python3
"""Example hashmatch client in Python (grpcio): look up PDQ or digest hashes read from stdin.

The stubs are generated at build time into build/python (protoc + grpc_python_plugin); point
--python-dir there. One input line per hash: `pdq <64 hex> [quality]`, `md5 <32 hex>`,
`sha1 <40 hex>` or `sha256 <64 hex>`. One output line per input: the line, a tab, then
`match <what>` or `no-match` or `error <message>`.

  build/bin/hashmatch hash IMAGE | awk '{print "pdq", $2, $3}' | \\
    /usr/bin/python3 tools/python/match_example.py --python-dir build/python \\
      --key-file hashmatch-data/demo-keys.json --role platform
"""
import argparse
import json
import sys


def read_key(path, role):
    text = open(path).read().strip()
    return json.loads(text)[role] if text.startswith("{") else text.split()[0]


def match_lines(lines, server, key):
    """Yields (line, result) for each input line, in order (one MatchHashes call)."""
    import grpc
    from hashmatch.v1 import match_pb2, match_pb2_grpc, types_pb2

    signals = {"pdq": types_pb2.SIGNAL_PDQ, "md5": types_pb2.SIGNAL_MD5,
               "sha1": types_pb2.SIGNAL_SHA1, "sha256": types_pb2.SIGNAL_SHA256}
    request = match_pb2.MatchHashesRequest()
    for line in lines:
        parts = line.split()
        item = request.hashes.add(signal=signals.get(parts[0].lower() if parts else "", 0),
                                  hex=parts[1] if len(parts) > 1 else "")
        if len(parts) > 2:
            item.quality = int(parts[2])
    with grpc.insecure_channel(server) as channel:
        response = match_pb2_grpc.MatchServiceStub(channel).MatchHashes(
            request, metadata=[("authorization", "Bearer " + key)], timeout=60)
    for line, result in zip(lines, response.results):
        if result.HasField("error"):
            yield line, "error " + result.error.message
        elif result.matched:
            yield line, "match " + "; ".join(
                f"category={m.category} ref={m.match_ref}" + (
                    f" id={m.descriptor_id} distance={m.distance}" if m.descriptor_id else "")
                for m in result.matches)
        else:
            yield line, "no-match"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python-dir", default="build/python", help="generated stubs")
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--key-file", default="hashmatch-data/demo-keys.json")
    parser.add_argument("--role", default="platform", help="key to use from a demo-keys.json")
    args = parser.parse_args()
    sys.path.insert(0, args.python_dir)
    lines = [line.strip() for line in sys.stdin if line.strip()]
    for line, result in match_lines(lines, args.server, read_key(args.key_file, args.role)):
        print(f"{line}\t{result}")


if __name__ == "__main__":
    main()
