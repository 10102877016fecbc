"""A tiny packaged-connector stand-in for fault tests: a real subprocess speaking the Airbyte CLI protocol.

`install_fake_connector(connectors_dir)` writes it where `kind: airbyte` looks for an installed
connector (`<connectors_dir>/<slug>/bin/<executable>` plus the install marker), so
`AirbyteConnectorSource` runs it without pip. Its connector config (`config:` in refinery.yml):

    streams: [{name: "Users", primary_key: "id", records: 50}]   # names may be anything
    checkpoint_every: 10          # a STREAM STATE (next offset) after every N records
    fail_after: 25                # optional: after N records of the first stream, exit with exit_code
    exit_code: 1
    block_after_first_state: /path  # optional: after the first STATE, touch <path>.blocked, wait for <path>
    extra_lines: ["raw line", …]   # optional: printed verbatim before the first record

A record is `{<primary_key>: <n>, "n": <n>, "text": "record <n> of <stream>", <extra keys>}`;
`extra_keys` maps more key → value into every record. On resume it starts at the saved offset,
so an interrupted sync re-reads only what followed its last checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REQUIREMENT = "fake-connector==1.0"
EXECUTABLE = "fake-connector"

SCRIPT = r"""
import json, os, sys, time

def emit(message):
    sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    sys.stdout.flush()

def arg(name):
    args = sys.argv[1:]
    return args[args.index(name) + 1] if name in args else None

command = sys.argv[1]
config = json.load(open(arg("--config"))) if arg("--config") else {}
streams = config.get("streams", [])
if command == "spec":
    emit({"type": "SPEC", "spec": {"connectionSpecification": {"type": "object"}}})
elif command == "check":
    emit({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}})
elif command == "discover":
    emit({"type": "CATALOG", "catalog": {"streams": [
        {"name": s["name"], "json_schema": {"type": "object", "properties": {s["primary_key"]: {"type": "integer"}}},
         "supported_sync_modes": ["full_refresh", "incremental"], "source_defined_cursor": True,
         "default_cursor_field": ["n"], "source_defined_primary_key": [[s["primary_key"]]]}
        for s in streams]}})
elif command == "read":
    state = json.load(open(arg("--state"))) if arg("--state") else []
    offsets = {m["stream"]["stream_descriptor"]["name"]: m["stream"]["stream_state"]["next"]
               for m in state if m.get("type") == "STREAM"}
    every = config.get("checkpoint_every", 10)
    for line in config.get("extra_lines", []):
        sys.stdout.write(line + "\n")
    sent = 0
    states = 0
    for s in streams:
        for n in range(offsets.get(s["name"], 0), s["records"]):
            if config.get("fail_after") is not None and sent == config["fail_after"]:
                sys.stderr.write("fake-connector: the upstream API went away\n")
                sys.exit(config.get("exit_code", 1))
            data = {s["primary_key"]: n, "n": n, "text": f"record {n} of {s['name']}", **config.get("extra_keys", {})}
            emit({"type": "RECORD", "record": {"stream": s["name"], "data": data, "emitted_at": 1700000000000 + n}})
            sent += 1
            if (n + 1) % every == 0 or n + 1 == s["records"]:
                emit({"type": "STATE", "state": {"type": "STREAM", "stream": {
                    "stream_descriptor": {"name": s["name"]}, "stream_state": {"next": n + 1}}}})
                states += 1
                gate = config.get("block_after_first_state")
                if gate and states == 1:
                    open(gate + ".blocked", "w").close()
                    while not os.path.exists(gate):
                        time.sleep(0.05)
else:
    sys.exit(f"unknown command {command}")
"""


def install_fake_connector(connectors_dir: Path) -> Path:
    """Write the fake connector as an installed `kind: airbyte` connector; return its executable."""
    import re

    venv = connectors_dir / re.sub(r"[^A-Za-z0-9_.-]+", "_", REQUIREMENT)
    executable = venv / "bin" / EXECUTABLE
    executable.parent.mkdir(parents=True, exist_ok=True)
    executable.write_text(f"#!{sys.executable}\n{SCRIPT}")
    executable.chmod(0o755)
    (venv / ".refinery-installed").write_text(REQUIREMENT)
    return executable


def yaml_config(config: dict) -> str:
    """A connector config as inline YAML (JSON is YAML)."""
    return json.dumps(config, ensure_ascii=False)
