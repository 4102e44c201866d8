#!/usr/bin/env python3
"""The cmdb boat: a Ch-aOS Soul (protocol 1) that reads hosts from an in-house CMDB export.

chaos starts this program once per run and writes JSON-RPC 2.0 requests to its stdin, one per
line; each response is one line on stdout. stderr is the Soul's log (chaos shows its end when the
Soul fails). The only request a boat answers is boat.hosts:

  params: {"boat": "cmdb", "config": {...the fleet.boats entry's config...}, "secrets": {...}}
  result: {"hosts": [{"name", "address", "port", "user", "key", "become", "groups", "vars"}]}

config is {"file": PATH} or {"command": [PROGRAM, ARG...]} (run without a shell). Either yields the
CMDB's JSON: a list of records, or {"records": [...]}, each record

  {"hostname": "web1", "ip": "10.0.0.5", "ssh_port": 22, "ssh_user": "root",
   "ssh_key": "/path/key", "become": false, "roles": ["web"], "vars": {...}, "retired": false}

Retired records are left out; roles become fleet groups. Paths are used as given: make them
absolute (a relative path is relative to this Soul's directory, where chaos starts it).
"""
import json
import os
import subprocess
import sys

CODE_INVALID_PARAMS = -32602
CODE_METHOD_NOT_FOUND = -32601
CODE_FAILED = 2


class Failure(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def read_cmdb(config):
    if not isinstance(config, dict):
        raise Failure(CODE_INVALID_PARAMS, "config must be a mapping with file or command")
    if "file" in config and "command" in config:
        raise Failure(CODE_INVALID_PARAMS, "config: file and command are exclusive")
    if "file" in config:
        path = os.path.expanduser(str(config["file"]))
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise Failure(CODE_FAILED, f"config.file: {e}")
        where = path
    elif "command" in config:
        argv = config["command"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise Failure(CODE_INVALID_PARAMS, "config.command must be a list: [program, args...]")
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=25, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Failure(CODE_FAILED, f"config.command: {e}")
        if out.returncode != 0:
            raise Failure(CODE_FAILED, f"config.command: {argv[0]} exited {out.returncode}: {out.stderr.strip()[-400:]}")
        text, where = out.stdout, argv[0]
    else:
        raise Failure(CODE_INVALID_PARAMS, "config: file or command is required")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise Failure(CODE_FAILED, f"{where}: not JSON: {e}")
    if isinstance(doc, dict):
        doc = doc.get("records")
    if not isinstance(doc, list):
        raise Failure(CODE_FAILED, f"{where}: want a list of records (or {{\"records\": [...]}})")
    return doc


def hosts(params):
    records = read_cmdb(params.get("config") or {})
    out = []
    for i, r in enumerate(records):
        if not isinstance(r, dict) or not isinstance(r.get("hostname"), str):
            raise Failure(CODE_FAILED, f"record {i}: want an object with a hostname")
        if r.get("retired"):
            continue
        h = {"name": r["hostname"]}
        for src, dst in (("ip", "address"), ("ssh_port", "port"), ("ssh_user", "user"),
                         ("ssh_key", "key"), ("become", "become"), ("roles", "groups"), ("vars", "vars")):
            if r.get(src) not in (None, "", [], {}):
                h[dst] = r[src]
        out.append(h)
    return {"hosts": out}


def handle(req):
    method = req.get("method")
    if method == "boat.hosts":
        params = req.get("params") or {}
        if params.get("boat") != "cmdb":
            raise Failure(CODE_METHOD_NOT_FOUND, f"this Soul has no boat {params.get('boat')!r}")
        return hosts(params)
    raise Failure(CODE_METHOD_NOT_FOUND, f"unknown method {method}")


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("method") == "shutdown":
            return
        if "id" not in req:  # a notification: no response
            continue
        resp = {"jsonrpc": "2.0", "id": req["id"]}
        try:
            resp["result"] = handle(req)
        except Failure as e:
            resp["error"] = {"code": e.code, "message": str(e)}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
