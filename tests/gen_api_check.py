#!/usr/bin/env python3
"""Generate the API conformance check from spec/api.json.

Usage: python3 tests/gen_api_check.py spec/api.json OUT.c

The table is validated first (schema, duplicate C names, the C binding rule
of REQUIREMENTS section 1); on any problem every problem is listed on stderr,
OUT.c is not written and the exit status is 1 (2 for a usage or I/O error).

For every row whose status is "implemented" OUT.c holds:
  - compile-time checks (_Static_assert): each constant's value and type, each
    struct's typedef, each field's offsetof and C type and the table order of
    the fields, each method's and function's exact C signature;
    a field with "shares_offset_with" (a union member overlaying earlier
    fields, such as ReactorRuntime.core) is checked to start at that field's
    offset instead, and is left out of the order check;
  - one Criterion test per row (suite "api_table"), so that the test run
    reports how many rows were checked.
Rows with status "planned" are validated but generate nothing.

These checks prove that a row exists with the right C shape, not what it
does.  That is the behavioural suites' job, and each row names its tests:
a comment "/* rows: NAME, NAME, ... */" right above a Criterion Test(...)
(or inside its body) tags that test with the rows it really exercises, the
names spelled as the table spells them: Struct::method, Struct.field,
Struct, CONSTANT (seed name, no VRT_), and the bare global name (spawn,
task_group_named, poll_ready).  tests/check_row_tags.py fails the build when
an implemented constant, struct, method or function has no tagged test, when
a field is covered neither by its own tag nor by its struct's, and when a
tag names no row or belongs to no test; its docstring has the full rule.
tests/gen_api_reference.py renders the same table as spec/API.md.

Python standard library only.
"""

import json
import re
import sys

HEADER = "generated from spec/api.json by tests/gen_api_check.py; do not edit"

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

CONSTANT_KEYS = ["name", "c_name", "value", "c_type", "group", "description",
                 "origin", "status"]
STRUCT_KEYS = ["name", "c_name", "c_tag", "description", "origin", "status",
               "fields", "methods"]
FIELD_KEYS = ["name", "seed_type", "c_type", "description", "origin"]
# Optional key of a field row: the name of an earlier field of the same struct
# that this one overlays in a union (both start at the same offset).
FIELD_OPTIONAL = ["shares_offset_with"]
METHOD_KEYS = ["name", "c_name", "seed_signature", "c_return", "c_params",
               "error_return", "errors", "description", "origin", "status"]
FUNCTION_KEYS = ["name", "c_name", "group", "seed_signature", "c_return",
                 "c_params", "error_return", "errors", "description", "origin",
                 "status"]
# Optional key of a function row: the global's C name is, by the section 1
# rule, also the C name of a method ("Struct::method"); one symbol serves both.
FUNCTION_OPTIONAL = ["shares_symbol_with"]
PARAM_KEYS = ["name", "c_type"]
ERROR_KEYS = ["errno", "when"]

ORIGINS = ("seed", "extension")
STATUSES = ("implemented", "planned")
CONSTRUCTORS = ("new", "named")  # methods without self, returning the struct

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONST_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
STRUCT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
FUNC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ERRNO_NAME = re.compile(r"^E[A-Z0-9]+$")
# A C type name as the table may spell it: identifiers, '*', spaces and, for
# function pointer fields, one parenthesised abstract declarator.
C_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_ *(),]*$")


def snake(camel):
    """TaskNode -> task_node, ReactorRuntime -> reactor_runtime."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).lower()


def c_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_int64(value):
    if value == INT64_MIN:
        return "(-INT64_C(%d) - 1)" % INT64_MAX
    return "INT64_C(%d)" % value


class Table:
    def __init__(self, path):
        self.path = path
        self.problems = []

    def bad(self, where, message):
        self.problems.append("%s: %s: %s" % (self.path, where, message))

    # -- generic shape checks ------------------------------------------------

    def keys(self, where, row, required, optional=()):
        if not isinstance(row, dict):
            self.bad(where, "must be an object")
            return False
        ok = True
        for key in required:
            if key not in row:
                self.bad(where, "missing key '%s'" % key)
                ok = False
        for key in row:
            if key not in required and key not in optional:
                self.bad(where, "unknown key '%s'" % key)
                ok = False
        return ok

    def text(self, where, row, key, nullable=False):
        value = row.get(key)
        if value is None and nullable:
            return True
        if not isinstance(value, str) or not value.strip():
            self.bad(where, "'%s' must be a non-empty string%s"
                     % (key, " or null" if nullable else ""))
            return False
        return True

    def enum(self, where, row, key, allowed):
        if row.get(key) not in allowed:
            self.bad(where, "'%s' must be one of %s, not %r"
                     % (key, ", ".join(allowed), row.get(key)))
            return False
        return True

    def c_type(self, where, row, key, allow_parens=True):
        value = row.get(key)
        if not isinstance(value, str) or not C_TYPE.match(value) \
                or value.count("(") != value.count(")"):
            self.bad(where, "'%s' is not a C type name: %r" % (key, value))
            return False
        if not allow_parens and "(" in value:
            self.bad(where, "'%s' %r: use a typedef for a function pointer "
                     "return type" % (key, value))
            return False
        return True

    def seed_text(self, where, row, key, nullable_for_extension=True):
        """seed rows need a string; extension rows may have null."""
        if row.get("origin") == "seed":
            return self.text(where, row, key)
        return self.text(where, row, key, nullable=nullable_for_extension)

    def errors_list(self, where, row):
        errs = row.get("errors")
        if not isinstance(errs, list):
            self.bad(where, "'errors' must be a list")
            return
        for i, err in enumerate(errs):
            w = "%s.errors[%d]" % (where, i)
            if not self.keys(w, err, ERROR_KEYS):
                continue
            if not isinstance(err["errno"], str) or not ERRNO_NAME.match(err["errno"]):
                self.bad(w, "'errno' must be an E... name, not %r" % err["errno"])
            self.text(w, err, "when")
        er = row.get("error_return")
        if isinstance(er, str):
            if er == "none" and errs:
                self.bad(where, "error_return is 'none' but errors are listed")
            if er != "none" and not errs:
                self.bad(where, "error_return is %r but no errors are listed" % er)

    def params(self, where, row):
        params = row.get("c_params")
        if not isinstance(params, list):
            self.bad(where, "'c_params' must be a list")
            return False
        ok = True
        names = set()
        for i, p in enumerate(params):
            w = "%s.c_params[%d]" % (where, i)
            if not self.keys(w, p, PARAM_KEYS):
                ok = False
                continue
            if not isinstance(p["name"], str) or not IDENT.match(p["name"]):
                self.bad(w, "parameter name %r is not an identifier" % p["name"])
                ok = False
            elif p["name"] in names:
                self.bad(w, "duplicate parameter name %r" % p["name"])
                ok = False
            names.add(p.get("name"))
            if not self.c_type(w, p, "c_type"):
                ok = False
        return ok

    def seed_signature(self, where, row):
        sig = row.get("seed_signature")
        if isinstance(sig, str) and isinstance(row.get("name"), str):
            if not sig.startswith("F %s(" % row["name"]):
                self.bad(where, "seed_signature %r does not declare %r"
                         % (sig, row["name"]))

    # -- the table -----------------------------------------------------------

    def validate(self, data):
        if not self.keys("top level", data, ["version", "constants", "structs",
                                             "functions"]):
            return
        if data["version"] != 1:
            self.bad("version", "must be 1, not %r" % data["version"])
        for key in ("constants", "structs", "functions"):
            if not isinstance(data[key], list):
                self.bad(key, "must be a list")
                return
        symbols = {}   # C name -> (where, row, kind)
        tests = set()

        def claim(c_name, where, row, kind):
            if not isinstance(c_name, str):
                return
            if c_name in symbols:
                other = symbols[c_name]
                share = row.get("shares_symbol_with") if kind == "function" else None
                if share is not None and other[2] == "method" and other[3] == share:
                    if (row.get("c_return"), types_of(row)) != \
                            (other[1].get("c_return"), types_of(other[1])):
                        self.bad(where, "shares C name %s with %s but the C "
                                 "signatures differ" % (c_name, share))
                    elif row.get("status") != other[1].get("status"):
                        self.bad(where, "shares C name %s with %s but the "
                                 "statuses differ" % (c_name, share))
                    row["_shared"] = True
                    return
                self.bad(where, "duplicate c_name %s (also %s)" % (c_name, other[0]))
            else:
                label = row.get("_label")
                symbols[c_name] = (where, row, kind, label)

        def test_name(name, where):
            if name in tests:
                self.bad(where, "duplicate test name %s" % name)
            tests.add(name)

        names = set()
        for i, c in enumerate(data["constants"]):
            where = "constants[%d]%s" % (i, label_of(c))
            if not self.keys(where, c, CONSTANT_KEYS):
                continue
            ok = isinstance(c["name"], str) and CONST_NAME.match(c["name"])
            if not ok:
                self.bad(where, "name %r is not an UPPER_CASE name" % c["name"])
            elif c["c_name"] != "VRT_" + c["name"]:
                self.bad(where, "c_name %r breaks the section 1 rule: expected %r"
                         % (c["c_name"], "VRT_" + c["name"]))
            if c["name"] in names:
                self.bad(where, "duplicate constant name %r" % c["name"])
            names.add(c["name"])
            v = c["value"]
            if isinstance(v, bool) or not isinstance(v, int) \
                    or not INT64_MIN <= v <= INT64_MAX:
                self.bad(where, "value must be an int64 integer, not %r" % v)
            self.c_type(where, c, "c_type", allow_parens=False)
            self.text(where, c, "group")
            self.text(where, c, "description")
            self.enum(where, c, "origin", ORIGINS)
            self.enum(where, c, "status", STATUSES)
            claim(c["c_name"], where, c, "constant")
            test_name("const_%s" % c["name"], where)

        names = set()
        for i, s in enumerate(data["structs"]):
            where = "structs[%d]%s" % (i, label_of(s))
            if not self.keys(where, s, STRUCT_KEYS):
                continue
            sname = s["name"]
            if not isinstance(sname, str) or not STRUCT_NAME.match(sname):
                self.bad(where, "name %r is not a CamelCase struct name" % sname)
                continue
            if sname in names:
                self.bad(where, "duplicate struct name %r" % sname)
            names.add(sname)
            sn = snake(sname)
            if s["c_name"] != "vrt_%s_t" % sn:
                self.bad(where, "c_name %r breaks the section 1 rule: expected %r"
                         % (s["c_name"], "vrt_%s_t" % sn))
            if s["c_tag"] != "struct vrt_%s" % sn:
                self.bad(where, "c_tag %r breaks the section 1 rule: expected %r"
                         % (s["c_tag"], "struct vrt_%s" % sn))
            self.text(where, s, "description")
            self.enum(where, s, "origin", ORIGINS)
            self.enum(where, s, "status", STATUSES)
            claim(s["c_name"], where, s, "struct")
            claim(s["c_tag"], where, s, "tag")
            test_name("struct_%s" % sname, where)

            if not isinstance(s["fields"], list) or not s["fields"]:
                self.bad(where, "'fields' must be a non-empty list")
            else:
                fnames = set()
                overlays = set()
                for j, f in enumerate(s["fields"]):
                    w = "%s.fields[%d]%s" % (where, j, label_of(f))
                    if not self.keys(w, f, FIELD_KEYS, FIELD_OPTIONAL):
                        continue
                    if "shares_offset_with" in f:
                        base = f["shares_offset_with"]
                        if not isinstance(base, str) or base not in fnames \
                                or base in overlays:
                            self.bad(w, "shares_offset_with %r must name an "
                                     "earlier field of %s that overlays nothing"
                                     % (base, sname))
                        overlays.add(f.get("name"))
                    if not isinstance(f["name"], str) or not IDENT.match(f["name"]):
                        self.bad(w, "field name %r is not an identifier" % f["name"])
                    elif f["name"] in fnames:
                        self.bad(w, "duplicate field name %r" % f["name"])
                    fnames.add(f.get("name"))
                    self.enum(w, f, "origin", ORIGINS)
                    if s.get("origin") == "extension" and f.get("origin") == "seed":
                        self.bad(w, "a seed field cannot belong to an extension struct")
                    self.seed_text(w, f, "seed_type")
                    self.c_type(w, f, "c_type")
                    self.text(w, f, "description")
                    test_name("field_%s_%s" % (sname, f.get("name")), w)

            if not isinstance(s["methods"], list):
                self.bad(where, "'methods' must be a list")
                continue
            mnames = set()
            for j, m in enumerate(s["methods"]):
                w = "%s.methods[%d]%s" % (where, j, label_of(m))
                if not self.keys(w, m, METHOD_KEYS):
                    continue
                mname = m["name"]
                if not isinstance(mname, str) or not FUNC_NAME.match(mname):
                    self.bad(w, "method name %r is not a snake_case name" % mname)
                    continue
                if mname in mnames:
                    self.bad(w, "duplicate method name %r" % mname)
                mnames.add(mname)
                expect = "vrt_%s_%s" % (sn, mname)
                if m["c_name"] != expect:
                    self.bad(w, "c_name %r breaks the section 1 rule: expected %r"
                             % (m["c_name"], expect))
                self.enum(w, m, "origin", ORIGINS)
                self.enum(w, m, "status", STATUSES)
                if s.get("status") == "planned" and m.get("status") == "implemented":
                    self.bad(w, "an implemented method cannot belong to a planned struct")
                if s.get("origin") == "extension" and m.get("origin") == "seed":
                    self.bad(w, "a seed method cannot belong to an extension struct")
                self.seed_text(w, m, "seed_signature")
                self.seed_signature(w, m)
                self.c_type(w, m, "c_return", allow_parens=False)
                self.text(w, m, "error_return")
                self.errors_list(w, m)
                self.text(w, m, "description")
                if self.params(w, m):
                    self_type = "%s *" % s["c_name"]
                    if mname in CONSTRUCTORS:
                        if m["c_return"] != s["c_name"]:
                            self.bad(w, "%s must return %s by value (section 1)"
                                     % (mname, s["c_name"]))
                        if m["c_params"] and m["c_params"][0]["name"] == "self":
                            self.bad(w, "%s takes no self (section 1)" % mname)
                    elif not m["c_params"] or m["c_params"][0] != \
                            {"name": "self", "c_type": self_type}:
                        self.bad(w, "first parameter must be self of type %r "
                                 "(section 1)" % self_type)
                m["_label"] = "%s::%s" % (sname, mname)
                claim(m["c_name"], w, m, "method")
                test_name("method_%s_%s" % (sname, mname), w)

        names = set()
        for i, fn in enumerate(data["functions"]):
            where = "functions[%d]%s" % (i, label_of(fn))
            if not self.keys(where, fn, FUNCTION_KEYS, FUNCTION_OPTIONAL):
                continue
            name = fn["name"]
            if not isinstance(name, str) or not FUNC_NAME.match(name):
                self.bad(where, "name %r is not a snake_case name" % name)
                continue
            if name in names:
                self.bad(where, "duplicate function name %r" % name)
            names.add(name)
            if fn["c_name"] != "vrt_" + name:
                self.bad(where, "c_name %r breaks the section 1 rule: expected %r"
                         % (fn["c_name"], "vrt_" + name))
            self.text(where, fn, "group")
            self.enum(where, fn, "origin", ORIGINS)
            self.enum(where, fn, "status", STATUSES)
            self.seed_text(where, fn, "seed_signature")
            self.seed_signature(where, fn)
            self.c_type(where, fn, "c_return", allow_parens=False)
            self.params(where, fn)
            self.text(where, fn, "error_return")
            self.errors_list(where, fn)
            self.text(where, fn, "description")
            if "shares_symbol_with" in fn:
                self.text(where, fn, "shares_symbol_with")
            claim(fn["c_name"], where, fn, "function")
            if "shares_symbol_with" in fn and not fn.get("_shared"):
                self.bad(where, "shares_symbol_with %r, but no method of that "
                         "name has the C name %s"
                         % (fn["shares_symbol_with"], fn["c_name"]))
            test_name("func_%s" % name, where)


def label_of(row):
    if isinstance(row, dict) and isinstance(row.get("name"), str):
        return " (%s)" % row["name"]
    return ""


def types_of(row):
    params = row.get("c_params")
    if not isinstance(params, list):
        return None
    return tuple(p.get("c_type") if isinstance(p, dict) else None for p in params)


def fn_pointer_type(ret, params, declarator=""):
    """RET (*declarator)(PARAMS) as a type name or a declaration."""
    plist = ", ".join(p["c_type"] for p in params) or "void"
    return "%s (*%s)(%s)" % (ret, declarator, plist)


def generate(data):
    out = []
    emit = out.append
    counts = {"constants": 0, "structs": 0, "fields": 0, "methods": 0,
              "functions": 0}

    emit("/* %s */" % HEADER)
    emit("/* Every row of spec/api.json whose status is \"implemented\" is checked")
    emit(" * at compile time (_Static_assert) and by one Criterion test. */")
    emit('#include "vrt.h"')
    emit("")
    emit("#include <stddef.h>")
    emit("#include <stdint.h>")
    emit("")
    emit("#include <criterion/criterion.h>")
    emit("")

    impl = lambda row: row["status"] == "implemented"

    emit("/* ---- constants ---- */")
    emit("")
    for c in data["constants"]:
        if not impl(c):
            continue
        counts["constants"] += 1
        cn, v, t = c["c_name"], c_int64(c["value"]), c["c_type"]
        emit("_Static_assert(%s == %s, %s);"
             % (cn, v, c_string("%s == %d" % (cn, c["value"]))))
        emit("_Static_assert(_Generic(%s, %s: 1, default: 0), %s);"
             % (cn, t, c_string("%s has type %s" % (cn, t))))
        emit("Test(api_table, const_%s)" % c["name"])
        emit("{")
        emit("    cr_assert_eq(%s, %s, %s);" % (cn, v,
             c_string("%s is %d" % (cn, c["value"]))))
        emit("}")
        emit("")

    emit("/* ---- structs and fields ---- */")
    emit("")
    for s in data["structs"]:
        if not impl(s):
            continue
        counts["structs"] += 1
        tag, tname = s["c_tag"], s["c_name"]
        emit("_Static_assert(_Generic((%s *)0, %s *: 1, default: 0), %s);"
             % (tname, tag, c_string("%s is a typedef of %s" % (tname, tag))))
        emit("Test(api_table, struct_%s)" % s["name"])
        emit("{")
        emit("    cr_assert_gt(sizeof(%s), 0, %s);"
             % (tname, c_string("%s is a complete type" % tname)))
        emit("}")
        emit("")
        prev = None
        for f in s["fields"]:
            counts["fields"] += 1
            fname, ftype = f["name"], f["c_type"]
            label = "%s.%s" % (s["name"], fname)
            emit("_Static_assert(offsetof(%s, %s) < sizeof(%s), %s);"
                 % (tag, fname, tag, c_string("%s is a field" % label)))
            emit("_Static_assert(_Generic(((%s *)0)->%s, %s: 1, default: 0), %s);"
                 % (tag, fname, ftype, c_string("%s has type %s" % (label, ftype))))
            base = f.get("shares_offset_with")
            if base is not None:
                # A union member over earlier fields: same start, and no
                # place in the order of the others.
                emit("_Static_assert(offsetof(%s, %s) == offsetof(%s, %s), %s);"
                     % (tag, fname, tag, base,
                        c_string("%s shares its offset with %s.%s (a union)"
                                 % (label, s["name"], base))))
            elif prev is not None:
                emit("_Static_assert(offsetof(%s, %s) < offsetof(%s, %s), %s);"
                     % (tag, prev, tag, fname,
                        c_string("%s.%s comes before %s in the table and in "
                                 "the struct" % (s["name"], prev, fname))))
            if base is None:
                prev = fname
            emit("Test(api_table, field_%s_%s)" % (s["name"], fname))
            emit("{")
            emit("    size_t end = offsetof(%s, %s) + sizeof(((%s *)0)->%s);"
                 % (tag, fname, tag, fname))
            emit("    cr_assert_leq(end, sizeof(%s), %s);"
                 % (tag, c_string("%s lies within %s" % (label, tag))))
            emit("}")
            emit("")

    def signature_checks(row, test):
        cn = row["c_name"]
        ftype = fn_pointer_type(row["c_return"], row["c_params"])
        emit("_Static_assert(_Generic(&%s, %s: 1, default: 0), %s);"
             % (cn, ftype, c_string("%s has type %s" % (cn, ftype))))
        emit("Test(api_table, %s)" % test)
        emit("{")
        emit("    %s = &%s;"
             % (fn_pointer_type(row["c_return"], row["c_params"], "volatile fp"), cn))
        emit("    cr_assert(fp != NULL, %s);" % c_string("%s exists" % cn))
        emit("}")
        emit("")

    emit("/* ---- methods ---- */")
    emit("")
    for s in data["structs"]:
        for m in s["methods"]:
            if not impl(m):
                continue
            counts["methods"] += 1
            signature_checks(m, "method_%s_%s" % (s["name"], m["name"]))

    emit("/* ---- global functions ---- */")
    emit("")
    for fn in data["functions"]:
        if not impl(fn):
            continue
        counts["functions"] += 1
        signature_checks(fn, "func_%s" % fn["name"])

    total = sum(counts.values())
    emit("/* rows checked: %d (%s) */" % (total, ", ".join(
        "%s %d" % (k, v) for k, v in counts.items())))
    return "\n".join(out) + "\n", counts


def load_table(path, tool):
    """The parsed table, or (None, exit status) after a message on stderr:
    2 when the file cannot be read, 1 when it is not JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh), 0
    except OSError as e:
        sys.stderr.write("%s: cannot read %s: %s\n" % (tool, path, e))
        return None, 2
    except json.JSONDecodeError as e:
        sys.stderr.write("%s: %s is not valid JSON: %s\n" % (tool, path, e))
        return None, 1


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: python3 tests/gen_api_check.py spec/api.json OUT.c\n")
        return 2
    src, dst = argv[1], argv[2]
    data, rc = load_table(src, "gen_api_check")
    if data is None:
        return rc
    table = Table(src)
    table.validate(data)
    if table.problems:
        sys.stderr.write("gen_api_check: malformed table, %s not written:\n" % dst)
        for p in table.problems:
            sys.stderr.write("  %s\n" % p)
        return 1
    text, counts = generate(data)
    try:
        with open(dst, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        sys.stderr.write("gen_api_check: cannot write %s: %s\n" % (dst, e))
        return 2
    sys.stdout.write("gen_api_check: %s: %d implemented rows checked (%s)\n" % (
        dst, sum(counts.values()),
        ", ".join("%s %d" % (k, v) for k, v in counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
