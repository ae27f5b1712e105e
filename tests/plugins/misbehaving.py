#!/usr/bin/env python3
"""A test plugin that behaves well or badly on request, for tests/plugins.rs.

argv[1], the mode: `ok` (default), `wrong-version` (answers protocol version 2), `silent`
(never answers `initialize`), `clash` (offers a node named like the built-in one).
Per item (the `echo` and `create` operations): `delayMs` (answer after a pause, from a thread
of its own, so answers come back in any order), `crash`, `hang`, `garbage`, `unknownId`,
`secret` (echo the credential token everywhere), `failTimes` (fail that many attempts,
marked retryable, before succeeding).
Environment: TEST_PLUGIN_LOG, a file each received method is appended to; TEST_PLUGIN_PIDS,
a file its pid and a child's pid are written to (the child sleeps, so a test can check that
nothing outlives the run).
"""

import json
import os
import subprocess
import sys
import threading
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else "ok"
NAME = "gestorClientesMaxCliente" if MODE == "clash" else "testPlugin"
LOG = os.environ.get("TEST_PLUGIN_LOG")
out = threading.Lock()
attempts = {}
tokens = {}


def log(text):
    if LOG:
        with open(LOG, "a") as f:
            f.write(text + "\n")


def write(obj):
    with out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


FLAGS = {k: {"type": "boolean", "default": False} for k in ("crash", "hang", "garbage", "unknownId", "secret")}
ITEM = dict(FLAGS, value={"type": "string", "minLength": 1},
            delayMs={"type": "integer", "minimum": 0, "default": 0},
            failTimes={"type": "integer", "minimum": 0, "default": 0})


def branch(op, required):
    props = dict(ITEM, operation={"type": "string", "const": op})
    return {"title": op, "description": op + " a value", "type": "object", "properties": props,
            "required": required, "additionalProperties": False}


NODE = {
    "displayName": "Test Plugin", "name": NAME, "version": 1, "description": "Misbehaves on request",
    "credentials": [{"name": "testPluginApi", "required": True}],
    "properties": [{"displayName": "Operation", "name": "operation", "type": "options", "default": "echo",
                    "options": [{"name": "Echo", "value": "echo"}, {"name": "Create", "value": "create"}]}],
    "operations": {"echo": {"readOnly": True, "idempotent": True, "destructive": False},
                   "create": {"readOnly": False, "idempotent": False, "destructive": False}},
    "parametersSchema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                         "oneOf": [branch("echo", ["value"]), branch("create", ["operation", "value"])]},
}
CREDENTIAL = {"name": "testPluginApi", "displayName": "Test Plugin API",
              "environment": {"token": "TEST_PLUGIN_TOKEN"},
              "schema": {"type": "object", "properties": {"token": {"type": "string", "x-secret": True}},
                         "required": ["token"], "additionalProperties": False}}


garbage_sent = []


def execute(rid, params):
    item = params["params"]
    token = tokens.get(params["session"], "")
    time.sleep(item.get("delayMs", 0) / 1000.0)
    if item.get("crash"):
        print("about to crash on item %d" % params["item"], file=sys.stderr, flush=True)
        os._exit(3)
    if item.get("hang"):
        print("hanging on item %d" % params["item"], file=sys.stderr, flush=True)
        return
    if MODE == "garbage-after-first" and not garbage_sent:
        # Answers its first execute, then prints a stray line on stdout (a debug print).
        # Both lines in one write: the stray line comes before anything else this plugin says
        # (the answer to `close` included), so the host sees it whatever the threads do.
        garbage_sent.append(True)
        answer = {"jsonrpc": "2.0", "id": rid, "result": {"outputs": [{"value": item.get("value")}]}}
        with out:
            sys.stdout.write(json.dumps(answer) + "\ndebug: answered\n")
            sys.stdout.flush()
        return
    if item.get("garbage"):
        with out:
            sys.stdout.write("this is not json\n")
            sys.stdout.flush()
        return
    if item.get("unknownId"):
        write({"jsonrpc": "2.0", "id": 999999, "result": {"outputs": []}})
        return
    if item.get("secret"):
        print("the token is " + token, file=sys.stderr, flush=True)
        if item["operation"] == "create":
            write({"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": "bad token " + token,
                                                         "data": {"details": {"token": token}}}})
            return
        write({"jsonrpc": "2.0", "id": rid, "result": {"outputs": [{"token": token, "note": "x" + token}]}})
        return
    key = item["operation"] + ":" + item["value"]
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] <= item.get("failTimes", 0):
        write({"jsonrpc": "2.0", "id": rid, "error": {
            "code": -32000, "message": "busy, attempt %d" % attempts[key],
            "data": {"retryable": True, "httpStatus": 503}}})
        return
    write({"jsonrpc": "2.0", "id": rid, "result": {"outputs": [
        {"value": item["value"], "item": params["item"], "attempts": attempts[key]}]}})


def main():
    pids = os.environ.get("TEST_PLUGIN_PIDS")
    if pids:
        child = subprocess.Popen(["sleep", "300"])
        with open(pids, "a") as f:
            f.write("%d\n%d\n" % (os.getpid(), child.pid))
    for line in sys.stdin:
        msg = json.loads(line)
        method = msg.get("method")
        log(method)
        rid = msg.get("id")
        if method == "initialize":
            if MODE == "silent":
                continue
            version = "2" if MODE == "wrong-version" else "1"
            write({"jsonrpc": "2.0", "id": rid, "result": {
                "protocolVersion": version, "plugin": {"name": "misbehaving", "version": "0.0.1"},
                "nodes": [NODE], "credentials": [CREDENTIAL]}})
        elif method == "open":
            session = "s%d" % (len(tokens) + 1)
            tokens[session] = (msg["params"].get("credentials") or {}).get("token", "")
            write({"jsonrpc": "2.0", "id": rid, "result": {"session": session}})
        elif method == "execute":
            threading.Thread(target=execute, args=(rid, msg["params"]), daemon=True).start()
        elif method in ("close", "shutdown"):
            write({"jsonrpc": "2.0", "id": rid, "result": None})
        elif rid is not None:
            write({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "unknown method"}})
    log("eof")


if __name__ == "__main__":
    main()
