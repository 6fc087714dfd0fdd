"""The suite's rows on a database, saved or compared exactly (a speed-up must not move a row).

    DATABASE_URL=postgres://…/db python bench/suite_rows.py save  DIR   # on the old code
    DATABASE_URL=postgres://…/db python bench/suite_rows.py check DIR   # on the new code

Extracts the datasets once (analytics.extraction.extract_all), computes every part of
analytics.suite.PARTS with the default parameters and pickles (rows, alerts) per part and the
datasets; `check` recomputes and compares with pandas.testing.assert_frame_equal(check_exact=True)
and the alerts with ==, and exits non-zero on the first difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthwatch.settings")

import django  # noqa: E402

django.setup()

import pandas as pd  # noqa: E402

from analytics import suite  # noqa: E402
from analytics.extraction import extract_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["save", "check"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--parts", default=",".join(suite.PARTS))
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    data = extract_all()
    print(f"extract {time.perf_counter() - began:.2f} s")
    frames = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    if args.mode == "save":
        pd.to_pickle(frames, args.folder / "datasets.pkl")
    else:
        saved = pd.read_pickle(args.folder / "datasets.pkl")  # noqa: S301 - written by `save`
        for name, frame in saved.items():
            pd.testing.assert_frame_equal(frames[name], frame, check_exact=True)
        print("datasets identical")
    params = suite.clean_parameters({})
    for name in args.parts.split(","):
        began = time.perf_counter()
        output = suite.PARTS[name](data, params)
        seconds = time.perf_counter() - began
        path = args.folder / f"{name}.pkl"
        if args.mode == "save":
            pd.to_pickle((output.rows, output.alerts), path)
            print(f"{name}: {len(output.rows)} rows in {seconds:.2f} s, saved")
        else:
            rows, alerts = pd.read_pickle(path)  # noqa: S301 - written by `save`
            pd.testing.assert_frame_equal(output.rows, rows, check_exact=True)
            assert output.alerts == alerts, f"{name}: alerts differ"
            print(f"{name}: {len(output.rows)} rows in {seconds:.2f} s, identical")


if __name__ == "__main__":
    main()
