#!/usr/bin/env python3
"""Scenario coverage: every method and function row of spec/api.json with
status implemented, every D-entry of spec/DIVERGENCES.md and every errno of
REQUIREMENTS section 3 must be named by the `covers` line of some scenario;
every `covers` item must name something real.

usage: check_scenario_coverage.py spec/api.json spec/DIVERGENCES.md spec/scenarios
"""
import glob
import json
import os
import re
import sys

# REQUIREMENTS section 3 lists these; each must be covered.
REQUIRED_ERRNOS = ["EINVAL", "EBADF", "EAGAIN", "ENOMEM", "ERANGE", "ECANCELED", "EBUSY"]
# Further errnos spec/runtime.md section 3 names: allowed in covers.
KNOWN_ERRNOS = set(REQUIRED_ERRNOS) | {"EINPROGRESS", "EOVERFLOW", "EPERM", "EMFILE", "ENFILE"}


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    api_path, div_path, scn_dir = argv[1:]
    with open(api_path) as f:
        api = json.load(f)
    rows = set()
    other_names = set()  # real but not required: constants, other-status rows
    for s in api.get("structs", []):
        for m in s.get("methods", []):
            name = "%s::%s" % (s["name"], m["name"])
            (rows if m.get("status") == "implemented" else other_names).add(name)
    for fn in api.get("functions", []):
        (rows if fn.get("status") == "implemented" else other_names).add(fn["name"])
    for c in api.get("constants", []):
        other_names.add(c["name"])
    with open(div_path) as f:
        divs = set(re.findall(r"^## (D\d+)\.", f.read(), re.M))
    errnos = {"E:" + e for e in REQUIRED_ERRNOS}

    covered = set()
    problems = []
    files = sorted(glob.glob(os.path.join(scn_dir, "*.scn")))
    if not files:
        problems.append("no scenarios in %s" % scn_dir)
    for path in files:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                toks = line.split("#", 1)[0].split()
                if not toks or toks[0] != "covers":
                    continue
                for item in toks[1:]:
                    real = (item in rows or item in other_names or item in divs or
                            (item.startswith("E:") and item[2:] in KNOWN_ERRNOS))
                    if not real:
                        problems.append("%s:%d: covers item names nothing: %s"
                                        % (path, lineno, item))
                    covered.add(item)
    for kind, wanted in (("row", rows), ("divergence", divs), ("errno", errnos)):
        for item in sorted(wanted - covered):
            problems.append("uncovered %s: %s" % (kind, item))
    if problems:
        for p in problems:
            print(p)
        print("scenario coverage: %d problem%s" % (len(problems), "" if len(problems) == 1 else "s"))
        return 1
    print("scenario coverage: %d rows, %d divergences, %d errnos, all covered"
          % (len(rows), len(divs), len(errnos)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
