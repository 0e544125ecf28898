#!/usr/bin/env python3
"""Fuzz the API with schemathesis against a fresh server with demo data, then verify the books.

Usage: fuzz.py BURSAR_BINARY sqlite|postgres [POSTGRES_URL]

Starts `bursar serve --demo` on a loopback port (SQLite in a temporary directory, or a new
database in the given PostgreSQL cluster), runs schemathesis over every operation of
`/openapi.json` with the checks not_a_server_error, status_code_conformance,
content_type_conformance and response_schema_conformance, then stops the server and runs
`bursar ledger verify` and `bursar audit verify`. Path ids are drawn, most of the time, from
the demo data's real objects (listed before the run), so the fuzzer reaches real state and not
only 404s. Exits non-zero on any failure; prints the operation and case counts.
"""

import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Each phase's size: small enough that both backends finish in a few minutes on two cores.
RUNS = [
    # The coverage phase walks every schema's boundaries; one worker (its generator is not
    # thread-safe on Python 3.11).
    {"phases": "examples,coverage", "workers": "1", "max_examples": "10"},
    {"phases": "fuzzing", "workers": "2", "max_examples": "40"},
    {"phases": "stateful", "workers": "2", "max_examples": "150"},
]
# A longer or different run, to explore locally: BURSAR_FUZZ_SCALE=5 BURSAR_FUZZ_SEED=7.
SCALE = int(os.environ.get("BURSAR_FUZZ_SCALE", "1"))
SEED = os.environ.get("BURSAR_FUZZ_SEED", "1")
# A path's `{id}` is a real object most of the time, a generated string otherwise.
REAL_ID_PROBABILITY = 0.8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(base, key, path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.load(response)


def wait_for_key(server, log_path, base, deadline):
    """The admin key the first start prints, once the server answers /readyz."""
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited early:\n{open(log_path).read()}")
        found = re.search(r"sk_test_[0-9a-f]+", open(log_path).read())
        if found:
            try:
                urllib.request.urlopen(base + "/readyz", timeout=5)
                return found.group(0)
            except OSError:
                pass
        time.sleep(0.2)
    sys.exit(f"the server did not start:\n{open(log_path).read()}")


def collections(spec):
    """Each id route's collection: `/v1/orders/{id}/refunds` → `/v1/orders`; parties are customers."""
    found = {}
    for path in spec["paths"]:
        match = re.match(r"^(/v1/(?:ledger/)?[a-z_]+)/\{id\}", path)
        if match:
            listed = match.group(1).replace("/v1/parties", "/v1/customers")
            found[path] = listed
    return found


def real_ids(base, key, listed):
    ids = {}
    for collection in sorted(set(listed.values())):
        try:
            page = request(base, key, f"{collection}?limit=20")
        except OSError:
            continue
        values = [item["id"] for item in page.get("data", []) if isinstance(item.get("id"), str)]
        if values:
            ids[collection] = values
    return ids


def write_config(path, spec, ids):
    """A schemathesis.toml binding each id route's `{id}` to its collection's real ids."""
    listed = collections(spec)
    names = {collection: re.sub(r"[^a-z]+", "_", collection.strip("/")) for collection in ids}
    lines = []
    for collection, values in ids.items():
        lines.append(f"[dictionaries.{names[collection]}]")
        lines.append(f"values = {json.dumps(values)}")
        lines.append("")
    for route, collection in sorted(listed.items()):
        if collection not in ids:
            continue
        lines.append("[[operations]]")
        lines.append(f"include-path = {json.dumps(route)}")
        binding = f'{{ dictionary = "{names[collection]}", probability = {REAL_ID_PROBABILITY} }}'
        lines.append(f'parameters = {{ "path.id" = {binding} }}')
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def run_schemathesis(schemathesis, base, key, config, run):
    command = [
        schemathesis, "--no-color", "--config-file", config, "run", f"{base}/openapi.json",
        "-H", f"Authorization: Bearer {key}", "--checks", CHECKS,
        "--phases", run["phases"], "--workers", run["workers"],
        "--max-examples", str(int(run["max_examples"]) * SCALE), "--seed", SEED,
        "--suppress-health-check", "all",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    output = result.stdout + result.stderr
    cases = re.search(r"(\d+) generated", output)
    tested = re.search(r"Tested: (\d+)", output)
    summary = f"{run['phases']}: {tested.group(1) if tested else '?'} operations, " \
              f"{cases.group(1) if cases else '?'} cases"
    return result.returncode, summary, output


def failures_of(output):
    """The run's failures section, each line cut short (generated bodies can be megabytes)."""
    start = output.find("FAILURES")
    end = output.find("WARNINGS", start)
    section = output[start if start >= 0 else 0:end if end > 0 else len(output)]
    lines = [line if len(line) <= 400 else line[:400] + " …" for line in section.splitlines()]
    return "\n".join(lines[:600])


def start_server(binary, backend, pg_url, workdir):
    port = free_port()
    env = dict(os.environ, BURSAR_FAILED_AUTH_PER_MINUTE="0", BURSAR_RATE_LIMIT_PER_KEY="0")
    args = [binary, "serve", "--demo", "--addr", f"127.0.0.1:{port}"]
    if backend == "postgres":
        database = f"bursar_fuzz_{secrets.token_hex(4)}"
        subprocess.run(["psql", pg_url, "-qc", f"create database {database}"], check=True)
        url = re.sub(r"/[^/]*$", f"/{database}", pg_url)
        env["BURSAR_DATABASE_URL"] = url
        env["BURSAR_SECRET_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    else:
        args += ["--data-dir", os.path.join(workdir, "data")]
    log_path = os.path.join(workdir, "server.log")
    server = subprocess.Popen(args, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    key = wait_for_key(server, log_path, base, time.time() + 120)
    return server, base, key, env, args


def verify(binary, args, env):
    """`ledger verify` and `audit verify` over the database the server used."""
    where = args[args.index("--data-dir"):][:2] if "--data-dir" in args else []
    for command in (["ledger", "verify"], ["audit", "verify"]):
        result = subprocess.run([binary, *command, *where], env=env, capture_output=True, text=True)
        print(f"bursar {' '.join(command)}: {(result.stdout + result.stderr).strip()}")
        if result.returncode != 0:
            return False
    return True


def main():
    binary, backend = sys.argv[1], sys.argv[2]
    pg_url = sys.argv[3] if len(sys.argv) > 3 else None
    schemathesis = os.environ.get("SCHEMATHESIS", "schemathesis")
    workdir = tempfile.mkdtemp(prefix="bursar-fuzz-")
    server, base, key, env, args = start_server(binary, backend, pg_url, workdir)
    failed = False
    try:
        spec = request(base, key, "/openapi.json")
        ids = real_ids(base, key, collections(spec))
        config = os.path.join(workdir, "schemathesis.toml")
        write_config(config, spec, ids)
        print(f"{backend}: {len(spec['paths'])} paths; real ids from {len(ids)} collections")
        for run in RUNS:
            code, summary, output = run_schemathesis(schemathesis, base, key, config, run)
            print(f"{backend} {summary}: {'ok' if code == 0 else 'FAILED'}")
            if code != 0:
                failed = True
                print(failures_of(output))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    if server.returncode != 0:
        print(open(os.path.join(workdir, "server.log")).read()[-5000:])
        failed = True
    if not verify(binary, args, env):
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
