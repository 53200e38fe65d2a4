#!/usr/bin/env python3
"""The error paths of vrt-oracle: its command line and the scenario parser.

Usage: python3 coverage/oracle_errors.py VRT_ORACLE

Each case runs VRT_ORACLE on a scenario written to a scratch directory (or
with bad arguments) and expects an exit status and a message naming the
fault.  Exit status 0 when every case behaves, 1 otherwise (each failure on
stderr).  make coverage runs it over the gcov build of the oracle, so that
the report counts these paths; it checks the oracle's messages, not vrt.
VRT_ORACLE must be that build: its coverage/oracle_alloc_fail.c fails the
Nth allocation when VRT_ORACLE_FAIL_ALLOC=N.
"""
import os
import resource
import subprocess
import sys
import tempfile

# A scenario that parses and runs; cases below break one thing in it.
GOOD = """scenario good
covers Runtime::spawn
task A: pending; ready 1
spawn A
run
status A
"""

# A name one character longer than the oracle keeps (ORACLE_MAX_NAME - 1).
LONG = "N" * 48

# (what is wrong, scenario text, expected message)
PARSE_ERRORS = [
    ("empty file", "", "no 'scenario' statement"),
    ("no scenario first", "task A: ready 1\n", "the first statement must be 'scenario NAME'"),
    ("scenario without name", "scenario\n", "'scenario' takes one name"),
    ("scenario with two names", "scenario a b\n", "'scenario' takes one name"),
    ("bad scenario name", "scenario a!b\n", "bad scenario name 'a!b'"),
    ("scenario twice", "scenario a\nscenario b\n", "'scenario' given twice"),
    ("covers without items", "scenario a\ncovers\n", "'covers' needs items"),
    ("too many covers", "scenario a\ncovers " + " ".join("X%d" % i for i in range(65)) + "\n",
     "too many covers items"),
    ("host without word", "scenario a\nhost\n", "'host' takes one word"),
    ("unknown host", "scenario a\nhost mars\n", "unknown host 'mars'"),
    ("host after tasks", "scenario a\ntask A: ready 1\nhost reactor\n",
     "'host' must come before the tasks"),
    ("pipes without number", "scenario a\npipes\n", "'pipes' takes one number"),
    ("pipes not a number", "scenario a\npipes x1\n", "bad number 'x1'"),
    ("pipes only a sign", "scenario a\npipes -\n", "bad number '-'"),
    ("pipes overflowing", "scenario a\npipes 99999999999999999999999\n", "number out of range"),
    ("pipes past int64", "scenario a\npipes 9223372036854775808\n", "number out of range"),
    ("pipes below int64", "scenario a\npipes -9223372036854775809\n", "number out of range"),
    ("pipes negative", "scenario a\npipes -1\n", "number out of range '-1'"),
    ("pipes after tasks", "scenario a\ntask A: ready 1\npipes 1\n",
     "'pipes' must come before the tasks"),
    ("task without colon", "scenario a\ntask A ready 1\n", "task needs 'NAME: STEPS'"),
    ("task with two names", "scenario a\ntask A B: ready 1\n",
     "task needs exactly one name before ':'"),
    ("bad task name", "scenario a\ntask A!: ready 1\n", "bad script name 'A!'"),
    ("task twice", "scenario a\ntask A: ready 1\ntask A: ready 2\n", "script 'A' defined twice"),
    ("task without outcome", "scenario a\npipes 1\ntask A: write 0\n",
     "script 'A' has no outcome"),
    ("step without argument", "scenario a\ntask A: ready\n", "step 'ready' takes 1 argument"),
    ("unknown step", "scenario a\ntask A: fly 1; ready 1\n", "unknown step 'fly'"),
    ("bad-status that is Ready", "scenario a\ntask A: bad-status 1 0; ready 1\n",
     "bad-status 1 is Ready"),
    ("empty step", "scenario a\ntask A: ; ready 1\n", "empty step"),
    ("step on a missing pipe", "scenario a\ntask A: wait-read 3; ready 1\n", "no pipe '3'"),
    ("call step without operation", "scenario a\ntask A: call; ready 1\n",
     "step 'call' needs an operation"),
    ("call step with unknown operation", "scenario a\ntask A: call fly; ready 1\n",
     "unknown operation 'fly'"),
    ("spawn step of a bad name", "scenario a\ntask A: spawn B!; ready 1\n", "bad script name 'B!'"),
    ("spawn of an unknown script", "scenario a\nspawn Z\n", "unknown script 'Z'"),
    ("unknown host call", "scenario a\nfrobnicate\n", "unknown operation 'frobnicate'"),
    ("host call with too many arguments", "scenario a\nrun 1\n", "'run' takes 0 arguments, not 1"),
    ("null without operation", "scenario a\nnull\n", "'null' needs an operation"),
    ("null of a call with no NULL form", "scenario a\nnull write 0\n", "'null write' does not exist"),
    ("null-fn of another call", "scenario a\nnull-fn run\n",
     "'null-fn' applies to spawn and block_on only"),
    ("host call on a missing pipe", "scenario a\nwrite 0\n", "no pipe '0'"),
    ("bad instance name", "scenario a\ntask A: ready 1\nstatus A!\n", "bad instance name 'A!'"),
    ("covers after a host call", "scenario a\ntask A: ready 1\nspawn A\ncovers X\n",
     "'covers' after the first host call"),
    ("line too long", "scenario a\ncovers " + "X" * 5000 + "\n", "line too long"),
    ("scenario name too long", "scenario %s\n" % LONG, "scenario name too long"),
    ("covers item too long", "scenario a\ncovers %s\n" % LONG, "covers item too long"),
    ("script name too long", "scenario a\ntask %s: ready 1\n" % LONG, "script name too long"),
    ("spawn step of a too long name", "scenario a\ntask A: spawn %s; ready 1\n" % LONG,
     "script name too long"),
    ("argument too long", "scenario a\nsleep %s\n" % ("0" * 48), "argument too long"),
    ("too many tokens", "scenario a\ncovers" + " X" * 80 + "\n", "too many tokens"),
    ("too many scripts", "scenario a\n" + "".join("task T%d: ready 1\n" % i for i in range(33)),
     "too many scripts (at most 32)"),
    ("too many steps", "scenario a\ntask A: " + "pending;" * 64 + "ready 1\n",
     "too many steps (at most 64)"),
    ("too many call steps", "scenario a\n" + "".join(
        "task T%d: %sready 1\n" % (i, "call run;" * 60) for i in range(3)),
     "too many call steps (at most 128)"),
    ("too many host calls", "scenario a\n" + "run\n" * 513, "too many host calls (at most 512)"),
    ("host call with a bad number", "scenario a\nsleep x\n", "bad number 'x'"),
    ("host spawn of a bad name", "scenario a\nspawn A!\n", "bad script name 'A!'"),
    ("instance number 1", "scenario a\ntask A: ready 1\nstatus A.1\n", "bad instance name 'A.1'"),
    ("instance number negative", "scenario a\ntask A: ready 1\nstatus A.-2\n",
     "bad instance name 'A.-2'"),
    ("instance number missing", "scenario a\ntask A: ready 1\nstatus A.\n",
     "bad instance name 'A.'"),
    ("instance number not a number", "scenario a\ntask A: ready 1\nstatus A.x\n",
     "bad instance name 'A.x'"),
    ("instance without script", "scenario a\ntask A: ready 1\nstatus .2\n",
     "bad instance name '.2'"),
    ("ready of a bad number", "scenario a\ntask A: ready x\n", "bad number 'x'"),
    ("bad-status of a bad number", "scenario a\ntask A: bad-status x 1\n", "bad number 'x'"),
    ("sleep step of a bad number", "scenario a\ntask A: sleep x\n", "bad number 'x'"),
    ("abort step of a bad name", "scenario a\ntask A: abort A!; ready 1\n",
     "bad instance name 'A!'"),    ("a number with a character below '0'", "scenario a\nsleep 1/\n", "bad number '1/'"),
    ("an instance number below '0'", "scenario a\ntask A: ready 1\nstatus A./\n",
     "bad instance name 'A./'"),
    ("a name with a character above 'z'", "scenario a~b\n", "bad scenario name 'a~b'"),
    ("null of an unknown operation", "scenario a\nnull fly\n", "unknown operation 'null fly'"),
    ("loop of an unknown operation", "scenario a\nloop fly\n", "unknown operation 'loop fly'"),
    ("null read", "scenario a\npipes 1\nnull read 0\n", "'null read' does not exist"),
    ("null close", "scenario a\npipes 1\nnull close 0\n", "'null close' does not exist"),
    ("null reopen", "scenario a\npipes 1\nnull reopen 0\n", "'null reopen' does not exist"),
    ("null hold", "scenario a\npipes 1\nnull hold 0\n", "'null hold' does not exist"),
    ("null write-held", "scenario a\npipes 1\nnull write-held 0\n",
     "'null write-held' does not exist"),
    ("host call without its argument", "scenario a\nsleep\n", "'sleep' takes 1 argument, not 0"),
    ("pending with an argument", "scenario a\ntask A: pending 1; ready 1\n",
     "step 'pending' takes 0 arguments"),
    ("bad-status with one argument", "scenario a\ntask A: bad-status 2; ready 1\n",
     "step 'bad-status' takes 2 arguments"),
    ("bad-status of a bad value", "scenario a\ntask A: bad-status 2 x; ready 1\n",
     "bad number 'x'"),
    ("wait-read step without pipe", "scenario a\ntask A: wait-read; ready 1\n",
     "step 'wait-read' takes 1 argument"),
    ("sleep step without delay", "scenario a\ntask A: sleep; ready 1\n",
     "step 'sleep' takes 1 argument"),
    ("spawn step without script", "scenario a\ntask A: spawn; ready 1\n",
     "step 'spawn' takes 1 argument"),
    ("abort step without instance", "scenario a\ntask A: abort; ready 1\n",
     "step 'abort' takes 1 argument"),
    ("a NUL byte in a line", "scenario a\n\0x\n", "line too long"),
]

# (what, scenario text, expected output): unusual texts that parse and run.
RUNS = [
    ("INT64_MIN as a number", "scenario a\nsleep -9223372036854775808\n",
     "call sleep -9223372036854775808 -> -1 EINVAL"),
    ("a step list ending in ';'", "scenario a\ntask A: ready 1;\nspawn A\n", "call spawn A -> 0"),
    ("no newline at the end", "scenario a\ntask A: ready 1\nspawn A", "call spawn A -> 0"),
    ("host runtime named", "scenario a\nhost runtime\ntask A: ready 1\nspawn A\n",
     "call spawn A -> 0"),
]

# (what is wrong, scenario text, expected message): scenarios that parse
# but whose run fails on both engines.
RUN_ERRORS = [
    ("status of a task never spawned", "scenario a\ntask A: ready 1\nstatus A\n",
     "no instance 'A' (yet)"),
    ("status of a block_on future", "scenario a\ntask A: ready 1\nblock_on A\nstatus A\n",
     "'A' is a block_on future, not a task"),
    ("more than 512 instances", "scenario a\ntask B: ready 1\ntask A: %sready 1\n%srun\n"
     % ("spawn B;" * 63, "spawn A\n" * 9), "more than 512 instances"),
    ("a task that never ends", "scenario a\ntask A: pending\nspawn A\nrun\n",
     "more than 100000 polls: stopped"),
]


def run(oracle, args, env=None, max_fds=None):
    def limit_fds():
        if max_fds is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))
    p = subprocess.run([oracle] + args, capture_output=True, text=True, timeout=60,
                       env=None if env is None else dict(os.environ, **env),
                       preexec_fn=limit_fds)
    return p.returncode, p.stdout + p.stderr


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    oracle = sys.argv[1]
    problems = []
    cases = []

    def expect(what, args, status, message, env=None, max_fds=None):
        cases.append(what)
        rc, out = run(oracle, args, env, max_fds)
        if rc != status or message not in out:
            problems.append("%s: exit %d (expected %d), output:\n%s\n(expected '%s')"
                            % (what, rc, status, out.strip()[:600], message))

    with tempfile.TemporaryDirectory() as tmp:
        for i, (what, text, message) in enumerate(PARSE_ERRORS):
            path = os.path.join(tmp, "case%d.scn" % i)
            with open(path, "w") as f:
                f.write(text)
            expect(what, [path], 1, message)
        for i, (what, text, message) in enumerate(RUN_ERRORS):
            path = os.path.join(tmp, "run%d.scn" % i)
            with open(path, "w") as f:
                f.write(text)
            expect(what, [path], 1, message)
            expect(what + " (--check)", ["--check", path], 1, "FAIL a (the run failed)")
            expect(what + " (--compare)", ["--compare", path], 1,
                   "(a run failed: vrt -1, model -1)")
        for i, (what, text, message) in enumerate(RUNS):
            path = os.path.join(tmp, "runs%d.scn" % i)
            with open(path, "w") as f:
                f.write(text)
            expect(what, [path], 0, message)
        good = os.path.join(tmp, "good.scn")
        with open(good, "w") as f:
            f.write(GOOD)
        bad = os.path.join(tmp, "case0.scn")
        missing = os.path.join(tmp, "missing.scn")

        expect("no arguments", [], 2, "usage: vrt-oracle")
        expect("unknown option", ["--fly", good], 2, "unknown option --fly")
        expect("two modes", ["--check", "--compare", good], 2, "usage: vrt-oracle")
        expect("a missing file", [missing], 1, "missing.scn")
        expect("--check of an unparsable file", ["--check", bad], 1, "(does not parse)")
        expect("--compare of an unparsable file", ["--compare", bad], 1, "(does not parse)")
        expect("--check without a trace", ["--check", good], 1, "FAIL good (no ")
        expect("the trace printed", ["--", good], 0, "== good")
        expect("the trace printed by the model", ["--model", good], 0, "== good")
        expect("--write", ["--write", good], 0, "wrote ")
        expect("--check against the written trace", ["--check", good], 0, "1 passed, 0 failed")
        expect("--compare", ["--compare", good], 0, "SAME good")
        with open(os.path.join(tmp, "good.trace"), "a") as f:
            f.write("call run -> 7\n")
        expect("--check against a wrong trace", ["--check", good], 1, "FAIL good")
        trace = os.path.join(tmp, "good.trace")
        with open(trace) as f:
            lines = f.read().splitlines(True)
        with open(trace, "w") as f:
            f.writelines(lines[:2])
        expect("--check against a cut trace", ["--check", good], 1, "- expected: (end of trace)")
        with open(trace, "w") as f:
            f.writelines(lines[:1] + ["call run -> 7\n"] + lines[2:])
        expect("--check against a changed line", ["--check", good], 1, "- expected: call run -> 7")
        expect("a directory for a scenario", [tmp], 1, "read error")
        lines = lines[:-1]  # the trace as --write wrote it
        with open(trace, "w") as f:
            f.writelines(lines[:-1] + [lines[-1].replace("-> 3", "-> 4")])
        expect("--check against a trace of the same length", ["--check", good], 1,
               "- expected: call status A -> 4")
        with open(trace, "w") as f:
            f.writelines(lines[:-1] + [lines[-1].rstrip("\n")])
        expect("--check against a trace without its last newline", ["--check", good], 1,
               "+ got: call status A -> 3")
        for limit in ("0", "5", "99999"):
            expect("VRT_ORACLE_TIME_LIMIT=" + limit, ["--model", good], 0, "== good",
                   env={"VRT_ORACLE_TIME_LIMIT": limit})
        plain = os.path.join(tmp, "plain")
        with open(plain, "w") as f:
            f.write(GOOD)
        expect("a scenario without .scn", ["--check", plain], 1, "(no %s.trace)" % plain)
        # A trace that cannot be written in full: /dev/full stands there.
        full = os.path.join(tmp, "full.scn")
        with open(full, "w") as f:
            f.write(GOOD.replace("scenario good", "scenario full"))
        os.symlink("/dev/full", os.path.join(tmp, "full.trace"))
        expect("--write to a full device", ["--write", full], 1, "full.trace")
        # Too few fds for the scenario's pipes, or for the reactor's loop.
        pipes = os.path.join(tmp, "pipes.scn")
        with open(pipes, "w") as f:
            f.write("scenario pipes\npipes 8\ntask A: ready 1\nspawn A\n")
        expect("no fds for the pipes", [pipes], 1, "vrt-oracle: pipe", max_fds=12)
        expect("--compare when vrt's run cannot start", ["--compare", pipes], 1,
               "(a run failed: vrt -1, model 0)", max_fds=12)
        reactor = os.path.join(tmp, "reactor.scn")
        with open(reactor, "w") as f:
            f.write("scenario reactor\nhost reactor\npipes 1\ntask A: ready 1\nspawn A\n")
        expect("no fds for the reactor's loop", [reactor], 1, "vrt_reactor_runtime_new",
               max_fds=5)
        # A scoped task spawned into and never run: the oracle cleans it up.
        scoped = os.path.join(tmp, "scoped.scn")
        with open(scoped, "w") as f:
            f.write("scenario scoped\nhost scoped\ntask A: ready 1\nspawn A\n")
        expect("a scoped task never run", [scoped], 0, "call spawn A -> 0")
        # A reopen whose numbers a hold took meanwhile: vrt's run says EXDEV
        # (the model knows no fd numbers: no stored scenario can do this).
        exdev = os.path.join(tmp, "exdev.scn")
        with open(exdev, "w") as f:
            f.write("scenario exdev\npipes 3\nclose 0\nhold 2\nreopen 0\n")
        expect("a reopen that gets other numbers", [exdev], 0, "call reopen 0 -> -1 E18")
        # A reactor whose only task waits on a pipe nobody writes: vrt would
        # block for ever; the model says EDEADLK (35), from run and block_on.
        stuck = os.path.join(tmp, "stuck.scn")
        with open(stuck, "w") as f:
            f.write("scenario stuck\nhost reactor\npipes 2\ntask A: wait-read 0; ready 1\n"
                    "task B: wait-read 1; ready 2\nspawn A\nrun\nblock_on B\n")
        expect("a reactor that would block for ever", ["--model", stuck], 0,
               "call run -> -1 E35\npoll B\ncall wait-read 1 -> 0\nB: wait-read 1\n"
               "call block_on B -> -1 E35")
        # Every allocation failed in turn (the gcov build's
        # coverage/oracle_alloc_fail.c): never a crash, each failure reported.
        oom = os.path.join(tmp, "oom.scn")
        with open(oom, "w") as f:
            f.write("scenario oom\nhost scoped\ntask A: ready 1\nspawn A\nrun\n")
        run(oracle, ["--write", oom])
        for mode in ("--", "--check", "--compare"):
            what = "allocation failures (%s)" % mode
            cases.append(what)
            reported = 0
            for n in range(1, 300):
                rc, out = run(oracle, [mode, oom], env={"VRT_ORACLE_FAIL_ALLOC": str(n)})
                if "oracle-alloc-fail" not in out:
                    if rc != 0:
                        problems.append("%s: exit %d without a failure" % (what, rc))
                    break
                if rc not in (0, 1, 2):
                    problems.append("%s: failure %d: exit %d:\n%s" % (what, n, rc, out))
                    break
                reported += "out of memory" in out or "Cannot allocate memory" in out
            else:
                problems.append("%s: more than 300 allocations" % what)
            if reported == 0:
                problems.append("%s: no failure was reported" % what)
        # The model's timer table holds 512 timers (vrt grows its own):
        # one more is ENOMEM in the model only.
        timers = os.path.join(tmp, "timers.scn")
        with open(timers, "w") as f:
            f.write("scenario timers\nhost reactor\ntask A: call loop register-timer 600 100000; "
                    "call loop register-timer 601 100000; sleep 5; ready 1\n"
                    + "".join("loop register-timer %d 100000\n" % i for i in range(1, 511))
                    + "spawn A\nrun\n")
        expect("the model's timers all taken", ["--model", timers], 0,
               "call sleep 5 -> -1 ENOMEM")
        # No fd left for a reopen (a hold took the numbers) or for a hold.
        fds = os.path.join(tmp, "fds.scn")
        with open(fds, "w") as f:
            f.write("scenario fds\npipes 2\nclose 0\nhold 1\nreopen 0\n")
        expect("no fds for a reopen", [fds], 0, "call reopen 0 -> -1 E24", max_fds=7)
        with open(fds, "w") as f:
            f.write("scenario fds\npipes 1\nhold 0\n")
        expect("no fds for a hold", [fds], 0, "call hold 0 -> -1 E24", max_fds=5)
        # The time limit: the run is stopped, by _exit from the alarm.
        slow = os.path.join(tmp, "slow.scn")
        with open(slow, "w") as f:
            f.write("scenario slow\nhost reactor\ntask A: sleep 3000; ready 1\nspawn A\nrun\n")
        expect("a run past the time limit", [slow], 2, "scenario timed out: slow",
               env={"VRT_ORACLE_TIME_LIMIT": "1"})
        # A trace path that cannot be written: a directory stands there.
        os.mkdir(os.path.join(tmp, "blocked.trace"))
        blocked = os.path.join(tmp, "blocked.scn")
        with open(blocked, "w") as f:
            f.write(GOOD.replace("scenario good", "scenario blocked"))
        expect("--write where it cannot", ["--write", blocked], 1, "blocked.trace")

    for p in problems:
        print("oracle_errors: " + p, file=sys.stderr)
    print("oracle error paths: %d cases, %d failed" % (len(cases), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
