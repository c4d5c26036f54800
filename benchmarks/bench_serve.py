"""Load on ``skfer serve``: concurrent clients posting photos, over loopback only.

A ``skfer serve`` process is started on a free port of 127.0.0.1 (nothing
else is contacted). After one warm-up pass over the photos, ``--clients``
threads (default 8), each with its own keep-alive connection, post one photo
per request to ``POST /api/v1/predict``, cycling through the 29 photos of
``$SKFER_DATA/faces`` (the astronaut alone without SKFER_DATA), for
``--duration`` seconds (default 60) and at most ``--max-requests``. Printed:
requests/s, photos and faces per second, p50/p95/p99 latency, errors (by
status; must be 0), the server's resident memory (RSS) after the warm-up,
every 10 s and at the end, and the faces per call of the net (faces batched
across requests).

Run::

    SKFER_DATA=../shared/data python benchmarks/bench_serve.py
    python benchmarks/bench_serve.py --duration 20 --clients 4     # the astronaut only
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only


def _photos():
    """``[(name, bytes)]``: the photos of $SKFER_DATA/faces's manifest, else the astronaut."""
    root = os.environ.get("SKFER_DATA")
    folder = Path(root, "faces") if root else None
    if folder is not None and (folder / "manifest.json").is_file():
        manifest = json.loads((folder / "manifest.json").read_text())
        return [(item["file"], (folder / item["file"]).read_bytes()) for item in manifest]
    import cv2
    from skimage import data

    print("SKFER_DATA/faces not found: posting the astronaut photo only "
          "(set SKFER_DATA=../shared/data for the 29 photos).")
    ok, png = cv2.imencode(".png", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return [("astronaut.png", png.tobytes())]


def _multipart(name, content):
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"images\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    return boundary, head + content + f"\r\n--{boundary}--\r\n".encode()


def _rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _get(port, path):
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _start_server(port, workers):
    command = [sys.executable, "-m", "skfer", "serve", "--host", HOST, "--port", str(port)]
    if workers:
        command += ["--workers", str(workers)]
    proc = subprocess.Popen(command, cwd=ROOT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"skfer serve exited with status {proc.returncode}")
        try:
            if _get(port, "/health")["status"] == "ok":
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("skfer serve did not answer /health within 180 s")


def _client(port, bodies, offset, stop_at, budget, out):
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    i = offset
    while time.monotonic() < stop_at and budget.acquire(blocking=False):
        boundary, body = bodies[i % len(bodies)]
        i += 1
        start = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/predict", body=body, headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}"})
            reply = conn.getresponse()
            payload = reply.read()
            status = reply.status
            faces = sum(1 for x in json.loads(payload)["results"] if x["box"] is not None) \
                if status == 200 else 0
        except (OSError, http.client.HTTPException, ValueError) as exc:
            status, faces = type(exc).__name__, 0
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=120)
        out.append((time.perf_counter() - start, status, faces))
    conn.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--max-requests", type=int, default=20_000,
                        help="stop after this many requests, whatever the time (default 20000)")
    parser.add_argument("--workers", type=int, default=None,
                        help="skfer serve --workers (default: the server's)")
    args = parser.parse_args(argv)
    photos = _photos()
    bodies = [_multipart(name, content) for name, content in photos]
    port = _free_port()
    proc = _start_server(port, args.workers)
    try:
        warm = []
        _client(port, bodies, 0, time.monotonic() + 600, threading.Semaphore(len(bodies)), warm)
        assert all(s == 200 for _, s, _ in warm), [s for _, s, _ in warm]
        health0 = _get(port, "/health")
        rss = [(0.0, _rss_mb(proc.pid))]
        results, start = [], time.monotonic()
        stop_at = start + args.duration
        budget = threading.Semaphore(args.max_requests)
        threads = [threading.Thread(target=_client,
                                    args=(port, bodies, k * len(bodies) // args.clients,
                                          stop_at, budget, results))
                   for k in range(args.clients)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(0.5)
            elapsed = time.monotonic() - start
            if elapsed >= 10 * len(rss):
                rss.append((elapsed, _rss_mb(proc.pid)))
        for t in threads:
            t.join()
        wall = time.monotonic() - start
        rss.append((wall, _rss_mb(proc.pid)))
        health1 = _get(port, "/health")
    finally:
        proc.terminate()
        proc.wait(30)

    latencies = np.array([t for t, s, _ in results if s == 200])
    errors = {}
    for _, s, _ in results:
        if s != 200:
            errors[s] = errors.get(s, 0) + 1
    n, faces = len(results), sum(f for _, _, f in results)
    model = health1["default_model"]
    calls = health1["models"][model]["calls"] - health0["models"][model]["calls"]
    classified = health1["models"][model]["faces"] - health0["models"][model]["faces"]
    print(f"skfer serve under load: {args.clients} clients, {len(photos)} photos "
          f"({sum(len(c) for _, c in photos) / 1e6:.1f} MB), one photo per request, "
          f"{wall:.1f} s, server workers {health1['workers']}, {os.cpu_count()} CPU cores")
    print(f"  requests      {n} ({n / wall:.1f}/s), faces {faces} ({faces / wall:.1f}/s)")
    if len(latencies):
        p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) * 1000
        print(f"  latency       p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, "
              f"max {latencies.max() * 1000:.0f} ms")
    print(f"  errors        {sum(errors.values())} {errors or ''}")
    print(f"  net calls     {calls} for {classified} faces "
          f"({classified / max(calls, 1):.2f} faces per call: batched across requests)")
    print("  server RSS    " + ", ".join(f"{mb:.0f} MB at {t:.0f} s" for t, mb in rss))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
