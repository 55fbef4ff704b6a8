#!/usr/bin/python3
"""The public API contract (proto/hashmatch/v1): every element is documented, numbering rules hold,
and the generated Python stubs expose the three services with the methods the issues name.

Usage: api_contract_test.py --descriptor-set hashmatch.desc --python-dir build/python
"""
import argparse
import sys
import unittest

from google.protobuf import descriptor_pb2

ARGS = None

# Field numbers in descriptor.proto, for SourceCodeInfo paths.
MESSAGE, ENUM, SERVICE = 4, 5, 6  # in FileDescriptorProto
FIELD, NESTED, NESTED_ENUM, ONEOF = 2, 3, 4, 8  # in DescriptorProto
VALUE = 2  # in EnumDescriptorProto
METHOD = 2  # in ServiceDescriptorProto


def our_files():
    files = descriptor_pb2.FileDescriptorSet()
    with open(ARGS.descriptor_set, "rb") as f:
        files.ParseFromString(f.read())
    return [f for f in files.file if f.name.startswith("hashmatch/")]


def elements(file):
    """Yields (path, name) for every documentable element of a file."""

    def enum(e, path, prefix):
        yield path, prefix + e.name
        for i, v in enumerate(e.value):
            yield path + [VALUE, i], f"{prefix}{e.name}.{v.name}"

    def message(m, path, prefix):
        name = prefix + m.name
        yield path, name
        for i, f in enumerate(m.field):
            yield path + [FIELD, i], f"{name}.{f.name}"
        for i, o in enumerate(m.oneof_decl):
            if not o.name.startswith("_"):  # synthetic oneofs of proto3 `optional`
                yield path + [ONEOF, i], f"{name}.{o.name}"
        for i, n in enumerate(m.nested_type):
            if not n.options.map_entry:  # synthesized for a map<,> field (documented there)
                yield from message(n, path + [NESTED, i], name + ".")
        for i, e in enumerate(m.enum_type):
            yield from enum(e, path + [NESTED_ENUM, i], name + ".")

    for i, m in enumerate(file.message_type):
        yield from message(m, [MESSAGE, i], "")
    for i, e in enumerate(file.enum_type):
        yield from enum(e, [ENUM, i], "")
    for i, s in enumerate(file.service):
        yield [SERVICE, i], s.name
        for j, m in enumerate(s.method):
            yield [SERVICE, i, METHOD, j], f"{s.name}.{m.name}"


class ApiContractTest(unittest.TestCase):
    def test_every_element_has_a_comment(self):
        files = our_files()
        self.assertEqual(sorted(f.name for f in files),
                         ["hashmatch/v1/admin.proto", "hashmatch/v1/bundle.proto",
                          "hashmatch/v1/ingest.proto", "hashmatch/v1/match.proto",
                          "hashmatch/v1/types.proto"])
        undocumented = []
        for f in files:
            comments = {tuple(loc.path): (loc.leading_comments + loc.trailing_comments).strip()
                        for loc in f.source_code_info.location}
            self.assertTrue(f.source_code_info.location, f"{f.name}: built without source info")
            for path, name in elements(f):
                if not comments.get(tuple(path)):
                    undocumented.append(f"{f.name}: {name}")
        self.assertEqual(undocumented, [], "undocumented API elements")

    def test_enums_start_with_an_unspecified_zero_and_prefix_their_values(self):
        for f in our_files():
            enums = list(f.enum_type) + [e for m in f.message_type for e in m.enum_type]
            for e in enums:
                self.assertTrue(e.value[0].name.endswith("_UNSPECIFIED"), e.name)
                self.assertEqual(e.value[0].number, 0, e.name)
                prefix = "".join("_" + c if c.isupper() else c.upper() for c in e.name).lstrip("_")
                for v in e.value:
                    self.assertTrue(v.name.startswith(prefix + "_"), f"{e.name}.{v.name}")

    def test_package_and_stubs(self):
        for f in our_files():
            self.assertEqual(f.package, "hashmatch.v1", f.name)
        sys.path.insert(0, ARGS.python_dir)
        from hashmatch.v1 import admin_pb2_grpc, ingest_pb2_grpc, match_pb2, match_pb2_grpc
        expected = {
            match_pb2_grpc.MatchServiceStub: ["MatchMedia", "MatchHashes", "MatchVideo"],
            ingest_pb2_grpc.IngestServiceStub: ["AddDescriptors", "SetStatus", "GetDescriptor",
                                                "ListDescriptors", "GetBundleUpload",
                                                "PushBundle"],
            admin_pb2_grpc.AdminServiceStub: ["GetStats", "CreateApiKey", "ListApiKeys",
                                              "RevokeApiKey", "VerifyAudit", "AddAgencyKey",
                                              "ListAgencyKeys", "RevokeAgencyKey"],
        }

        class Channel:  # records the method paths a stub binds
            def __init__(self):
                self.paths = []

            def _bind(self, path, *args, **kwargs):
                self.paths.append(path)

            unary_unary = unary_stream = stream_unary = stream_stream = _bind

        for stub, methods in expected.items():
            channel = Channel()
            stub(channel)
            service = stub.__name__.removesuffix("Stub")
            self.assertEqual(sorted(channel.paths),
                             sorted(f"/hashmatch.v1.{service}/{m}" for m in methods))
        # A round trip through the generated messages.
        request = match_pb2.MatchHashesRequest()
        request.hashes.add(signal=1, hex="ab" * 32)
        parsed = match_pb2.MatchHashesRequest.FromString(request.SerializeToString())
        self.assertEqual(parsed.hashes[0].hex, "ab" * 32)
        self.assertFalse(parsed.hashes[0].HasField("quality"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--descriptor-set", required=True)
    parser.add_argument("--python-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
