#!/usr/bin/env python3
"""Write-to-invalidation latency across nodes (bench/nodes.sh). A `quire run` process (the
writer, its own connection to the database, as a node has) edits a story's title when told to
and says so once quire.content.update has returned (the transaction committed); from the moment
that line arrives, node B is asked for the story's page in a tight loop until it serves the new
title. B has the old page in its page cache before each write, so the time is the notification's
delay plus B's sync and render. Prints the median, p99 and max in milliseconds and the polls.

usage: invalidation.py QUIRE SITE READER_URL ENTRY_ID PATH WRITES
"""
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

POLL_LIMIT = 20000  # polls before a write counts as never seen (then the run fails)

WRITER = """
for line in io.lines() do
  local id, title = line:match("^(%d+)\\t(.*)$")
  quire.content.update(math.tointeger(tonumber(id)), { title = title })
  io.stdout:write("committed\\n")
  io.stdout:flush()
end
"""


def main():
    quire, site, reader_url, entry, path, writes = sys.argv[1:7]
    writes = int(writes)
    u = urllib.parse.urlsplit(reader_url)
    b = http.client.HTTPConnection(u.hostname, u.port, timeout=10)

    def page():
        b.request("GET", path)
        r = b.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"reader: {path} answered {r.status}")
        return body

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRITER)
    errors = tempfile.TemporaryFile("w+")  # the writer's messages, shown if it fails
    writer = subprocess.Popen([quire, "run", "--yes", "--site", site, f.name], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=errors, text=True, bufsize=1)
    latencies, polls = [], []
    try:
        for i in range(writes):
            title = f"Harbour survey edit {i} of {writes}"
            page()  # B keeps the current page (rendered again if the last poll's was not kept)
            writer.stdin.write(f"{entry}\t{title}\n")
            writer.stdin.flush()
            if writer.stdout.readline() != "committed\n":
                writer.wait()
                errors.seek(0)
                sys.exit(f"writer: write {i} failed: {errors.read()}")
            committed = time.perf_counter()
            want = title.encode()
            for n in range(1, POLL_LIMIT + 1):
                if want in page():
                    latencies.append((time.perf_counter() - committed) * 1000)
                    polls.append(n)
                    break
            else:
                sys.exit(f"reader: write {i} not seen after {POLL_LIMIT} polls")
    finally:
        writer.stdin.close()
        writer.wait()
        os.unlink(f.name)
    latencies.sort()

    def pct(q):
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))]
    print(f"write-to-invalidation across nodes, {writes} writes: median {statistics.median(latencies):.2f} ms,"
          f" p90 {pct(0.9):.2f} ms, p99 {pct(0.99):.2f} ms, max {latencies[-1]:.2f} ms"
          f" (polls: median {statistics.median(polls):g}, max {max(polls)})")


if __name__ == "__main__":
    main()
