"""One Soul, every kind a run uses: role stamp, boat here, connector here, sink tape (tests only)."""
import json
import os
import sys

with open("starts", "a") as f:
    f.write("%d\n" % os.getpid())

with open("base") as f:
    BASE = f.read().strip()


def probe(p):
    return {"sections": [{"name": "cur", "script": "cat /etc/stamp 2>/dev/null; true"}]}


def plan(p):
    text = p["keys"]["stamp"]["text"] + "\n"
    if p["facts"]["cur"]["stdout"] == text:
        return {"steps": []}
    ops = [{"kind": "write", "path": "/etc/stamp", "content": text, "mode": "0644"}]
    if text.startswith("fail"):
        ops.append({"kind": "exec", "argv": ["false"], "irreversible": "it fails"})
    return {"steps": [{"changes": [{"kind": "~", "subject": "/etc/stamp", "key": "stamp.text"}], "ops": ops}]}


def hosts(p):
    return {"hosts": [{"name": "@here/" + n} for n in p["config"]["names"]]}


def connect(p):
    name = p["arg"]
    if "/" in name or name in (".", ".."):
        raise ValueError("not a plain name: " + name)
    return {"argv": ["chroot", os.path.join(BASE, name)]}


METHODS = {"role.probe": probe, "role.plan": plan, "boat.hosts": hosts, "connector.open": connect}

for line in sys.stdin:
    req = json.loads(line)
    method = req.get("method")
    if method == "shutdown":
        break
    if method == "logbook.event":
        with open("tape", "a") as f:
            f.write(req["params"]["event"]["type"] + "\n")
        continue
    resp = {"jsonrpc": "2.0", "id": req["id"]}
    try:
        if method not in METHODS:
            resp["error"] = {"code": -32601, "message": "unknown method " + method}
        else:
            resp["result"] = METHODS[method](req["params"])
    except Exception as e:  # a refusal: chaos shows it naming the Soul
        resp["error"] = {"code": 2, "message": str(e)}
    sys.stdout.write(json.dumps(resp) + "\n")
    sys.stdout.flush()
