#!/usr/bin/env python3
"""Generate the API reference page from spec/api.json.

Usage: python3 tests/gen_api_reference.py spec/api.json OUT.md

OUT.md (spec/API.md in the tree) lists, in table order: the constants by
group; each struct with its fields and then its methods; the global functions
by group.  For every constant, struct, field, method and function it gives
the seed name, the C name, the C type or signature, the origin (seed or
extension) and the status; for a method or function also the seed signature,
the error return and each errno with when it is set.  The page is a pure
function of the table: regenerate it, never edit it (`make spec/API.md`;
`make api-reference-check` fails when it is stale).

The table is validated with tests/gen_api_check.py first; a malformed table
writes nothing and exits 1 (2 for a usage or I/O error).  Python standard
library only.
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in tests/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_api_check  # noqa: E402  (the table's validator)

HEADER = ("generated from spec/api.json by tests/gen_api_reference.py; "
          "do not edit")


def cell(text):
    """Text for a Markdown table cell."""
    if text is None:
        return "—"
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def code(text):
    if text is None:
        return "—"
    return "`%s`" % str(text).replace("|", "\\|")


def anchor(text):
    """GitHub's anchor for a heading."""
    out = []
    for ch in text.lower():
        if ch.isalnum() or ch in "-_":
            out.append(ch)
        elif ch == " ":
            out.append("-")
    return "".join(out)


def declarator(c_type, name):
    """A parameter declaration: 'int64_t' 'fd' -> 'int64_t fd',
    'vrt_runtime_t *' 'self' -> 'vrt_runtime_t *self', and a function
    pointer type 'R (*)(A)' -> 'R (*name)(A)'."""
    if "(*)" in c_type:
        return c_type.replace("(*)", "(*%s)" % name, 1)
    if c_type.endswith("*"):
        return "%s%s" % (c_type, name)
    return "%s %s" % (c_type, name)


def c_signature(row):
    params = ", ".join(declarator(p["c_type"], p["name"])
                       for p in row["c_params"]) or "void"
    ret = row["c_return"]
    sep = "" if ret.endswith("*") else " "
    return "%s%s%s(%s)" % (ret, sep, row["c_name"], params)


def groups_in_order(rows):
    order, by = [], {}
    for r in rows:
        g = r["group"]
        if g not in by:
            by[g] = []
            order.append(g)
        by[g].append(r)
    return [(g, by[g]) for g in order]


def status_note(row):
    return "" if row["status"] == "implemented" else " (planned)"


def callable_block(emit, heading, title, row, note=None):
    heading(4, title)
    emit("```c")
    emit("%s;" % c_signature(row))
    emit("```")
    emit("")
    emit(row["description"])
    emit("")
    emit("- C name: `%s`" % row["c_name"])
    emit("- Seed signature: %s" % code(row["seed_signature"]))
    emit("- Origin: %s; status: %s" % (row["origin"], row["status"]))
    if note:
        emit("- %s" % note)
    er = row["error_return"]
    if er == "none":
        emit("- Errors: none (never fails)")
    else:
        emit("- Error return: `%s`, with errno set to:" % er)
    emit("")
    if er != "none":
        emit("| errno | when |")
        emit("|---|---|")
        for e in row["errors"]:
            emit("| `%s` | %s |" % (e["errno"], cell(e["when"])))
        emit("")


def generate(data):
    out = []
    emit = out.append
    consts, structs, funcs = data["constants"], data["structs"], data["functions"]

    def count(rows):
        return sum(1 for r in rows if r["status"] == "implemented"), len(rows)

    methods = [m for s in structs for m in s["methods"]]
    fields = sum(len(s["fields"]) for s in structs)

    emit("<!-- %s -->" % HEADER)
    emit("")
    emit("# vrt API reference")
    emit("")
    emit("Every row of `spec/api.json`, the table that the build checks the C "
         "API against (`tests/gen_api_check.py`) and that the behavioural "
         "tests are tagged with (`tests/check_row_tags.py`).  This page is "
         "%s: change the table, then run `make spec/API.md`." % HEADER)
    emit("")
    emit("Naming (section 1 of the requirements): struct `Foo` is `vrt_foo_t`, "
         "method `Foo::bar` is `vrt_foo_bar(vrt_foo_t *self, ...)`, global "
         "`baz` is `vrt_baz`, constant `NAME` is `VRT_NAME`.  *Origin* says "
         "whether a row is in the Vais seed API or a vrt extension.  A "
         "function that fails returns its error return and sets errno.")
    emit("")
    emit("| rows | implemented | in the table |")
    emit("|---|---|---|")
    for label, rows in (("constants", consts), ("structs", structs),
                        ("methods", methods), ("functions", funcs)):
        i, n = count(rows)
        emit("| %s | %d | %d |" % (label, i, n))
    emit("| fields | (with their struct) | %d |" % fields)
    emit("")

    toc_at = len(out)  # the contents go here, once every heading is known
    slugs = {"vrt-api-reference": 1, "contents": 1}  # the headings above
    toc = []

    def heading(level, text):
        """A heading, with GitHub's anchor (-1, -2, ... on repeats)."""
        base = anchor(text)
        n = slugs.get(base, 0)
        slugs[base] = n + 1
        slug = base if n == 0 else "%s-%d" % (base, n)
        if level <= 3:
            toc.append((level, text, slug))
        emit("%s %s" % ("#" * level, text))
        emit("")

    heading(2, "Constants")
    for g, rows in groups_in_order(consts):
        heading(3, g)
        emit("| seed name | C name | value | C type | origin | description |")
        emit("|---|---|---|---|---|---|")
        for c in rows:
            emit("| `%s`%s | `%s` | %d | `%s` | %s | %s |"
                 % (c["name"], status_note(c), c["c_name"], c["value"],
                    c["c_type"], c["origin"], cell(c["description"])))
        emit("")

    heading(2, "Structs")
    for s in structs:
        heading(3, s["name"])
        emit("- C type: `%s` (`%s`)" % (s["c_name"], s["c_tag"]))
        emit("- Origin: %s; status: %s" % (s["origin"], s["status"]))
        emit("")
        emit(s["description"])
        emit("")
        emit("| field | seed type | C type | origin | description |")
        emit("|---|---|---|---|---|")
        for f in s["fields"]:
            desc = f["description"]
            if "shares_offset_with" in f:
                desc = "(union member over `%s`) %s" % (f["shares_offset_with"],
                                                       desc)
            emit("| `%s` | %s | %s | %s | %s |"
                 % (f["name"], code(f["seed_type"]), code(f["c_type"]),
                    f["origin"], cell(desc)))
        emit("")
        if not s["methods"]:
            emit("No methods.")
            emit("")
        for m in s["methods"]:
            callable_block(emit, heading, "%s::%s%s"
                           % (s["name"], m["name"], status_note(m)), m)

    heading(2, "Global functions")
    for g, rows in groups_in_order(funcs):
        heading(3, g)
        for fn in rows:
            note = None
            if "shares_symbol_with" in fn:
                note = "Same C symbol as the method `%s`" % fn["shares_symbol_with"]
            callable_block(emit, heading, "%s%s" % (fn["name"], status_note(fn)),
                           fn, note)
    lines = ["## Contents", ""]
    for level, text, slug in toc:
        lines.append("%s- [%s](#%s)" % ("  " * (level - 2), text, slug))
    lines.append("")
    out[toc_at:toc_at] = lines
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: python3 tests/gen_api_reference.py "
                         "spec/api.json OUT.md\n")
        return 2
    src, dst = argv[1], argv[2]
    data, rc = gen_api_check.load_table(src, "gen_api_reference")
    if data is None:
        return rc
    table = gen_api_check.Table(src)
    table.validate(data)
    if table.problems:
        sys.stderr.write("gen_api_reference: malformed table, %s not "
                         "written:\n" % dst)
        for p in table.problems:
            sys.stderr.write("  %s\n" % p)
        return 1
    text = generate(data)
    try:
        with open(dst, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        sys.stderr.write("gen_api_reference: cannot write %s: %s\n" % (dst, e))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
