#!/usr/bin/env python3
"""Hostile HTTP clients against a running `quire serve`, over raw sockets: slow heads, empty-line
trickles, slow bodies, pipelining without reading, 2,000 slow connections, RFC 9112 corner cases,
static validators. Asserts behaviour (status codes, closed sockets, memory bounds with wide
margins), never timings; prints PASS/FAIL lines and the figures it saw.
usage: hostile_http.py GROUP PORT [WORKER_PID...]   (GROUP: protocol, slow, pipeline, output, crowd)
"""
import os
import re
import socket
import statistics
import sys
import threading
import time

GROUP, PORT = sys.argv[1], int(sys.argv[2])
WORKERS = [int(p) for p in sys.argv[3:]]
failures = 0
lock = threading.Lock()


def check(name, ok, detail=""):
    global failures
    with lock:
        if ok:
            print(f"PASS: {name}", flush=True)
        else:
            failures += 1
            print(f"FAIL: {name} {detail}", flush=True)


def connect(rcvbuf=0):
    """A connection; rcvbuf: a small receive window, so that unread answers wait in the server."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", PORT))
    return s


def read_until_closed(s, limit_s):
    """Reads for at most limit_s: (bytes, closed by the server?)."""
    data, end = b"", time.monotonic() + limit_s
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def statuses(data):
    return [int(x) for x in re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)]  # bodies do not end in a newline


def exchange(raw, wait=3.0):
    s = connect()
    s.sendall(raw)
    data, closed = read_until_closed(s, wait)
    s.close()
    return data, closed


def rss_mb():
    total = 0
    for pid in WORKERS:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total // 1024


# --- RFC 9112 / 9110 answers: exactly one response each, the status the RFC asks for
def protocol():
    get = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
    for name, up in (("websocket", b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
                     ("h2c", b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n")):
        data, _ = exchange(b"GET /hello HTTP/1.1\r\nHost: x\r\n" + up + b"\r\n" + get, 1.5)
        st = statuses(data)
        check(f"Upgrade: {name} is declined by answering over HTTP/1.1, one response each for it and the next request ({st})",
              st == [200, 200])
    data, closed = exchange(b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n" + get, 3)
    check(f"CONNECT: one 501, then the connection closes ({statuses(data)}, closed={closed})",
          statuses(data) == [501] and closed)
    s = connect()
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
              b"Expect: 100-continue\r\n\r\n")
    first, _ = read_until_closed(s, 1.0)
    s.sendall(b"hello")
    rest, _ = read_until_closed(s, 1.0)
    s.close()
    st = statuses(first + rest)
    check(f"two Expect: 100-continue lines give one 100 Continue, then the answer ({st})", st == [100, 200])
    data, _ = exchange(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nContent-Length: 1\r\n\r\nx")
    check(f"an unknown expectation: 417 ({statuses(data)})", statuses(data) == [417])
    for size in (b"ffffffffffffffff", b"100000"):
        t = time.monotonic()
        s = connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\nabc")
        data, closed = read_until_closed(s, 4.0)  # the body deadlines are seconds away: this is the size check
        s.close()
        check(f"chunk size {size.decode()} past limits.request_body: 413 when the size arrives "
              f"({statuses(data)}, {time.monotonic() - t:.2f} s)", statuses(data) == [413] and closed)
    for name, raw, want in (
        ("a double space after the method", b"GET  /hello HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("a double space before the version", b"GET /hello  HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("a request line without a version", b"GET /hello\r\nHost: x\r\n\r\n", 400),
        ("a header with an empty name", b"GET /hello HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400),
        ("whitespace between a header name and its colon", b"GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("an HTTP/1.1 request without Host", b"GET /hello HTTP/1.1\r\n\r\n", 400),
        ("two Host headers", b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("HTTP/2.0 in a request line", b"GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("a Host that is not a host", b"GET /hello HTTP/1.1\r\nHost: a b/c\r\n\r\n", 400),
        ("Transfer-Encoding in HTTP/1.0", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("an absolute-form target with userinfo", b"GET http://u@x/hello HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ):
        data, closed = exchange(raw)
        check(f"{name}: one {want}, then close ({statuses(data)}, closed={closed})", statuses(data) == [want] and closed)
    data, _ = exchange(b"GET /hello HTTP/1.0\r\n\r\n")
    check(f"HTTP/1.0 without Host is served ({statuses(data)})", statuses(data) == [200])
    data, _ = exchange(b"GET http://example.org/hello HTTP/1.1\r\nHost: x\r\n\r\n", 1.0)
    check(f"an absolute-form target is served as its path ({statuses(data)})", statuses(data) == [200])
    data, _ = exchange(b"\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 1.0)
    check(f"empty lines before a request are skipped ({statuses(data)})", statuses(data) == [200])


# --- deadlines that bytes without progress cannot extend (limits in hostile_http_test.sh:
# header 2 s, keep-alive 2 s, whole request 5 s)
def crlf_after_request():
    s = connect()
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    first, _ = read_until_closed(s, 0.5)
    t, closed = time.monotonic(), False
    while time.monotonic() - t < 9 and not closed:  # an empty line every 0.4 s
        try:
            s.sendall(b"\r\n")
        except OSError:
            closed = True
            break
        _, closed = read_until_closed(s, 0.4)
    s.close()
    check(f"empty lines every 0.4 s do not extend keep-alive: closed after {time.monotonic() - t:.1f} s",
          statuses(first) == [200] and closed)


def crlf_fresh():
    s = connect()
    t, closed = time.monotonic(), False
    while time.monotonic() - t < 9 and not closed:
        try:
            s.sendall(b"\r\n")
        except OSError:
            closed = True
            break
        _, closed = read_until_closed(s, 0.4)
    s.close()
    check(f"empty lines on a new connection do not hold it: closed after {time.monotonic() - t:.1f} s", closed)


def slow_head():
    s = connect()
    head = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60 + b"\r\n\r\n"
    t, data, closed = time.monotonic(), b"", False
    for i in range(len(head)):  # one byte every 0.15 s: the whole head would take 13 s
        try:
            s.sendall(head[i:i + 1])
        except OSError:
            closed = True
            break
        more, closed = read_until_closed(s, 0.15)
        data += more
        if closed:
            break
    s.close()
    check(f"a head trickled a byte at a time: 408 at the head deadline ({statuses(data)} after "
          f"{time.monotonic() - t:.1f} s)", statuses(data) == [408] and b"header_timeout_ms" in data)


def slow_body():
    s = connect()
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n")
    t, data, closed = time.monotonic(), b"", False
    while time.monotonic() - t < 15 and not closed:  # 40 bytes a second: keeps body_min_rate (1/s)
        try:
            s.sendall(b"x" * 20)
        except OSError:
            break
        more, closed = read_until_closed(s, 0.5)
        data += more
    s.close()
    check(f"a body that keeps the minimum rate still ends at limits.request_timeout_ms ({statuses(data)} after "
          f"{time.monotonic() - t:.1f} s)", statuses(data) == [408] and b"request_timeout_ms" in data)


def slow():
    ts = [threading.Thread(target=f) for f in (crlf_after_request, crlf_fresh, slow_head, slow_body)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


# --- pipelining without reading: 100 connections x 2,000 GETs of an 8 KB file, nothing read
def pipeline():
    req = b"GET /page.txt HTTP/1.1\r\nHost: x\r\n\r\n"
    before = rss_mb()
    socks = []
    for _ in range(100):
        s = connect(4096)
        s.setblocking(False)
        socks.append([s, req * 2000, 0])
    peak, t = before, time.monotonic()
    while time.monotonic() - t < 6:
        for e in socks:
            if e[2] < len(e[1]):
                try:
                    e[2] += e[0].send(e[1][e[2]:e[2] + 65536])
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    e[2] = len(e[1])
        peak = max(peak, rss_mb())
        time.sleep(0.05)
    sent = sum(e[2] for e in socks) // len(req)
    for e in socks:
        e[0].close()
    time.sleep(1.5)
    after = rss_mb()
    print(f"pipelining 100 x 2000 GETs, nothing read: worker RSS before {before} MB, peak {peak} MB, "
          f"after {after} MB ({sent} requests sent)", flush=True)
    check(f"unread pipelined responses stay bounded (peak {peak} MB from {before} MB)", peak - before < 150)
    check(f"and the memory is not kept growing after they close (after {after} MB)", after - before < 150)
    # Back-pressure loses nothing: a client that pipelines 2,000 GETs, waits, then reads gets 2,000
    # answers in order, whether its last request says Connection: close or it half-closes.
    for half_close in (False, True):
        s = connect()
        s.sendall(b"".join(b"GET /page.txt?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(2000)) +
                  b"GET /hello HTTP/1.1\r\nHost: x\r\n" + (b"" if half_close else b"Connection: close\r\n") + b"\r\n")
        if half_close:
            s.shutdown(socket.SHUT_WR)
        time.sleep(1.5)
        data, closed = read_until_closed(s, 30)
        s.close()
        st = statuses(data)
        how = "the client half-closed" if half_close else "the last request closing"
        check(f"a paused pipeline resumes: {len(st)} answers, all 200, {how}",
              len(st) == 2001 and set(st) == {200} and data.endswith(b"hello") and closed)


# --- the per-worker bound on unsent output (limits.worker_output is 1 MiB in this server): 12
# connections pipeline 100 GETs of a 64 KB file each (more than the kernel's socket buffers hold)
# and read nothing until the server's log (SERVE_LOG) says it closed some for the bound (a worker
# on a loaded machine may take longer than a fixed pause to queue that much), 30 s at most; then
# every connection must show it, ending short.
def output():
    n = 100
    req = b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n" * (n - 1) + \
        b"GET /blob.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    socks = []
    for _ in range(12):
        s = connect()
        s.sendall(req)
        socks.append(s)
    log, end = os.environ.get("SERVE_LOG"), time.monotonic() + 30
    while log and time.monotonic() < end:
        with open(log, errors="replace") as f:
            if "over limits.worker_output" in f.read():
                break
        time.sleep(0.1)
    if not log:
        time.sleep(2)
    got = []
    for s in socks:  # every connection ends: after its answers, or early when it was closed
        data, _ = read_until_closed(s, 20)
        got.append(len(data))
        s.close()
    cut = sum(g < n * 65536 for g in got)
    print("bytes read per connection:", got, flush=True)
    check(f"connections past limits.worker_output are closed ({cut} of 12 cut short)", cut > 0)
    s = connect()
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data, _ = read_until_closed(s, 5)
    check("the worker still serves after it", statuses(data) == [200])


# --- 2,000 slow connections (1,000 trickling a head, 1,000 trickling empty lines) while a normal
# client keeps getting 200
def crowd():
    slow, trickle = [], []
    for i in range(2000):
        s = connect()
        s.setblocking(False)
        (slow if i % 2 else trickle).append(s)
    head = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100
    lat, fails, stop = [], [0], threading.Event()

    def normal():
        while not stop.is_set():
            t = time.monotonic()
            try:
                data, _ = exchange(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5)
                ok = statuses(data) == [200]
            except OSError:
                ok = False
            lat.append((time.monotonic() - t) * 1000)
            fails[0] += not ok
            time.sleep(0.02)

    th = threading.Thread(target=normal)
    th.start()
    t0, sent = time.monotonic(), 0
    open_ = {s: True for s in slow + trickle}
    # (the deadlines are 2 s; the loop ends when all are closed, its bound is for a loaded machine)
    while time.monotonic() - t0 < 20 and any(open_.values()):
        for s in slow:
            if open_[s]:
                try:
                    s.send(head[sent:sent + 1])
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    open_[s] = False
        for s in trickle:
            if open_[s]:
                try:
                    s.send(b"\r\n")
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    open_[s] = False
        sent += 1
        time.sleep(0.5)
        for s in slow + trickle:  # the server closing shows as EOF or a reset
            if open_[s]:
                try:
                    if s.recv(4096) == b"":
                        open_[s] = False
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    open_[s] = False
    stop.set()
    th.join()
    still = sum(open_.values())
    for s in slow + trickle:
        s.close()
    lat.sort()
    p50 = statistics.median(lat) if lat else -1
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else -1
    print(f"2,000 slow connections: the normal client made {len(lat)} requests, p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms, {fails[0]} failed; {still} slow connections still open after "
          f"{time.monotonic() - t0:.1f} s", flush=True)
    check(f"a normal client keeps getting 200 during 2,000 slow connections ({fails[0]} of {len(lat)} failed)",
          fails[0] == 0 and len(lat) > 5)
    check(f"every slow connection is closed by its deadline ({still} of 2000 left)", still == 0)


{"protocol": protocol, "slow": slow, "pipeline": pipeline, "output": output, "crowd": crowd}[GROUP]()
sys.exit(1 if failures else 0)
