#!/usr/bin/env python3
"""Write-to-invalidation latency across nodes (bench/nodes.sh). A `quire run` process (the
writer, its own connection to the database, as a node has) edits a story's title when told to
and says so once quire.content.update has returned (the transaction committed). From the moment
that line arrives, node B (which holds the old page in its page cache: the bench checks it
answered X-Cache: hit just before) is asked for the story's page every POLL_MS (a request whose
answer comes later than that is followed at once by the next) until it serves the new title.

For each write it notes:
  latency  commit -> B's first fresh answer received (what a reader waiting on B sees)
  stale    commit -> the last request B answered stale was sent: B still served the old page
           that long (a lower bound of when B learnt of the write)
  window   the fresh request's send minus the last stale one's (or the commit's): how much of
           the latency is the client's own polling granularity, at most POLL_MS plus a request
  fresh    the fresh request's own round trip (B's tag sync and render of the new page)
and prints the median, p90, p99 and max of each over WRITES writes, in milliseconds.

Polling back to back (POLL_MS=0) keeps the client and B busy all the time: on a machine with
few cores that delays the PostgreSQL backend that must relay the NOTIFY, i.e. what is measured.

usage: invalidation.py QUIRE SITE READER_URL ENTRY_ID PATH WRITES [RAW]
       invalidation.py --summary RAW
With RAW, each write's figures are appended to that file (one line a write) instead of printed,
so that runs in several rounds (bench/nodes.sh alternates the binaries it compares) are summed
up once with --summary.
env:   POLL_MS        the polling interval (default 1; 0 polls back to back)
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
WARM_LIMIT = 50     # requests to get B to answer the current page from its cache

WRITER = """
for line in io.lines() do
  local id, title = line:match("^(%d+)\\t(.*)$")
  quire.content.update(math.tointeger(tonumber(id)), { title = title })
  io.stdout:write("committed\\n")
  io.stdout:flush()
end
"""


KINDS = ("latency", "stale", "window", "fresh")


def main():
    if sys.argv[1] == "--summary":
        rows, polls = {k: [] for k in KINDS}, []
        for line in open(sys.argv[2]):
            *values, n = line.split()
            for k, v in zip(KINDS, values):
                rows[k].append(float(v))
            polls.append(int(n))
        report(rows, polls, float(os.environ.get("POLL_MS", "1")) / 1000)
        return
    quire, site, reader_url, entry, path, writes = sys.argv[1:7]
    raw = sys.argv[7] if len(sys.argv) > 7 else None
    writes = int(writes)
    interval = float(os.environ.get("POLL_MS", "1")) / 1000
    u = urllib.parse.urlsplit(reader_url)
    b = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    b.connect()

    def page():
        b.request("GET", path)
        r = b.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"reader: {path} answered {r.status}")
        return body, r.getheader("X-Cache")

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRITER)
    errors = tempfile.TemporaryFile("w+")  # the writer's messages, shown if it fails
    writer = subprocess.Popen([quire, "run", "--yes", "--site", site, f.name], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=errors, text=True, bufsize=1)
    rows = {"latency": [], "stale": [], "window": [], "fresh": []}
    polls = []
    try:
        for i in range(writes):
            title = f"Harbour survey edit {i} of {writes} ({os.getpid()})"  # (unique across rounds)
            for _ in range(WARM_LIMIT):  # B holds the current page (the last fresh one may not be kept)
                if page()[1] == "hit":
                    break
            else:
                sys.exit(f"reader: {path} is not kept in B's page cache (no X-Cache: hit in {WARM_LIMIT} requests)")
            writer.stdin.write(f"{entry}\t{title}\n")
            writer.stdin.flush()
            if writer.stdout.readline() != "committed\n":
                writer.wait()
                errors.seek(0)
                sys.exit(f"writer: write {i} failed: {errors.read()}")
            committed = last_sent = time.monotonic()
            want = title.encode()
            for n in range(1, POLL_LIMIT + 1):
                sent = time.monotonic()
                body, _ = page()
                got = time.monotonic()
                if want in body:
                    rows["latency"].append(got - committed)
                    rows["stale"].append(last_sent - committed)
                    rows["window"].append(sent - last_sent)
                    rows["fresh"].append(got - sent)
                    polls.append(n)
                    break
                last_sent = sent
                wait = committed + n * interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            else:
                sys.exit(f"reader: write {i} not seen after {POLL_LIMIT} polls")
    finally:
        writer.stdin.close()
        writer.wait()
        os.unlink(f.name)

    if raw:
        with open(raw, "a") as f:
            for i, n in enumerate(polls):
                f.write(" ".join(f"{rows[k][i]:.6f}" for k in KINDS) + f" {n}\n")
        return
    report(rows, polls, interval)


def report(rows, polls, interval):
    def summary(values):
        values = sorted(v * 1000 for v in values)

        def pct(q):
            return values[min(len(values) - 1, int(len(values) * q))]
        return (f"median {statistics.median(values):6.2f}  p90 {pct(0.9):6.2f}  p99 {pct(0.99):6.2f}"
                f"  max {values[-1]:6.2f}")
    print(f"write-to-invalidation across nodes, {len(polls)} writes, polled every {interval * 1000:g} ms (ms):")
    print(f"  commit -> first fresh answer   {summary(rows['latency'])}")
    print(f"  commit -> last stale request   {summary(rows['stale'])}")
    print(f"  polling window (client's own)  {summary(rows['window'])}")
    print(f"  fresh request's round trip     {summary(rows['fresh'])}")
    print(f"  polls per write: median {statistics.median(polls):g}, max {max(polls)}")


if __name__ == "__main__":
    main()
