"""A local JSON API for the http and declarative source tests (stdlib only, 127.0.0.1, port 0).

It serves `count` records `{id, updated_at, title, body}` (ordered by `updated_at`, or newest
first with `newest_first`) through
every pagination style the http source supports, and misbehaves on request:

    /pages?page=&per_page=        page-number pagination, body {"items": [...]}
    /offset?offset=&limit=        offset/limit pagination, body {"items": [...]}
    /cursor?cursor=&limit=        cursor in the body: {"data": [...], "next": token | null}
    /link?page=&per_page=         a top-level JSON list, RFC 8288 `Link: <…>; rel="next"`
    /graphql (POST)               {"data": {"items": {"nodes": [...], "pageInfo": {endCursor, hasNextPage}}}}
    /list                         every record as a top-level list, no pagination

Every data route filters by `since` (inclusive: updated_at >= since) when given, as a query
parameter or a GraphQL variable. `Fault`s answer matching requests instead (a status with an
optional Retry-After, a body that is not JSON, a sleep past the client's timeout), each a
given number of times. `require_header` answers 401 to any request without that header
value. Every request is logged (method, path, query, headers, JSON body, arrival time) so
tests assert what the client sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

START = datetime(2024, 1, 1, tzinfo=UTC)


def make_records(count: int) -> list[dict[str, Any]]:
    """`count` records; two share each updated_at so the cursor boundary has ties."""
    return [
        {
            "id": number,
            "updated_at": (START + timedelta(minutes=(number + 1) // 2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "title": f"record {number}",
            "body": f"text of record {number}",
        }
        for number in range(1, count + 1)
    ]


@dataclass
class Fault:
    """Answer `times` requests whose path and query match with this instead of the data."""

    path: str
    match: dict[str, str] = field(default_factory=dict)
    status: int = 200
    retry_after: str | None = None
    body: bytes | None = None
    sleep: float = 0.0
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival
    wall: float  # time.time() on arrival


class ApiServer:
    """Start with `with ApiServer(count=…) as api:`; `api.url(path)` is the address of a route."""

    def __init__(self, count: int = 25, newest_first: bool = False) -> None:
        self.records = make_records(count)
        self.newest_first = newest_first  # serve by updated_at descending (most APIs' default order)
        self.faults: list[Fault] = []
        self.require_header: tuple[str, str] | None = None
        self.requests: list[Request] = []
        self.on_request: Callable[[Request], None] | None = None  # e.g. SIGKILL the client mid-sync
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def data_requests(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # -- behaviour -------------------------------------------------------------------------------
    def _take_fault(self, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path == path and fault.times > 0 and all(query.get(k) == v for k, v in fault.match.items()):
                    fault.times -= 1
                    return fault
        return None

    def _selected(self, since: str | None) -> list[dict[str, Any]]:
        rows = [r for r in self.records if since is None or r["updated_at"] >= since]
        return rows[::-1] if self.newest_first else rows

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], bytes]:
        variables = (body or {}).get("variables") or {} if isinstance(body, dict) else {}
        since = query.get("since") or variables.get("since")
        rows = self._selected(since)
        if path == "/list":
            return 200, {}, json.dumps(rows).encode()
        if path == "/pages":
            page, size = int(query.get("page", "1")), int(query.get("per_page", "10"))
            return 200, {}, json.dumps({"items": rows[(page - 1) * size : page * size], "page": page}).encode()
        if path == "/offset":
            offset, limit = int(query.get("offset", "0")), int(query.get("limit", "10"))
            return 200, {}, json.dumps({"items": rows[offset : offset + limit]}).encode()
        if path == "/cursor":
            start = int(query["cursor"].removeprefix("c")) if query.get("cursor") else 0
            limit = int(query.get("limit", "10"))
            chunk = rows[start : start + limit]
            token = f"c{start + limit}" if start + limit < len(rows) else None
            return 200, {}, json.dumps({"data": chunk, "meta": {"next": token}}).encode()
        if path == "/link":
            page, size = int(query.get("page", "1")), int(query.get("per_page", "10"))
            headers = {}
            if page * size < len(rows):
                extra = f"&since={since}" if since else ""
                headers["Link"] = (
                    f'</link?page={page + 1}&per_page={size}{extra}>; rel="next", </link?page=1>; rel="first"'
                )
            return 200, headers, json.dumps(rows[(page - 1) * size : page * size]).encode()
        if path == "/graphql" and method == "POST":
            start = int(variables["after"].removeprefix("c")) if variables.get("after") else 0
            limit = int(variables.get("first", 10))
            chunk = rows[start : start + limit]
            more = start + limit < len(rows)
            page_info = {"endCursor": f"c{start + limit}" if chunk else None, "hasNextPage": more}
            return 200, {}, json.dumps({"data": {"items": {"nodes": chunk, "pageInfo": page_info}}}).encode()
        return 404, {}, json.dumps({"error": f"no route {method} {path}"}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                request = Request(
                    method, parts.path, query, dict(self.headers.items()), body, time.monotonic(), time.time()
                )
                api.requests.append(request)
                if api.on_request is not None:
                    api.on_request(request)
                if api.require_header is not None:
                    name, value = api.require_header
                    if self.headers.get(name) != value:
                        self._send(401, {}, b'{"error": "unauthorized"}')
                        return
                fault = api._take_fault(parts.path, query)
                if fault is not None:
                    if fault.sleep:
                        time.sleep(fault.sleep)
                    if fault.status != 200 or fault.body is not None:
                        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                        headers.update(fault.headers)
                        self._send(fault.status, headers, fault.body if fault.body is not None else b'{"error": "x"}')
                        return
                status, headers, payload = api.answer(method, parts.path, query, body)
                self._send(status, headers, payload)

            def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        return Handler
