#!/usr/bin/env python3
"""A nodehost plugin in Python, with nothing but the standard library.

It offers one node, `keyValueStore`: values kept in memory under keys, per session, behind a
token. It shows the whole protocol (docs/plugin-protocol.md): the handshake with definitions,
sessions opened with credentials, items executed, failures with `httpStatus` and
`retryable`, and `shutdown`. Register it with

    nodehost plugin add examples/plugins/keyvalue.py

Messages are JSON-RPC 2.0, one per line: requests on stdin, answers on stdout. Logs go to
stderr, which the host forwards to its own log.
"""

import json
import sys

PROTOCOL_VERSION = "1"

KEY = {"title": "Key", "description": "The key.", "type": "string", "minLength": 1, "maxLength": 200}
NODE = {
    "displayName": "Key-Value Store",
    "name": "keyValueStore",
    "icon": "fa:database",
    "group": ["transform"],
    "version": 1,
    "description": "Keeps values under keys, in the plugin's memory",
    "defaults": {"name": "Key-Value Store"},
    "inputs": ["main"],
    "outputs": ["main"],
    "credentials": [{"name": "keyValueStoreApi", "required": True}],
    "usableAsTool": True,
    "properties": [
        {"displayName": "Operation", "name": "operation", "type": "options", "noDataExpression": True,
         "default": "get",
         "options": [
             {"name": "Set", "value": "set", "action": "Set a value", "description": "Store a value under a key"},
             {"name": "Get", "value": "get", "action": "Get a value", "description": "Read the value of a key"},
             {"name": "Delete", "value": "delete", "action": "Delete a value", "description": "Remove a key"},
         ]},
        {"displayName": "Key", "name": "key", "type": "string", "default": "", "required": True},
        {"displayName": "Value", "name": "value", "type": "string", "default": "",
         "displayOptions": {"show": {"operation": ["set"]}}},
    ],
    # Per operation: what it does to the world, and the record it touches. Items on the same
    # key run in input order; others run concurrently.
    "operations": {
        "set": {"readOnly": False, "idempotent": True, "destructive": False, "locks": {"write": ["key/{key}"]}},
        "get": {"readOnly": True, "idempotent": True, "destructive": False, "locks": {"read": ["key/{key}"]}},
        "delete": {"readOnly": False, "idempotent": True, "destructive": True, "locks": {"write": ["key/{key}"]}},
    },
    "parametersSchema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Key-Value Store",
        "type": "object",
        "oneOf": [
            {"title": "set", "description": "Store a value under a key.", "type": "object",
             "properties": {"operation": {"type": "string", "const": "set"}, "key": KEY,
                            "value": {"description": "The value.", "type": "string"}},
             "required": ["operation", "key", "value"], "additionalProperties": False},
            {"title": "get", "description": "Read the value of a key.", "type": "object",
             "properties": {"operation": {"type": "string", "const": "get", "default": "get"}, "key": KEY},
             "required": ["key"], "additionalProperties": False},
            {"title": "delete", "description": "Remove a key.", "type": "object",
             "properties": {"operation": {"type": "string", "const": "delete"}, "key": KEY},
             "required": ["operation", "key"], "additionalProperties": False},
        ],
    },
}
CREDENTIAL = {
    "name": "keyValueStoreApi",
    "displayName": "Key-Value Store API",
    "properties": [{"displayName": "Token", "name": "token", "type": "string",
                    "typeOptions": {"password": True}, "default": "", "required": True}],
    "environment": {"token": "KEYVALUE_TOKEN"},
    # `x-secret` marks the fields the host redacts from everything it prints.
    "schema": {"type": "object",
               "properties": {"token": {"type": "string", "minLength": 1, "x-secret": True}},
               "required": ["token"], "additionalProperties": False},
}


class Failure(Exception):
    """An answer that is a JSON-RPC error."""

    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


sessions = {}  # session id -> {key: value}


def initialize(params):
    if str(params.get("protocolVersion", "")).split(".")[0] != PROTOCOL_VERSION:
        raise Failure(-32602, "this plugin speaks protocol version " + PROTOCOL_VERSION)
    return {"protocolVersion": PROTOCOL_VERSION,
            "plugin": {"name": "keyvalue", "version": "1.0.0"},
            "nodes": [NODE], "credentials": [CREDENTIAL]}


def open_session(params):
    if params.get("node") != NODE["name"]:
        raise Failure(-32602, "unknown node")
    token = (params.get("credentials") or {}).get("token", "")
    if token == "revoked":
        raise Failure(-32001, "the token was revoked")
    session = "s%d" % (len(sessions) + 1)
    sessions[session] = {}
    print("opened session %s" % session, file=sys.stderr, flush=True)
    return {"session": session}


def execute(params):
    store = sessions.get(params.get("session"))
    if store is None:
        raise Failure(-32602, "unknown session")
    item = params["params"]
    op, key = item["operation"], item["key"]
    if op == "set":
        store[key] = item["value"]
        return {"outputs": [{"key": key, "value": item["value"]}]}
    if op == "get":
        if key not in store:
            raise Failure(-32000, "no value under key `%s`" % key, {"httpStatus": 404})
        return {"outputs": [{"key": key, "value": store[key]}]}
    if op == "delete":
        existed = store.pop(key, None) is not None
        return {"outputs": [{"key": key, "deleted": existed}]}
    raise Failure(-32602, "unknown operation")


def close(params):
    sessions.pop(params.get("session"), None)
    return None


METHODS = {"initialize": initialize, "open": open_session, "execute": execute,
           "close": close, "shutdown": lambda _params: None}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if "id" not in message:
            continue  # a notification: `$/cancel` means nothing to a plugin that answers at once
        try:
            method = METHODS.get(message.get("method"))
            if method is None:
                raise Failure(-32601, "unknown method")
            answer = {"result": method(message.get("params") or {})}
        except Failure as failure:
            error = {"code": failure.code, "message": failure.message}
            if failure.data is not None:
                error["data"] = failure.data
            answer = {"error": error}
        answer.update(jsonrpc="2.0", id=message["id"])
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    # stdin closed (after `shutdown`): exit.


if __name__ == "__main__":
    main()
