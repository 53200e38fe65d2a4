#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz_ops (fuzz/corpus/fuzz_ops/hand-*) in
the byte language of fuzz/fuzz_ops.c, so that a campaign starts from
inputs that already reach every host operation and every task step."""
import os
import sys

# host operations (op byte % 11) and their argument byte
SPAWN, RUN, BLOCK_ON, HANDLE, LIMITS, GROUP, BAD, ALLOC, LOOP, LIFE = 0, 2, 3, 4, 5, 6, 7, 8, 9, 10
RUNTIME, REACTOR, GRP, GLOBAL, SCOPED = range(5)
# task steps (byte % 12) with an argument in the high 4 bits
(PENDING, READY, ERROR, BAD_STATUS, WAIT_READ, WAIT_WRITE, SLEEP, SPAWN_STEP,
 ABORT, REENTER, CANCEL, CHECK) = range(12)


def step(kind, arg=0):
    for b in range(16 * arg, 16 * arg + 16):
        if b % 12 == kind:
            return b
    raise ValueError((kind, arg))


def spawn(host, *steps):
    return [SPAWN, host, len(steps)] + list(steps)


def seeds():
    every_step = [step(k, 1) for k in range(12)]
    yield "hosts", sum((spawn(h, step(PENDING), step(READY, 3), step(WAIT_READ, 0),
                              step(SLEEP, 1)) + [RUN, h] for h in range(5)), [])
    yield "steps", sum((spawn(h, *every_step[:8]) + spawn(h, *every_step[4:]) + [RUN, h]
                        for h in (RUNTIME, REACTOR, GRP)), [])
    yield "group", ([GROUP, 0 + 8 * 3, GROUP, 1 + 8 * 3] +
                    sum((spawn(GRP, step(WAIT_WRITE, 2), step(ERROR, 1)) for _ in range(4)), []) +
                    [RUN, GRP, GROUP, 5, GROUP, 5 + 8 * 3, GROUP, 2, BAD, 4, GROUP, 4])
    yield "handles", (spawn(RUNTIME, step(PENDING)) + spawn(RUNTIME, step(READY, 2)) +
                      [HANDLE, 1, HANDLE, 8 + 0, RUN, RUNTIME, HANDLE, 0, HANDLE, 8 + 2,
                       HANDLE, 8 + 2, BLOCK_ON, 0, 2, step(SPAWN_STEP), step(READY, 1)])
    yield "limits", ([LIMITS, 1, LIMITS, 0] + spawn(RUNTIME) * 3 + spawn(REACTOR) * 3 +
                     [LIFE, 5 + 8, LIFE, 5] + spawn(RUNTIME) * 3 + [RUN, RUNTIME, RUN, REACTOR])
    yield "alloc", ([ALLOC, 2, LIFE, 2] + spawn(SCOPED, step(READY)) + [ALLOC, 3] + spawn(GRP) +
                    [RUN, GRP, ALLOC, 1, LOOP, 0, ALLOC, 4] + spawn(RUNTIME) + [LIFE, 1, RUN, SCOPED])
    yield "loop", sum(([LOOP, b] for b in (0, 0x11, 0x21, 0x42, 0x82, 0x04, 0x14, 0x05, 0x43,
                                           0x1b, 0x06, 0x46, 0x07)), [])
    yield "bad", sum(([BAD, b] for b in range(16)), [])
    yield "global", (spawn(GLOBAL, step(REENTER), step(READY, 1)) + [RUN, GLOBAL, LIFE, 4,
                     LIFE, 3] + spawn(REACTOR, step(REENTER), step(SLEEP, 0)) +
                     [BLOCK_ON, 1, 2, step(WAIT_READ, 1), step(READY, 4)])


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, "hand-" + name), "wb") as f:
            f.write(bytes(data))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/fuzz_ops")
