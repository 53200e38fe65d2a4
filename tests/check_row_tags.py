#!/usr/bin/env python3
"""Check that every implemented row of spec/api.json has a behavioural test.

Usage:
  python3 tests/check_row_tags.py [spec/api.json [tests]]   the check
  python3 tests/check_row_tags.py --list [spec/api.json [tests]]
                                   the check, then every row with its tests
  python3 tests/check_row_tags.py --self-test [spec/api.json [tests]]
                                   proves that the check fails when a tag goes

The paths default to spec/api.json and tests/ of the repository that holds
this script.  Exit status: 0 when every row is covered, 1 when a row is not
or a tag is wrong (each problem on stderr), 2 for a usage or I/O error or a
malformed table.  Python standard library only.

The tag convention
------------------
The generated table check (tests/gen_api_check.py) proves that a row exists
with the right C shape; a tag says which behavioural test proves what the
row does.  A tag is a C comment that starts with "rows:" and lists row names
separated by commas:

    /* rows: Runtime::spawn, Runtime::run, MAX_TASKS */
    Test(runtime, spawn_257th_eagain_unchanged)
    {

It may also span lines ("/* rows: A, B,\\n *       C */").  Row names are
spelled as the table spells them:

    constant  TASK_PENDING          (the seed name, without VRT_)
    struct    Runtime
    field     Runtime.task_count
    method    Runtime::spawn
    function  spawn, task_group_named, poll_ready   (the bare global name)

A tag belongs to one Criterion test: it stands either right above the
Test(...) line (only other comment lines may come between the two, not code
and not a blank line) or inside the test's body.  Tag a test with a row only
if the test really exercises that row (calls the function, asserts on the
constant or the struct), not because a helper happens to touch it.

What must be tagged (the rule this script enforces)
----------------------------------------------------
Every row whose status is "implemented" (a field has its struct's status):
  - a constant, struct, method or function needs at least one test tagged
    with its own name;
  - a field is covered by a test tagged with the field ("Runtime.head") OR
    with its struct ("Runtime").  Many fields are internal layout that no
    behaviour shows on its own (Runtime.slabs); a struct tag therefore means
    "this test builds or inspects values of this struct through its fields",
    and the table check already pins every field's offset and type.  Field
    tags are optional, but they are checked like any other tag.
  - constants are tagged one by one (no group tags).
It is an error:
  - when an implemented row is not covered;
  - when a tag names a row that the table does not have (a typo), names a
    row twice in one test, or is empty;
  - when a tag belongs to no test (a stray "rows:" comment).
A tag may name a "planned" row (a test written ahead of the status flip).

Files: every tests/test_*.c except generated ones (a file whose first lines
say "generated from ... do not edit").  Tests inside #ifdef blocks count: the
makefile builds every suite with the flags that enable them.
"""

import io
import json
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_API = os.path.join(ROOT, "spec", "api.json")
DEFAULT_TESTS = os.path.join(ROOT, "tests")

TEST_LINE = re.compile(r"^\s*Test\s*\(\s*([A-Za-z_]\w*)\s*,\s*([A-Za-z_]\w*)")
TAG_START = re.compile(r"/\*\s*rows:")
ROW_NAME = re.compile(r"^(?:[A-Z][A-Za-z0-9]*(?:::[a-z][a-z0-9_]*|\.[A-Za-z_]\w*)?"
                      r"|[A-Z][A-Z0-9_]*|[a-z][a-z0-9_]*)$")


class UsageError(Exception):
    pass


# ---- the table ----------------------------------------------------------------

def load_rows(api_path):
    """[(name, kind, status, struct)] for every row of the table, in order."""
    try:
        with open(api_path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (api_path, e))
    except json.JSONDecodeError as e:
        raise UsageError("%s is not valid JSON: %s" % (api_path, e))
    rows = []
    try:
        for c in data["constants"]:
            rows.append((c["name"], "constant", c["status"], None))
        for s in data["structs"]:
            rows.append((s["name"], "struct", s["status"], None))
            for f in s["fields"]:
                rows.append(("%s.%s" % (s["name"], f["name"]), "field",
                             s["status"], s["name"]))
            for m in s["methods"]:
                rows.append(("%s::%s" % (s["name"], m["name"]), "method",
                             m["status"], s["name"]))
        for fn in data["functions"]:
            rows.append((fn["name"], "function", fn["status"], None))
    except (KeyError, TypeError) as e:
        raise UsageError("%s is malformed (%r); run tests/gen_api_check.py on "
                         "it for the details" % (api_path, e))
    seen = set()
    for name, kind, _, _ in rows:
        if name in seen:
            raise UsageError("%s: row name %s appears twice" % (api_path, name))
        seen.add(name)
    return rows


# ---- the tests ------------------------------------------------------------------

def test_files(tests_dir):
    try:
        names = sorted(os.listdir(tests_dir))
    except OSError as e:
        raise UsageError("cannot list %s: %s" % (tests_dir, e))
    out = []
    for n in names:
        if not (n.startswith("test_") and n.endswith(".c")):
            continue
        path = os.path.join(tests_dir, n)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        head = "\n".join(text.splitlines()[:5]).lower()
        if "generated" in head and "do not edit" in head:
            continue
        out.append((path, text))
    return out


def code_mask(text):
    """Per character: the character itself where it is code, ' ' where it
    lies inside a comment, a string or a character literal (newlines kept).
    Also returns, per line (0-based), whether the line is comment only."""
    out = []
    i, n = 0, len(text)
    state = None  # None, 'block', 'line', '"', "'"
    comment_chars = {}  # line -> saw comment text
    code_chars = {}     # line -> saw code (non-space) text
    line = 0
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if ch == "\n":
            out.append("\n")
            if state == "line":
                state = None
            line += 1
            i += 1
            continue
        if state is None:
            if ch == "/" and nxt == "*":
                state = "block"
                comment_chars[line] = True
                out.append("  ")
                i += 2
                continue
            if ch == "/" and nxt == "/":
                state = "line"
                comment_chars[line] = True
                out.append("  ")
                i += 2
                continue
            if ch in "\"'":
                state = ch
                code_chars[line] = True
                out.append(" ")
                i += 1
                continue
            if not ch.isspace():
                code_chars[line] = True
            out.append(ch)
            i += 1
            continue
        if state == "block":
            comment_chars[line] = True
            if ch == "*" and nxt == "/":
                state = None
                out.append("  ")
                i += 2
                continue
            out.append(" ")
            i += 1
            continue
        if state == "line":
            out.append(" ")
            i += 1
            continue
        # inside a string or character literal
        if ch == "\\" and nxt and nxt != "\n":
            out.append("  ")
            i += 2
            continue
        if ch == state:
            state = None
        out.append(" ")
        i += 1
    masked = "".join(out)
    nlines = text.count("\n") + 1
    comment_only = [comment_chars.get(k, False) and not code_chars.get(k, False)
                    for k in range(nlines)]
    return masked, comment_only


def find_tags(text):
    """[(first_line, last_line, [names], raw)] of every rows: comment
    (0-based lines).  A malformed tag gives names None."""
    tags = []
    for m in TAG_START.finditer(text):
        end = text.find("*/", m.end())
        if end < 0:
            body, stop = text[m.end():], len(text)
        else:
            body, stop = text[m.end():end], end + 2
        first = text.count("\n", 0, m.start())
        last = text.count("\n", 0, stop)
        # continuation lines of a multi-line tag start with '*'
        parts = [re.sub(r"^\s*\*(?!/)", "", ln) for ln in body.split("\n")]
        names = [p.strip() for p in " ".join(parts).split(",")]
        tags.append((first, last, names, text[m.start():stop]))
    return tags


def find_tests(text, masked):
    """[(suite, name, test_line, body_first_line, body_last_line)]."""
    lines = masked.split("\n")
    tests = []
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln) + 1)
    for k, ln in enumerate(lines):
        m = TEST_LINE.match(ln)
        if not m:
            continue
        # the body: from the first '{' after the Test( line to its match
        pos = masked.find("{", offsets[k])
        if pos < 0:
            continue
        depth, j = 0, pos
        while j < len(masked):
            c = masked[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        tests.append((m.group(1), m.group(2), k,
                      masked.count("\n", 0, pos), masked.count("\n", 0, j)))
    return tests


def collect(tests_dir):
    """Returns (tags, problems): tags maps a row name to the list of
    "file:line suite::test" places tagging it; problems lists tag errors
    that do not depend on the table."""
    tags = {}
    problems = []
    for path, text in test_files(tests_dir):
        rel = os.path.relpath(path)
        if rel.startswith(".."):
            rel = path
        seen_in = {}  # (suite, test) -> rows its tags named so far
        masked, comment_only = code_mask(text)
        tests = find_tests(text, masked)
        for first, last, names, raw in find_tags(text):
            where = "%s:%d" % (rel, first + 1)
            owner = None
            for suite, tname, tline, bfirst, blast in tests:
                if bfirst <= first and last <= blast:
                    owner = (suite, tname)
                    break
                if last < tline and all(comment_only[k]
                                        for k in range(last + 1, tline)):
                    owner = (suite, tname)
                    break
            if owner is None:
                problems.append("%s: tag belongs to no Test(...) (put it right "
                                "above the Test line or inside its body): %s"
                                % (where, raw.strip()))
                continue
            label = "%s %s::%s" % (where, owner[0], owner[1])
            seen = seen_in.setdefault(owner, set())
            if not any(names):
                problems.append("%s: empty tag" % label)
                continue
            for name in names:
                if not name:
                    problems.append("%s: empty row name in tag (stray comma?)"
                                    % label)
                    continue
                if name in seen:
                    problems.append("%s: row %s named twice in the test's tags"
                                    % (label, name))
                    continue
                seen.add(name)
                tags.setdefault(name, []).append(label)
    return tags, problems


# ---- the check ------------------------------------------------------------------

def check(api_path, tests_dir):
    """Returns (rows, tags, problems, covered_count)."""
    rows = load_rows(api_path)
    tags, problems = collect(tests_dir)
    names = {r[0]: r for r in rows}
    for name in sorted(tags):
        if name not in names:
            hint = ""
            if not ROW_NAME.match(name):
                hint = " (spell rows as Struct, Struct.field, Struct::method, " \
                       "CONSTANT or function)"
            for place in tags[name]:
                problems.append("%s: tag names no row of %s: %s%s"
                                % (place, api_path, name, hint))
    must = [r for r in rows if r[2] == "implemented"]
    for name, kind, _, struct in must:
        if name in tags:
            continue
        if kind == "field" and struct in tags:
            continue
        if kind == "field":
            problems.append("untagged row: %s (field; tag the field or its "
                            "struct %s)" % (name, struct))
        else:
            problems.append("untagged row: %s (%s)" % (name, kind))
    return rows, tags, problems, len(must)


def run_check(api_path, tests_dir, listing=False, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        rows, tags, problems, count = check(api_path, tests_dir)
    except UsageError as e:
        err.write("check_row_tags: %s\n" % e)
        return 2
    if listing:
        for name, kind, status, struct in rows:
            places = tags.get(name, [])
            via = ""
            if not places and kind == "field" and struct in tags:
                via = " (via %s)" % struct
            out.write("%-40s %-9s %-11s %d test(s)%s\n"
                      % (name, kind, status, len(places), via))
            for p in places:
                out.write("    %s\n" % p)
    if problems:
        err.write("check_row_tags: %d problem(s); every implemented row of %s "
                  "needs a behavioural test tagged /* rows: NAME */ (see the "
                  "docstring of tests/check_row_tags.py):\n"
                  % (len(problems), api_path))
        for p in problems:
            err.write("  %s\n" % p)
        return 1
    out.write("row tags: %d rows, all tagged\n" % count)
    return 0


# ---- the self-test ----------------------------------------------------------

def strip_row(text, victim):
    """text with victim removed from every tag; a tag left empty goes."""
    def repl(m):
        body = m.group(1)
        parts = [re.sub(r"^\s*\*(?!/)", "", ln) for ln in body.split("\n")]
        names = [p.strip() for p in " ".join(parts).split(",")]
        kept = [n for n in names if n and n != victim]
        if not kept:
            return "/* (tag removed) */"
        return "/* rows: %s */" % ", ".join(kept)
    return re.sub(r"/\*\s*rows:(.*?)\*/", repl, text, flags=re.S)


def self_test(api_path, tests_dir):
    def fail(msg):
        sys.stderr.write("self-test: FAILED: %s\n" % msg)
        return 1

    def run_quiet(tdir):
        o, e = io.StringIO(), io.StringIO()
        rc = run_check(api_path, tdir, out=o, err=e)
        return rc, o.getvalue(), e.getvalue()

    try:
        rows, tags, problems, _ = check(api_path, tests_dir)
    except UsageError as e:
        return fail(str(e))
    if problems:
        return fail("the real tree does not pass the check, so a failure "
                    "proves nothing; fix it first:\n  " + "\n  ".join(problems))
    sources = [p for p, _ in test_files(tests_dir)]

    # One victim per kind: the implemented row of that kind tagged in the
    # most files (ties by name), so that its tags come out of several files.
    def files_of(name):
        return len({p.split(":")[0] for p in tags.get(name, [])})

    victims = []
    for kind in ("constant", "struct", "method", "function"):
        cands = [r for r in rows if r[1] == kind and r[2] == "implemented"
                 and r[0] in tags]
        if cands:
            victims.append(max(cands, key=lambda r: (files_of(r[0]),
                                                     len(tags[r[0]]), r[0])))
    if len(victims) < 2:
        return fail("too few tagged rows to test with")

    with tempfile.TemporaryDirectory(prefix="row-tags-") as tmp:
        def fresh(mutate):
            tdir = os.path.join(tmp, "t%d" % len(os.listdir(tmp)))
            os.mkdir(tdir)
            for src in sources:
                with open(src, encoding="utf-8") as fh:
                    text = fh.read()
                with open(os.path.join(tdir, os.path.basename(src)), "w",
                          encoding="utf-8") as fh:
                    fh.write(mutate(os.path.basename(src), text))
            return tdir

        # 0. the unmodified copy passes
        rc, out, err = run_quiet(fresh(lambda n, t: t))
        if rc != 0:
            return fail("the copied tests do not pass (rc %d):\n%s" % (rc, err))

        # 1. the tags of one row deleted from every file: the row is named
        for name, kind, _, _ in victims:
            tdir = fresh(lambda n, t, v=name: strip_row(t, v))
            left = [k for k, _ in tags_in(tdir) if k == name]
            if left:
                return fail("could not strip %s from the copies" % name)
            rc, out, err = run_quiet(tdir)
            if rc != 1:
                return fail("check passed (rc %d) with every tag of %s deleted"
                            % (rc, name))
            if ("untagged row: %s (" % name) not in err:
                return fail("the failure does not name %s:\n%s" % (name, err))
            extra = [ln for ln in err.splitlines()[1:]
                     if ("untagged row: %s (" % name) not in ln
                     and not ln.strip().startswith("untagged row: %s." % name)]
            if extra:
                return fail("deleting %s's tags reported other rows too:\n%s"
                            % (name, "\n".join(extra)))

        # 2. a typo in a tag is an error naming the bad name
        victim = victims[0][0]
        typo = victim + "X" if victim.isupper() else victim + "_typo"

        def misspell(n, t):
            return re.sub(r"(/\*\s*rows:[^*]*?)(?<![\w:.])%s(?![\w:.])"
                          % re.escape(victim),
                          lambda m: m.group(1) + typo, t, count=1)
        rc, out, err = run_quiet(fresh(misspell))
        if rc != 1 or ("tag names no row" not in err) or (typo not in err):
            return fail("a misspelt tag (%s) was not reported:\n%s" % (typo, err))

        # 3. a stray tag, attached to no test, is an error
        above = re.compile(r"(/\*\s*rows:[^*]*\*/\n)(Test\()")
        first = None
        for src in sources:
            with open(src, encoding="utf-8") as fh:
                if above.search(fh.read()):
                    first = os.path.basename(src)
                    break
        if first is None:
            return fail("no one-line tag right above a Test line to move")

        def stray(n, t):
            return t + "\n/* rows: %s */\n" % victim if n == first else t
        rc, out, err = run_quiet(fresh(stray))
        if rc != 1 or "belongs to no Test" not in err:
            return fail("a stray tag was not reported:\n%s" % err)

        # 4. a tag separated from its test by code is not attached
        def detached(n, t):
            if n != first:
                return t
            return above.sub(r"\1static int detached_;\n\2", t, count=1)
        rc, out, err = run_quiet(fresh(detached))
        if rc != 1 or "belongs to no Test" not in err:
            return fail("a tag separated from its Test by code was accepted:\n%s"
                        % err)

    sys.stdout.write("self-test: ok (deleted every tag of %s; a misspelt, a "
                     "stray and a detached tag are refused)\n"
                     % ", ".join(v[0] for v in victims))
    return 0


def tags_in(tdir):
    tags, _ = collect(tdir)
    return list(tags.items())


def main(argv):
    args = list(argv[1:])
    mode = "check"
    if args and args[0] in ("--self-test", "--list"):
        mode = args.pop(0)[2:]
    if len(args) > 2 or any(a.startswith("-") for a in args):
        sys.stderr.write("usage: python3 tests/check_row_tags.py "
                         "[--self-test | --list] [spec/api.json [tests]]\n")
        return 2
    api_path = args[0] if len(args) > 0 else DEFAULT_API
    tests_dir = args[1] if len(args) > 1 else DEFAULT_TESTS
    if mode == "self-test":
        return self_test(api_path, tests_dir)
    return run_check(api_path, tests_dir, listing=(mode == "list"))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
