#!/usr/bin/env python3
"""Sums the Lua profiles quire writes with QUIRE_LUA_PROFILE=FILE (one FILE.PID per process, see
core/sandbox.c): the top Lua functions by self time (the C functions they call counted in,
and apart), by total time, and the hottest lines.

  QUIRE_LUA_PROFILE=/tmp/prof quire export --format html out --site site --jobs 1
  python3 bench/luaprof.py /tmp/prof.*            (TOP=40 for more rows)

Each line of a profile: TICKS FRAME;FRAME;...<TAB>LINE, outermost frame first; a frame is
SOURCE:LINEDEFINED for a Lua function, [C]NAME for a C one; LINE is where the innermost Lua
function was. A C function called without a name (from C: a helper under lua_pcall, a __close or
__gc metamethod) is named by its symbol, else [C]?LIBRARY+0xOFFSET (`nm -n LIBRARY` names a
static one). Ticks are written at the next hook, so a C function with none of its own (a gsub,
a statement's steps) shows its time on the first such helper it calls, or on its return. TICKS: SIGPROF ticks since the last sample (one per millisecond of CPU time, or per kernel tick when
that is longer): compare shares, not absolute times.
"""
import collections
import os
import sys

top = int(os.environ.get("TOP", "25"))
self_lua, self_leaf, total, lines = (collections.Counter() for _ in range(4))
ticks = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for row in f:
            head, _, line = row.rstrip("\n").partition("\t")
            n, _, stack = head.partition(" ")
            if not n.isdigit() or not stack:
                continue
            n = int(n)
            ticks += n
            frames = stack.split(";")
            self_leaf[frames[-1]] += n
            lua = [fr for fr in frames if not fr.startswith("[C]")]
            if lua:
                self_lua[lua[-1]] += n
                lines[f"{lua[-1]} line {line}" + (f" in {frames[-1]}" if frames[-1].startswith("[C]") else "")] += n
            for fr in set(frames):
                total[fr] += n
if not ticks:
    sys.exit("luaprof: no samples (run quire with QUIRE_LUA_PROFILE=FILE, then pass FILE.*)")
print(f"{ticks} samples (ticks of 1 ms of CPU time or more: the share is what counts) in {len(sys.argv) - 1} file(s)")
for title, counter in (("self, with the C functions it calls", self_lua), ("self, C functions apart", self_leaf),
                       ("total (self and callees)", total), ("hottest lines", lines)):
    print(f"\n== {title}")
    for name, n in counter.most_common(top):
        print(f"{100 * n / ticks:6.2f}%  {n:7d}  {name}")
