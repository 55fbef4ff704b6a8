#!/usr/bin/python3
"""End-to-end: hashmatch-ingest import -> sign -> push -> export against the real hashmatchd, in
every exchange format, straight to the server with --to-server, and malformed input refused with
its line numbers and nothing added.

Usage: import_export_e2e_test.py --bin build/bin --python-dir build/python --testdata DIR
"""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest_e2e_base import E2eBase, main  # noqa: E402


class ImportExportTest(E2eBase):
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
            r = self.run_tool("hashmatch-ingest", "import", source, "--format", fmt, "--out", bundle,
                    "--agency", "Unit 7", *flags)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.sign(bundle)
            r = self.push(bundle)
            self.assertEqual(r.returncode, 0, r.stderr)
            exported = os.path.join(self.tmp, "rt-out." + fmt)
            r = self.run_tool("hashmatch-ingest", "export", "--format", fmt, "--category", category,
                    "--out", exported, *self.connect("ict"))
            self.assertEqual(r.returncode, 0, r.stderr)
            again = os.path.join(self.tmp, "rt-again-" + fmt + ".bundle")
            r = self.run_tool("hashmatch-ingest", "import", exported, "--format", fmt, "--out", again,
                    "--agency", "Unit 7", *flags)
            self.assertEqual(r.returncode, 0, r.stderr)
            shown = [self.run_tool("hashmatch-ingest", "export", "--from-bundle", b, "--format",
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
        r = self.run_tool("hashmatch-ingest", "import", direct, "--format", "digest-list", "--category",
                "RT4", "--agency", "ICT", "--to-server", *self.connect("ict"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("added 2, merged 0", r.stdout)
        r = self.run_tool("hashmatch-ingest", "review", "list", "--category", "RT4", *self.connect("ict"))
        self.assertEqual([row.split("\t")[5] for row in r.stdout.splitlines()],
                         ["CANDIDATE", "CANDIDATE"])
        r = self.run_tool("hashmatch-ingest", "import", direct, "--format", "digest-list", "--category",
                "RT4", "--agency", "ICT", "--to-server", "--out", "x.bundle")
        self.assertEqual(r.returncode, 2)
        self.assertIn("either --out BUNDLE or --to-server", r.stderr)

        # Malformed input: every bad line named, nothing written, nothing added.
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write(f"pdq,{pdq[0]},1,1,X\nnot,enough\n{pdq[1][:60]},2,2,,X\n")
        before = self.descriptor_count()
        out = os.path.join(self.tmp, "bad.bundle")
        r = self.run_tool("hashmatch-ingest", "import", bad, "--format", "hma-csv", "--out", out,
                "--agency", "Unit 7")
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 1: pdq: 3 characters", r.stderr)
        self.assertIn("line 2: 2 fields; hma-csv has 5", r.stderr)
        self.assertIn("line 3: pdq: 60 characters", r.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(self.descriptor_count(), before)


if __name__ == "__main__":
    main()
