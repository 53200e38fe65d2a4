#!/usr/bin/env python3
"""Runs vrt's benchmarks side by side with their peers and writes the report.

    bench/run.py --bin DIR --out results.md --plot results.png [--runs N] [--smoke]

Each round runs every case once, vrt and its peers one after the other, so
that the load of a shared machine falls on all of them alike; the report
gives the median of the rounds.  Every case is its own process (bench/*.c),
which prints one line of key=value pairs.  --smoke runs one round of small
sizes: it shows that everything builds, runs and reports, not how fast.
Targets are reported, never enforced: these are benchmarks, not tests.
"""

import argparse
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

FULL = dict(tasks=1000000, rounds=200000, timers=1000000, idle_ms=1000,
            http_s=10, scale_rounds=200000)
SMOKE = dict(tasks=100000, rounds=20000, timers=100000, idle_ms=100,
             http_s=1, scale_rounds=20000)
PARKED = (10, 10000)
HTTP_CONNECTIONS = 64


def fail(message):
    sys.exit("bench: " + message)


def parse_report(line):
    return {key: value for key, value in
            (field.split("=", 1) for field in line.split())}


def run_program(argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    lines = proc.stdout.strip().splitlines()
    if len(lines) != 1:
        fail(f"{' '.join(argv)} printed {proc.stdout!r}")
    return parse_report(lines[0])


# ---- HTTP -------------------------------------------------------------------

PIPELINED = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
             b"HEAD /a HTTP/1.1\r\n\r\n"
             b"PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
             b"GET /b HTTP/1.0\r\n\r\n")


def check_http(port):
    """Pipelined requests on one connection: GET, HEAD, a refused method,
    then HTTP/1.0 without keep-alive, after which the server must close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(PIPELINED)
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3})", data)
    if statuses != [b"200", b"200", b"405", b"200"]:
        fail(f"HTTP check on port {port}: statuses {statuses}, reply {data!r}")
    if data.count(b"Hello from vrt") != 2:
        fail(f"HTTP check on port {port}: bodies wrong in {data!r}")


def wrk_figures(output):
    requests = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", output, re.M)
    if requests is None or rps is None or p99 is None:
        fail("cannot read wrk's output:\n" + output)
    for problem in ("Socket errors", "Non-2xx"):
        if problem in output:
            fail("wrk reports errors:\n" + output)
    scale = {"us": 1.0, "ms": 1e3, "s": 1e6}[p99.group(2)]
    return int(requests.group(1)), float(rps.group(1)), float(p99.group(1)) * scale


def stop_server(proc, server):
    """SIGTERM, then the server's exit status and CPU seconds (wait4)."""
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    fail(f"{server} did not stop on SIGTERM")


def run_http(impl, server, seconds):
    proc = subprocess.Popen([server, "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match is None:
            fail(f"{server} did not start: {line!r}")
        port = int(match.group(1))
        check_http(port)
        wrk = subprocess.run(
            ["wrk", "-t1", f"-c{HTTP_CONNECTIONS}", f"-d{seconds}s", "--latency",
             f"http://127.0.0.1:{port}/"], capture_output=True, text=True)
        if wrk.returncode != 0:
            fail("wrk failed: " + wrk.stderr)
        requests, rps, p99_us = wrk_figures(wrk.stdout)
    finally:
        rc, cpu_s = stop_server(proc, server)
    if rc != 0:
        fail(f"{server} exited {rc} after SIGTERM")
    return {"case": "http", "impl": impl, "rps": rps, "p99_us": p99_us,
            "server_cpu_us_per_req": cpu_s * 1e6 / requests}


# ---- the cases --------------------------------------------------------------

def cases(bin_dir, examples_dir, sizes):
    """(group, label, how to run it), in the order of one round."""
    b = lambda name: os.path.join(bin_dir, name)
    program = lambda *argv: (lambda: run_program([str(a) for a in argv]))
    out = []
    for impl, argv in (("vrt", "spawn"), ("floor", "spawn-floor")):
        out.append(("spawn", impl, program(b("bench_vrt"), argv, sizes["tasks"])))
    for impl, exe in (("vrt", "bench_vrt"), ("epoll", "bench_epoll"),
                      ("libuv", "bench_uv"), ("libev", "bench_ev")):
        out.append(("pingpong", impl, program(b(exe), "pingpong", sizes["rounds"])))
    for impl, exe in (("vrt", "bench_vrt"), ("libuv", "bench_uv"), ("libev", "bench_ev")):
        out.append(("timers", impl, program(b(exe), "timers", sizes["timers"])))
    out.append(("idle", "vrt", program(b("bench_vrt"), "idle", sizes["idle_ms"])))
    for parked in PARKED:
        out.append(("scale", str(parked),
                    program(b("bench_vrt"), "scale", parked, sizes["scale_rounds"])))
    for impl, server in (("vrt", os.path.join(examples_dir, "http_server")),
                         ("libuv", b("http_uv"))):
        out.append(("http", impl,
                    lambda server=server, impl=impl: run_http(impl, server, sizes["http_s"])))
    return out


def in_order(round_cases, round_no):
    """Every other round runs each scenario's programs in reverse order, so
    that none of them always runs first (warm caches, a load that grows)."""
    if round_no % 2 == 0:
        return round_cases
    groups = {}
    for case in round_cases:
        groups.setdefault(case[0], []).append(case)
    return [case for group in groups.values() for case in reversed(group)]


def run_rounds(bin_dir, examples_dir, sizes, runs):
    samples = {}
    for round_no in range(runs):
        for group, label, run in in_order(cases(bin_dir, examples_dir, sizes), round_no):
            report = run()
            samples.setdefault((group, label), []).append(report)
            print(f"round {round_no + 1}/{runs} {group:8} {label:6} "
                  + " ".join(f"{k}={v}" for k, v in report.items()
                             if k not in ("case", "impl")), flush=True)
    return samples


# ---- the report -------------------------------------------------------------

class Figures:
    def __init__(self, samples):
        self.samples = samples

    def values(self, group, label, key):
        return [float(r[key]) for r in self.samples[(group, label)]]

    def median(self, group, label, key):
        return statistics.median(self.values(group, label, key))


def fmt(value):
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


class Row:
    """One line of the table: vrt's figure, the peer's, and the target.
    `limit` is checked against the ratio vrt/peer when there is a peer,
    else against vrt's own figure; `higher` says which side is better."""

    def __init__(self, scenario, metric, vrt, peer=None, peer_name="-", scale=1.0,
                 target="-", limit=None, higher=False):
        self.scenario, self.metric, self.vrt, self.peer = scenario, metric, vrt, peer
        self.peer_name, self.scale, self.target = peer_name, scale, target
        self.limit, self.higher = limit, higher


def rows():
    r = [Row("spawn-complete", "ns per task", ("spawn", "vrt", "ns_per_task"),
             ("spawn", "floor", "ns_per_task"), "floor (direct poll calls)",
             target="vrt <= 30 ns", limit=30)]
    pingpong = lambda impl: ("pingpong", impl, "rt_per_s")
    r.append(Row("ping-pong", "round trips/s", pingpong("vrt"), pingpong("epoll"),
                 "raw epoll loop (floor)", target="vrt/peer >= 0.95", limit=0.95, higher=True))
    r.append(Row("ping-pong", "round trips/s", pingpong("vrt"), pingpong("libuv"),
                 "libuv (uv_poll)", target="vrt/peer > 1", limit=1.0, higher=True))
    r.append(Row("ping-pong", "round trips/s", pingpong("vrt"), pingpong("libev"),
                 "libev (ev_io)"))
    for peer in ("libuv", "libev"):
        is_uv = peer == "libuv"
        r.append(Row("million timers", "CPU s (user+sys)", ("timers", "vrt", "cpu_s"),
                     ("timers", peer, "cpu_s"), peer, target="vrt/peer <= 1" if is_uv else "-",
                     limit=1.0 if is_uv else None))
        r.append(Row("million timers", "peak RSS MB", ("timers", "vrt", "peak_rss_kb"),
                     ("timers", peer, "peak_rss_kb"), peer, scale=1 / 1024,
                     target="vrt/peer <= 0.5" if is_uv else "-", limit=0.5 if is_uv else None))
    r.append(Row("idle", "CPU us in a 1 s wait", ("idle", "vrt", "idle_cpu_us"),
                 target="< 1000 us", limit=999.999))
    r.append(Row("scale", f"ns per round trip, {PARKED[1]:,} parked",
                 ("scale", str(PARKED[1]), "ns_per_rt"), ("scale", str(PARKED[0]), "ns_per_rt"),
                 f"{PARKED[0]} parked", target="vrt/peer <= 1.2", limit=1.2))
    http = lambda impl, key: ("http", impl, key)
    r.append(Row("HTTP keep-alive (wrk)", "requests/s", http("vrt", "rps"), http("libuv", "rps"),
                 "libuv", target="vrt/peer >= 1", limit=1.0, higher=True))
    r.append(Row("HTTP keep-alive (wrk)", "p99 latency us", http("vrt", "p99_us"),
                 http("libuv", "p99_us"), "libuv"))
    r.append(Row("HTTP keep-alive (wrk)", "server CPU us per request",
                 http("vrt", "server_cpu_us_per_req"), http("libuv", "server_cpu_us_per_req"),
                 "libuv"))
    return r


def paired_ratio(f, row):
    """The median over rounds of vrt's figure over the peer's in the same
    round: the load of a shared machine changes from round to round, less
    within one."""
    return statistics.median(a / b for a, b in zip(f.values(*row.vrt), f.values(*row.peer)))


def verdict(f, row):
    if row.limit is None:
        return "-"
    value = paired_ratio(f, row) if row.peer else f.median(*row.vrt)
    met = value >= row.limit if row.higher else value <= row.limit
    return "yes" if met else "**no**"


def table(f):
    lines = ["| scenario | metric | vrt | peer | peer value | vrt/peer | target | met |",
             "| --- | --- | ---: | --- | ---: | ---: | --- | --- |"]
    for row in rows():
        vrt = fmt(f.median(*row.vrt) * row.scale)
        other = fmt(f.median(*row.peer) * row.scale) if row.peer else "-"
        ratio = f"{paired_ratio(f, row):.2f}" if row.peer else "-"
        lines.append(f"| {row.scenario} | {row.metric} | {vrt} | {row.peer_name} | {other} | "
                     f"{ratio} | {row.target} | {verdict(f, row)} |")
    return "\n".join(lines)


RAW_KEYS = {"spawn": ["ns_per_task", "wall_ns_per_task"],
            "pingpong": ["rt_per_s", "wall_rt_per_s"],
            "timers": ["cpu_s", "peak_rss_kb", "wall_s"],
            "idle": ["idle_cpu_us"],
            "scale": ["ns_per_rt", "wall_ns_per_rt"],
            "http": ["rps", "p99_us", "server_cpu_us_per_req"]}


def raw_runs(f):
    lines = ["| case | impl | metric | every run |", "| --- | --- | --- | --- |"]
    for (group, label), reports in f.samples.items():
        for key in RAW_KEYS[group]:
            values = ", ".join(fmt(float(r[key])) for r in reports)
            lines.append(f"| {group} | {label} | {key} | {values} |")
    return "\n".join(lines)


def command_output(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def package_version(name):
    return command_output(["dpkg-query", "-W", "-f=${Version}", name]) or "?"


def machine():
    model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{platform.system()} {platform.release()} {platform.machine()}, "
            f"{os.cpu_count()} CPUs ({model})")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def write_report(path, f, args, sizes, load_before, load_after, seconds):
    commit = command_output(["git", "rev-parse", "--short", "HEAD"])
    compiler = command_output([os.environ.get("CC", "cc"), "--version"]).splitlines()
    text = f"""# vrt benchmarks

{"Smoke run (1 round, small sizes): shows that everything runs, not how fast." if args.smoke
 else f"Median of {args.runs} rounds; each round runs vrt and its peers one after the other."}

- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, vrt {commit}
- machine: {machine()}
- load (/proc/loadavg 1, 5, 15 min): {load_before} before, {load_after} after; the machine is shared
- compiler: {compiler[0] if compiler else '?'}, -O2 for vrt and every peer
- peers: libuv {package_version('libuv1-dev')}, libev {package_version('libev-dev')}, wrk {package_version('wrk')}
- sizes: {sizes['tasks']:,} tasks (batches of 1,000), {sizes['rounds']:,} ping-pong round trips, {sizes['timers']:,} timers, idle {sizes['idle_ms']} ms, scale {sizes['scale_rounds']:,} round trips, wrk -t1 -c{HTTP_CONNECTIONS} -d{sizes['http_s']}s
- wall time of the whole run: {seconds:.0f} s

{table(f)}

vrt and peer give the medians over the rounds; vrt/peer is the median of
the ratios within each round (the load changes less within a round than
across rounds), and the verdict on a ratio target uses it.  Above 1 is
better for throughput (round trips/s, requests/s), below 1 for costs (ns,
CPU, RSS).  Every other round runs each scenario's programs in reverse order.
Spawn-complete, ping-pong and scale are timed on the process's CPU clock
(user plus system), which leaves out the time a case waited for a CPU on the
shared machine; their wall-clock figures are under "Every run".  The HTTP
figures are wrk's, with both programs sharing the 2 CPUs; the server's CPU
per request comes from its rusage.

## Every run

{raw_runs(f)}
"""
    with open(path, "w") as out:
        out.write(text)


PLOT = """set terminal pngcairo size 1400,800 font ",10"
set output '{png}'
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set yrange [0:*]
set grid ytics
unset key
set multiplot layout 2,3 title "vrt against its peers (median of {runs} rounds)"
"""

PANEL = """set title '{title}'
$d{n} << EOD
{data}
EOD
plot $d{n} using 2:xtic(1) linecolor rgb '#3b75af', '' using 0:2:(sprintf('%.5g', $2)) with labels offset 0,0.7 notitle
"""


def write_plot(path, f, runs):
    panels = [
        ("spawn-complete: ns per task (lower is better)",
         [(i, f.median("spawn", i, "ns_per_task")) for i in ("vrt", "floor")]),
        ("ping-pong: 1000 round trips/s (higher is better)",
         [(i, f.median("pingpong", i, "rt_per_s") / 1e3)
          for i in ("vrt", "epoll", "libuv", "libev")]),
        ("million timers: CPU s (lower is better)",
         [(i, f.median("timers", i, "cpu_s")) for i in ("vrt", "libuv", "libev")]),
        ("million timers: peak RSS MB (lower is better)",
         [(i, f.median("timers", i, "peak_rss_kb") / 1024) for i in ("vrt", "libuv", "libev")]),
        ("scale: ns per round trip by parked tasks",
         [(f"{p} parked", f.median("scale", str(p), "ns_per_rt")) for p in PARKED]),
        ("HTTP keep-alive: 1000 requests/s (higher is better)",
         [(i, f.median("http", i, "rps") / 1e3) for i in ("vrt", "libuv")]),
    ]
    script = PLOT.format(png=path, runs=runs)
    for n, (title, bars) in enumerate(panels):
        data = "\n".join(f'"{label}" {value:.6g}' for label, value in bars)
        script += PANEL.format(title=title, n=n, data=data)
    script += "unset multiplot\n"
    gp = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if gp.returncode != 0 or not os.path.getsize(path):
        fail("gnuplot failed: " + gp.stderr)


README_BEGIN = "<!-- bench:begin -->"
README_END = "<!-- bench:end -->"


def update_readme(path, report_path, f, load_before, load_after, runs):
    """Puts the latest table between the bench markers of the README."""
    with open(path) as readme:
        text = readme.read()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        fail(f"{path} has no {README_BEGIN} ... {README_END} section")
    section = f"""{README_BEGIN}
`make bench` (about 4 minutes; `make deps` installs libuv, libev, wrk and
gnuplot) runs six scenarios side by side with libuv, libev and a raw epoll
loop, vrt and its peers interleaved in each round, and writes
[`{report_path}`]({report_path}) (machine, versions, load, every run) and
the plot `bench/results/latest.png`; `bench/README.md` says what each
scenario measures and what limits the targets not met.  `make check` runs
one short round of each (`make bench-smoke`).  The HTTP server is
`examples/http_server.c` (`make examples`), on ReactorRuntime.

Latest run: {time.strftime('%Y-%m-%d', time.gmtime())}, {machine()}, a machine
shared with other jobs (load {load_before} before, {load_after} after);
median of {runs} rounds.

{table(f)}
{README_END}"""
    with open(path, "w") as readme:
        readme.write(text[:begin] + section + text[end + len(README_END):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="directory of the benchmark programs")
    parser.add_argument("--examples", required=True, help="directory of the example programs")
    parser.add_argument("--out", required=True, help="the Markdown report")
    parser.add_argument("--plot", required=True, help="the PNG plot")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--readme", help="put the table between its bench markers")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 1
    sizes = SMOKE if args.smoke else FULL
    for path in (args.out, args.plot):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    start = time.monotonic()
    load_before = loadavg()
    figures = Figures(run_rounds(args.bin, args.examples, sizes, args.runs))
    load_after = loadavg()
    write_report(args.out, figures, args, sizes, load_before, load_after,
                 time.monotonic() - start)
    write_plot(args.plot, figures, args.runs)
    if args.readme:
        update_readme(args.readme, args.out, figures, load_before, load_after, args.runs)
    print(f"wrote {args.out} and {args.plot}")
    print(table(figures))


if __name__ == "__main__":
    main()
