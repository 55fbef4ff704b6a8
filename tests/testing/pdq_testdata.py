"""Shared by the Python end-to-end tests: the reference PDQ outputs in ../shared/testdata/pdq."""
import os


def expected_pdq(testdata):
    """{"images/NAME": (pdq_hex, quality)} from expected.tsv (Meta's reference hasher)."""
    rows = {}
    with open(os.path.join(testdata, "pdq", "expected.tsv")) as f:
        next(f)
        for line in f:
            name, pdq, quality = line.rstrip("\n").split("\t")
            rows[name] = (pdq, int(quality))
    return rows
