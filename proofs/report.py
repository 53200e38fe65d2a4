#!/usr/bin/env python3
"""Turns WP's JSON report into proofs/report.md and proofs/report.json."""
import argparse, json, re, sys
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("unproved_md")
ap.add_argument("--json", nargs="+", required=True, help="WP's JSON report of each set")
ap.add_argument("--smoke-json", nargs="*", default=[],
                help="WP's JSON report of each set's smoke-test pass (its other goals are ignored)")
ap.add_argument("--smoke-provers", default="?")
ap.add_argument("--files", nargs="+", required=True)
ap.add_argument("--seconds", type=int, default=0)
ap.add_argument("--timeout", default="?"); ap.add_argument("--provers", default="?")
ap.add_argument("--log", nargs="*", default=[], help="WP's console logs (per-goal times)")
a = ap.parse_args()

# Which file defines each function (the inline helpers of the headers too).
where = {}
for f in a.files + sorted(str(h) for h in Path("src").glob("*.h")):
    for m in re.finditer(r"^[A-Za-z_][\w \*]*?\b(\w+)\s*\([^;{]*\)\s*(?:/\*@.*?\*/\s*)?\{",
                         Path(f).read_text(), re.M | re.S):
        where.setdefault(m.group(1), f)

def file_of(fn):
    if fn == "lemmas":
        return "logic (lemmas)"
    return where.get(fn) or where.get(re.sub(r"_\d+$", "", fn)) or "other"

def prover_of(stats):
    for k in stats:
        if k not in ("wp:main",) and stats[k].get("valid", 0):
            return k
    return "-"

# Per-goal prover time, from the console log: "Goal <name> : Valid (12ms)".
times = {}
unit = {"ms": 0.001, "s": 1.0}
for log in (l for l in a.log if Path(l).exists()):
    for m in re.finditer(r"Goal (typed_\w+) : [^\n]*", Path(log).read_text()):
        ts = re.findall(r"\((?:Qed:)?([\d.]+)(ms|s)\)", m.group(0))
        times[m.group(1)] = sum(float(v) * unit[u] for v, u in ts[-1:])

# The sets are separate Frama-C runs; their functions do not overlap.
# Lemmas are goals too: WP files them under "wp:axiomatics"; they are
# reported as the pseudo-function "lemmas" of the logic.
# A header's inline function is proved once in each set that includes it:
# those are distinct goals, so the functions are kept per set, not merged.
functions = []
for js in a.json:
    rep_set = json.loads(Path(js).read_text())
    functions += list(rep_set.get("wp:functions", {}).items())
    for ax in (rep_set.get("wp:axiomatics") or {}).values():
        functions.append(("lemmas", {g: st for g, st in ax.items() if g != "wp:section"}))
goals = []
for fn, gs in functions:
    for g, st in gs.items():
        if g == "wp:section" or "wp_smoke" in g:
            continue
        main = st.get("wp:main", {})
        total, valid = main.get("total", 0), main.get("valid", 0)
        # A call's precondition is filed under the callee's property name:
        # name it as WP's log does, typed_<caller>_call_<callee property>.
        name = "typed_" + (g if g.startswith(fn) or fn == "lemmas" else f"{fn}_call_{g}")
        goals.append({"function": fn, "file": file_of(fn), "goal": name,
                      "goals": total, "proved": valid, "prover": prover_of(st),
                      "steps": main.get("rank"),
                      "ensures": "_ensures" in name and "_call_" not in name,
                      "seconds": round(sum(t for n, t in times.items()
                                           if n == name or n.startswith(name + "_part")), 3)})

listed = set(re.findall(r"`(typed_\w+)`", Path(a.unproved_md).read_text())) \
    if Path(a.unproved_md).exists() else set()

# Smoke goals come from the smoke pass's report (or from the same report when
# there is no separate pass), where WP marks a smoke test that passed (its
# "false" stayed unproved) as valid and a failed one otherwise.
smoke_functions = []
for js in a.smoke_json:
    smoke_functions += list(json.loads(Path(js).read_text()).get("wp:functions", {}).items())
bad_smoke, smoke_total = [], 0
for fn, gs in (smoke_functions if a.smoke_json else functions):
    for g, st in gs.items():
        if "wp_smoke" in g:
            smoke_total += 1
            if not st.get("wp:main", {}).get("valid", 0):
                bad_smoke.append("typed_" + (g if g.startswith(fn) else f"{fn}_call_{g}"))

tot = sum(g["goals"] for g in goals); ok = sum(g["proved"] for g in goals)
unproved = [g for g in goals if g["proved"] < g["goals"]]
unlisted = [g["goal"] for g in unproved if g["goal"] not in listed]
stale = sorted(listed - {g["goal"] for g in unproved})

per_file, per_fn = {}, {}
for g in goals:
    pf = per_file.setdefault(g["file"], [0, 0]); pf[0] += g["goals"]; pf[1] += g["proved"]
    key = (g["file"], g["function"])
    e = per_fn.setdefault(key, {"file": g["file"], "function": g["function"], "goals": 0,
                                "proved": 0, "ensures": 0, "ensures_proved": 0,
                                "seconds": 0.0, "provers": set()})
    e["goals"] += g["goals"]; e["proved"] += g["proved"]
    e["seconds"] = round(e["seconds"] + g["seconds"], 3)
    if g["ensures"]:
        e["ensures"] += g["goals"]; e["ensures_proved"] += g["proved"]
    if g["prover"] != "-":
        e["provers"].add(g["prover"])

rep = {"proved": ok, "goals": tot, "provers": a.provers, "timeout_s": a.timeout,
       "seconds": a.seconds,
       "per_file": {f: {"goals": v[0], "proved": v[1]} for f, v in sorted(per_file.items())},
       "functions": [dict(e, provers=sorted(e["provers"])) for e in per_fn.values()],
       "goal_list": goals, "unproved": [g["goal"] for g in unproved],
       "unproved_unlisted": unlisted, "unproved_md_stale": stale,
       "smoke": {"tests": smoke_total, "inconsistent": bad_smoke,
                 "provers": a.smoke_provers if a.smoke_json else a.provers},
       "without_ensures": sorted(e["function"] for e in per_fn.values()
                            if not e["ensures"] and e["function"] != "lemmas")}
Path("proofs/report.json").write_text(json.dumps(rep, indent=1) + "\n")

L = ["# WP report", "",
     f"Frama-C WP, `-wp-rte`, provers {a.provers}, timeout {a.timeout} s; smoke tests "
     f"(`-wp-smoke-tests`) with {a.smoke_provers if a.smoke_json else a.provers}; "
     f"{a.seconds} s wall clock (with whatever the cache under proofs/wp-session held).", "",
     "Time: the provers' time per goal as WP's log gives it (a cached result "
     "keeps the time of the run that proved it), summed per function.", "",
     "Assumed, not proved: the contracts in proofs/vrt_assumed.h (and the other "
     "proofs/*_assumed.h): a task's poll function, the allocator, the system "
     "calls of the platform layer, the clock.  libc is Frama-C's own libc "
     "specification.", "",
     "| file | goals | proved |", "|---|---|---|"]
L += [f"| {f} | {v[0]} | {v[1]} |" for f, v in sorted(per_file.items())]
L += ["", "| file | function | goals | proved | ensures (proved / goals) | provers | time (s) |",
      "|---|---|---|---|---|---|---|"]
for e in sorted(per_fn.values(), key=lambda e: (e["file"], e["function"])):
    L.append(f"| {e['file']} | {e['function']} | {e['goals']} | {e['proved']} | "
             f"{e['ensures_proved']} / {e['ensures']} | "
             f"{', '.join(sorted(e['provers'])) or '-'} | {e['seconds']:.2f} |")
L += ["", "Functions with no `ensures` goal (a contract of requires/assigns only):"]
L += [f"- {f}" for f in rep["without_ensures"]] or ["- none"]
L += ["", f"Smoke tests: {smoke_total}, inconsistent: {len(bad_smoke)}"]
L += [f"- INCONSISTENT `{g}`" for g in bad_smoke]
L += ["", "Unproved goals (each must be listed in proofs/UNPROVED.md):"]
L += [f"- `{g['goal']}`" + ("" if g["goal"] in listed else " **NOT LISTED**") for g in unproved] or ["- none"]
if stale:
    L += ["", "Listed in UNPROVED.md but now proved (remove them):"] + [f"- `{g}`" for g in stale]
L += ["", f"proved {ok} / {tot}"]
Path("proofs/report.md").write_text("\n".join(L) + "\n")

for f, v in sorted(per_file.items()):
    print(f"  {f}: {v[1]} / {v[0]}")
for g in unlisted:
    print(f"UNPROVED, not in proofs/UNPROVED.md: {g}")
for g in bad_smoke:
    print(f"SMOKE TEST FAILED (inconsistent precondition or dead code): {g}")
print(f"proved {ok} / {tot}")
sys.exit(1 if unlisted or bad_smoke else 0)
