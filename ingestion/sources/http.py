"""`kind: http` — a JSON REST or GraphQL API, page by page.

Configuration (refinery.yml); see docs/sources/http.md for every option::

    tickets_api:
      kind: http
      url: https://api.example.com/v1/tickets
      stream: tickets                      # optional: table stream name (default: records)
      method: GET                          # optional: GET (default) or POST
      params: {status: open}               # optional: query parameters (no secrets)
      headers: {Accept: application/json}  # optional: extra headers (no secrets)
      body: {filter: open}                 # optional: JSON body of a POST
      records_path: data.items             # optional: dot path to the list (default: the body is the list)
      primary_key: id
      text_field: body                     # optional: each record is a document with this text
      pagination: {type: page_number, page_param: page, size_param: per_page, page_size: 100}
      auth: {type: bearer, token_env: TICKETS_TOKEN}
      rate_limit: {requests_per_second: 5}
      retries: {max_attempts: 5, base_seconds: 1, max_seconds: 30}
      timeout_seconds: 30
      incremental: {cursor_field: updated_at, param: updated_since, start: "2024-01-01T00:00:00Z"}

GraphQL: `graphql: {query: "…", variables: {…}}` (POST, the cursor and the incremental value
go in as variables: `pagination.cursor_variable`, `incremental.variable`).

Pagination types: `page_number` (page_param, size_param, page_size, start_page), `offset`
(offset_param, limit_param, page_size), `cursor` (cursor_path in the body, sent back as
cursor_param or cursor_variable; optional has_more_path), `link` (the RFC 8288
`Link: <…>; rel="next"` header; it must stay on the configured scheme and host). A stream stops
at an empty page, a page shorter than page_size, or no next cursor or link. `max_pages` limits one
sync: it stops there and the next sync continues at the next page (under `full_refresh`, which
cannot continue, it caps the collection instead).

Secrets come only from environment variables (`token_env`, `username_env`/`password_env`,
`key_env`); a variable that is not set is a ConfigError naming it. They are sent in headers
only, and redacted from every error; URLs in errors carry no query string. What the server sends
back is redacted too (as sent and percent-encoded): quarantined bytes and landed records get `***`,
and a next link or cursor token kept in `resume` gets `<secret:ENV_NAME>`, replaced by the
variable's current value when the sync continues.

Retries: 5xx, connection errors and timeouts are retried with exponential backoff and full
jitter (sleep uniform(0, min(max_seconds, base_seconds·2^attempt))). A 429 waits its
`Retry-After` (seconds or an HTTP date; backoff if absent) and counts as an attempt. When the
attempts are exhausted, or on any other 4xx, the sync fails with the method, the URL and the
status; every page committed before stays.

Checkpoints and what they guarantee. A STATE follows every page, so a crash re-reads at most
that page. The stream state is::

    {"cursor": <high-water mark of cursor_field, over the last read of the whole collection>,
     "keys_at_cursor": [<primary keys of the records whose cursor equals it>],
     "resume": {"since": <the value sent as incremental.param by this pass>,
                "skip_keys": [<keys_at_cursor of the previous pass>],
                "next": <page number | offset | cursor token | next URL>, "pages": <pages read>,
                "cursor": <running mark over this pass's committed records>, "keys_at_cursor": [...]}}

`resume` is present only while a pass over the collection is unfinished (a failure, a crash or
`max_pages`). The next sync keeps the `since` value the pass's first page was sent with (so the
result set and its paging do not move under it) and continues at `next`. The sync that reaches
the end moves the running mark to `cursor` and drops `resume`; the next one sends `cursor` as
the incremental parameter and skips the records whose cursor equals it and whose primary key is
in `keys_at_cursor` (they landed last time), so an API that filters inclusively (`>=`) neither
loses nor repeats a boundary record. The mark waits for the end because on a newest-first API
the first page holds the highest value: advanced after a partial pass, it would hide the unread
older pages for good. So every record at or above the previous mark is read once per pass, in
any order. What this cannot guarantee:

- an API whose result set changes between two pages of one sync (new or reordered records
  under page/offset paging) can shift records across the page boundary: one is read twice or
  missed. Cursor and link paging by a stable key do not shift;
- an API not ordered by, or not filtering on, the cursor: records updated after the sync began
  but with an older cursor value are landed on a later full read only;
- an API that filters exclusively (`>`) misses records that share the high-water value and
  arrive after a sync;
- without `primary_key`, boundary records are landed again (staging keeps the latest version);
- a cursor token or next link that expires before a resumed sync: the page fails with its status
  (likelier with `max_pages`, when a pass spans several syncs; so is a page/offset shift).

Without `incremental` every sync reads the whole collection and appends it (staging keeps the
latest version per primary key), resuming an interrupted sync at its next page;
`full_refresh: true` instead replaces the stream's rows when a sync succeeds (an interrupted
full refresh starts again from the first page).

Bad input is kept: a page whose body is not JSON (or whose records_path is not a list) is
quarantined with its bytes and the reason, and a record that is not a JSON object is
quarantined on its own. After such a page, page_number/offset/link paging goes on; cursor
paging cannot know the next cursor, so the sync fails there and retries that page next time.
"""

from __future__ import annotations

import base64
import email.utils
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import orjson
import requests

from ingestion.protocol import Log, Message, Quarantined, Record, SourceFailed, StreamSpec, stream_state_message
from ingestion.sources import SavedState
from refinery.config import NAME_PATTERN, Config, ConfigError, SourceConfig, redact

KIND_OPTIONS: dict[str, tuple[set[str], set[str]]] = {
    "http": (
        {"url"},
        {
            "stream",
            "method",
            "params",
            "headers",
            "body",
            "graphql",
            "records_path",
            "primary_key",
            "cursor_field",
            "text_field",
            "group_field",
            "role",
            "pagination",
            "auth",
            "rate_limit",
            "retries",
            "timeout_seconds",
            "incremental",
            "full_refresh",
        },
    )
}
PAGINATION_OPTIONS: dict[str, tuple[set[str], set[str]]] = {
    "page_number": (set(), {"page_param", "size_param", "page_size", "start_page", "max_pages"}),
    "offset": (set(), {"offset_param", "limit_param", "page_size", "max_pages"}),
    "cursor": (
        {"cursor_path"},
        {"cursor_param", "cursor_variable", "has_more_path", "size_param", "page_size", "max_pages"},
    ),
    "link": (set(), {"max_pages"}),
}
AUTH_OPTIONS: dict[str, set[str]] = {
    "bearer": {"token_env"},
    "basic": {"username_env", "password_env"},
    "api_key": {"header", "key_env"},
}
DEFAULT_RETRIES = {"max_attempts": 5, "base_seconds": 1.0, "max_seconds": 30.0}
DEFAULT_TIMEOUT_SECONDS = 30.0
# A server asking for a longer pause than this is treated as down: the sync fails, naming the wait.
MAX_RETRY_AFTER_SECONDS = 900.0
# Primary keys kept to skip boundary records on the next sync; past this, boundary records may repeat.
MAX_BOUNDARY_KEYS = 10_000
RETRYABLE_EXCEPTIONS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
# Pages in a row that are not JSON (or whose records_path is not a list) before the sync stops:
# page-number/offset paging would otherwise quarantine pages forever when the url or records_path is wrong.
MAX_BAD_PAGES_IN_A_ROW = 3


# -- configuration -----------------------------------------------------------------------------------
def check_options(source: SourceConfig, where: str) -> None:
    """Validate a `kind: http` entry; raise ConfigError naming the file, the key and the fix."""
    options = source.options
    file = source.config_file

    def fail(key: str, problem: str) -> None:
        raise ConfigError(f"{file}: '{where}.{key}' {problem}")

    url = options["url"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        fail("url", f"is {url!r}: give an absolute http(s) URL, e.g. https://api.example.com/v1/items")
    stream = options.get("stream", "records")
    if not isinstance(stream, str) or not NAME_PATTERN.match(stream) or "__" in stream:
        fail(
            "stream",
            f"is {stream!r}: use lowercase letters, digits and single underscores, starting with a letter "
            "(it becomes part of the table name), e.g. records",
        )
    method = options.get("method", "POST" if "graphql" in options else "GET")
    if method not in ("GET", "POST"):
        fail("method", f"is {method!r}: use GET or POST")
    if "graphql" in options and method != "POST":
        fail("method", "must be POST (or left out) with graphql")
    for key in ("params", "headers", "body"):
        if key in options and not isinstance(options[key], dict):
            fail(key, f"must be a mapping, e.g. {key}: {{name: value}}")
    for key in ("params", "headers"):
        for name, value in (options.get(key) or {}).items():
            if isinstance(value, dict | list):
                fail(f"{key}.{name}", "must be a single value (string or number)")
    for name in options.get("headers") or {}:
        if str(name).lower() in ("authorization", "proxy-authorization", "cookie", "x-api-key"):
            fail(f"headers.{name}", "looks like a secret: configure it under auth (read from an environment variable)")
    if "body" in options and "graphql" in options:
        fail("body", "cannot be combined with graphql (the GraphQL query is the body)")
    if "body" in options and method != "POST":
        fail("body", "needs method: POST")
    graphql = options.get("graphql")
    if graphql is not None:
        if not isinstance(graphql, dict) or not isinstance(graphql.get("query"), str) or not graphql["query"].strip():
            fail("graphql", "must be a mapping with a 'query' string, e.g. {query: '{ items { nodes { id } } }'}")
        unknown = set(graphql) - {"query", "variables"}
        if unknown:
            fail(f"graphql.{sorted(unknown)[0]}", "is not a graphql option: use query and variables")
        if not isinstance(graphql.get("variables", {}), dict):
            fail("graphql.variables", "must be a mapping of variable name → value")
    if "records_path" in options and (not isinstance(options["records_path"], str) or not options["records_path"]):
        fail("records_path", "must be a dot path to the list of records, e.g. data.items")
    role = options.get("role")
    if role is not None and role not in ("documents", "records"):
        fail("role", f"is {role!r}: use documents (each record is a text example) or records")
    if role == "documents" and not options.get("text_field"):
        fail("role", "is documents but text_field is not set: name the field that holds the text")
    _check_pagination(options.get("pagination"), options, fail)
    _check_auth(options.get("auth"), fail)
    _check_numbers(options, fail)
    _check_incremental(options, fail)


def _check_pagination(pagination: Any, options: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    if pagination is None:
        return
    kinds = ", ".join(sorted(PAGINATION_OPTIONS))
    if not isinstance(pagination, dict) or pagination.get("type") not in PAGINATION_OPTIONS:
        fail("pagination", f"must be a mapping with type one of {kinds}, e.g. {{type: page_number, page_size: 100}}")
    kind = pagination["type"]
    required, optional = PAGINATION_OPTIONS[kind]
    for key in pagination:
        if key != "type" and key not in required | optional:
            fail(
                f"pagination.{key}",
                f"is not an option of {kind} pagination: use {', '.join(sorted(required | optional))}",
            )
    for key in required:
        if not pagination.get(key):
            fail(f"pagination.{key}", f"is required for {kind} pagination")
    for key in ("page_size", "max_pages", "start_page"):
        value = pagination.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "start_page" else 1)
        ):
            fail(f"pagination.{key}", f"is {value!r}: give a positive whole number")
    for key in ("page_param", "size_param", "offset_param", "limit_param", "cursor_param", "cursor_variable"):
        if key in pagination and not isinstance(pagination[key], str):
            fail(f"pagination.{key}", "must be a parameter name (a string)")
    if kind == "offset" and not pagination.get("page_size"):
        fail("pagination.page_size", "is required for offset pagination (the limit sent and the step of the offset)")
    if kind == "cursor":
        if "graphql" in options and not pagination.get("cursor_variable"):
            fail("pagination.cursor_variable", "is required for cursor pagination with graphql, e.g. after")
        if "graphql" not in options and not pagination.get("cursor_param"):
            fail("pagination.cursor_param", "is required for cursor pagination, e.g. cursor")
    if kind == "link" and options.get("method", "GET") != "GET":
        fail("pagination", "link pagination follows next URLs with GET: leave method out")


def _check_auth(auth: Any, fail: Callable[[str, str], None]) -> None:
    if auth is None:
        return
    types = ", ".join(sorted(AUTH_OPTIONS))
    if not isinstance(auth, dict) or auth.get("type") not in AUTH_OPTIONS:
        fail("auth", f"must be a mapping with type one of {types}, e.g. {{type: bearer, token_env: API_TOKEN}}")
    needed = AUTH_OPTIONS[auth["type"]]
    for key in auth:
        if key != "type" and key not in needed:
            hint = (
                " (secrets are read from environment variables: name the variable)"
                if key in ("token", "password", "key")
                else ""
            )
            fail(f"auth.{key}", f"is not an option of {auth['type']} auth: use {', '.join(sorted(needed))}{hint}")
    for key in sorted(needed):
        if not isinstance(auth.get(key), str) or not auth[key]:
            example = "X-API-Key" if key == "header" else "MY_API_SECRET"
            fail(f"auth.{key}", f"is required for {auth['type']} auth, e.g. {key}: {example}")


def _check_numbers(options: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    def positive(key: str, value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            fail(key, f"is {value!r}: give a positive number")

    if "timeout_seconds" in options:
        positive("timeout_seconds", options["timeout_seconds"])
    rate = options.get("rate_limit")
    if rate is not None:
        if not isinstance(rate, dict) or set(rate) != {"requests_per_second"}:
            fail("rate_limit", "must be {requests_per_second: N}")
        positive("rate_limit.requests_per_second", rate["requests_per_second"])
    retries = options.get("retries")
    if retries is not None:
        if not isinstance(retries, dict) or not set(retries) <= set(DEFAULT_RETRIES):
            fail("retries", "must be a mapping with max_attempts, base_seconds and/or max_seconds")
        for key, value in retries.items():
            positive(f"retries.{key}", value)
        if "max_attempts" in retries and not isinstance(retries["max_attempts"], int):
            fail("retries.max_attempts", "must be a whole number (1 = no retry)")
    if "full_refresh" in options and not isinstance(options["full_refresh"], bool):
        fail("full_refresh", "must be true or false")


def _check_incremental(options: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    incremental = options.get("incremental")
    if incremental is None:
        return
    allowed = {"cursor_field", "param", "variable", "start"}
    if not isinstance(incremental, dict):
        fail("incremental", "must be a mapping like {cursor_field: updated_at, param: updated_since}")
    for key in incremental:
        if key not in allowed:
            fail(f"incremental.{key}", f"is not an incremental option: use {', '.join(sorted(allowed))}")
    start = incremental.get("start")
    if start is not None and (not isinstance(start, str | int | float) or isinstance(start, bool)):
        fail("incremental.start", f'is {start!r}: quote it as the API expects it, e.g. start: "2024-01-01T00:00:00Z"')
    if not isinstance(incremental.get("cursor_field"), str) or not incremental["cursor_field"]:
        fail("incremental.cursor_field", "is required: the record field whose highest value is remembered")
    name = "variable" if "graphql" in options else "param"
    if not isinstance(incremental.get(name), str) or not incremental[name]:
        what = "GraphQL variable" if name == "variable" else "query parameter"
        fail(f"incremental.{name}", f"is required: the {what} that receives the last cursor value, e.g. since")
    if options.get("full_refresh"):
        fail("full_refresh", "cannot be combined with incremental: remove one of them")
    cursor = options.get("cursor_field")
    if cursor is not None and cursor != incremental["cursor_field"]:
        fail("cursor_field", f"is {cursor!r} but incremental.cursor_field is {incremental['cursor_field']!r}: keep one")


def build(source: SourceConfig, config: Config, say: Callable[[str], None] = print) -> HttpSource:
    return HttpSource(source)


# -- helpers ---------------------------------------------------------------------------------------
def dig(value: Any, path: str | None) -> Any:
    """The value at a dot path (`data.items`, `data.0.id`); None when a step is missing."""
    if not path:
        return value
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base·2^(attempt-1)))."""
    return rng.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))


def public_url(url: str) -> str:
    """The URL as errors show it: no query string, no user info (either can hold a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _cursor_order(value: Any) -> tuple[int, Any]:
    """Order cursor values: numbers by value, anything else by its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


@dataclass
class Page:
    """One fetched page: the records (or why the page was quarantined) and where the next one is."""

    url: str
    records: list[Any] | None
    raw: bytes
    problem: str | None
    next_position: Any
    done: bool
    warning: str | None = None


# -- the source ------------------------------------------------------------------------------------
class HttpSource:
    def __init__(self, source: SourceConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.source = source
        self.options = source.options
        self.stream = str(source.option("stream", "records"))
        self.url = str(source.option("url"))
        self.graphql = source.option("graphql")
        self.method = str(source.option("method", "POST" if self.graphql else "GET"))
        self.pagination: dict[str, Any] = dict(source.option("pagination") or {})
        self.incremental: dict[str, Any] | None = source.option("incremental")
        retries = {**DEFAULT_RETRIES, **(source.option("retries") or {})}
        self.max_attempts = int(retries["max_attempts"])
        self.base_seconds = float(retries["base_seconds"])
        self.max_seconds = float(retries["max_seconds"])
        self.timeout = float(source.option("timeout_seconds", DEFAULT_TIMEOUT_SECONDS))
        rate = (source.option("rate_limit") or {}).get("requests_per_second")
        self.min_interval = 1.0 / float(rate) if rate else 0.0
        self.sleep = sleep
        self.rng = random.Random()
        self._last_request = -math.inf
        self._secrets: list[tuple[str, str]] = []  # (placeholder, secret)
        self._auth_headers: dict[str, str] | None = None

    # -- Source protocol -------------------------------------------------------------------------
    def streams(self) -> list[StreamSpec]:
        self.auth_headers()  # a missing secret fails before the sync starts
        return self.planned_streams()

    def planned_streams(self) -> list[StreamSpec]:
        text_field = self.source.option("text_field")
        role = self.source.option("role") or ("documents" if text_field else "records")
        cursor = (self.incremental or {}).get("cursor_field") or self.source.option("cursor_field")
        return [
            StreamSpec(
                name=self.stream,
                role=role,
                primary_key=self.source.option("primary_key"),
                cursor_field=cursor,
                text_field=text_field,
                group_field=self.source.option("group_field"),
                full_refresh=bool(self.source.option("full_refresh", False)),
            )
        ]

    def read(self, saved: SavedState) -> Iterator[Message]:
        self.auth_headers()  # the secrets, to redact what is stored and restore placeholders in `resume`
        saved_state = saved.streams.get(self.stream) or {}
        state = saved_state if isinstance(saved_state, dict) else {}
        full_refresh = bool(self.source.option("full_refresh", False))
        resume = state.get("resume") if not full_refresh else None
        # The high-water mark of the last sync that read the whole collection; it stays in `cursor`
        # until this sync reads the whole collection too (the running mark lives in `resume`).
        finished = (state.get("cursor"), list(state.get("keys_at_cursor") or []))
        high_water, keys_at = finished[0], list(finished[1])
        if resume:
            since = resume.get("since")
            skip_keys = list(resume.get("skip_keys") or [])
            position = self._restore(resume.get("next"))
            pages = int(resume.get("pages", 0))
            if "cursor" in resume:
                high_water, keys_at = resume["cursor"], list(resume.get("keys_at_cursor") or [])
            yield Log("INFO", f"{self.source.name}: continuing an unfinished sync at page {pages + 1}")
        else:
            since = high_water if high_water is not None else (self.incremental or {}).get("start")
            skip_keys = keys_at if high_water is not None else []
            position = None
            pages = 0
        skip = {orjson.dumps(key) for key in skip_keys}
        key_field = self.source.option("primary_key")
        cursor_field = (self.incremental or {}).get("cursor_field")
        max_pages = self.pagination.get("max_pages")
        bad_in_a_row = 0
        pages_this_run = 0
        while True:
            page = self.fetch(position, since)
            pages += 1
            pages_this_run += 1
            emitted_at = int(time.time() * 1000)
            if page.warning is not None:
                yield Log("WARN", page.warning)
            if page.problem is not None:
                yield Quarantined(page.problem, self._redact_bytes(page.raw), self.stream)
            for item in page.records or []:
                item = self._redact_value(item)
                if not isinstance(item, dict):
                    raw = orjson.dumps(item)
                    yield Quarantined(
                        f"{public_url(page.url)} page {pages}: expected a JSON object, got {type(item).__name__}",
                        raw,
                        self.stream,
                    )
                    continue
                if cursor_field is not None:
                    value = item.get(cursor_field)
                    key = orjson.dumps(item.get(key_field)) if key_field else None
                    if value is not None and since is not None and value == since and key in skip:
                        continue  # landed by the sync that set this high-water mark
                    if value is not None:
                        if high_water is None or _cursor_order(value) > _cursor_order(high_water):
                            high_water, keys_at = value, []
                        if value == high_water and key_field and len(keys_at) < MAX_BOUNDARY_KEYS:
                            keys_at.append(item.get(key_field))
                yield Record(self.stream, item, emitted_at)
            if page.problem is not None and page.done and self.pagination.get("type") == "cursor":
                # Keep the quarantined page, but do not move past it: the next sync reads it again.
                yield stream_state_message(
                    self.stream, self._state(finished, high_water, keys_at, since, skip_keys, position, pages - 1)
                )
                raise SourceFailed(
                    f"source '{self.source.name}': {public_url(page.url)} page {pages} could not be read "
                    f"({page.problem.split(': ', 1)[-1][:200]}), so its next cursor is unknown; the page is in "
                    "raw._refinery_quarantine and the next sync starts again at it"
                )
            # max_pages limits one run: the next sync continues at the next page. A full refresh
            # cannot continue (it starts again from the first page), so there it caps the collection.
            limited = max_pages is not None and pages_this_run >= max_pages
            done = page.done or (limited and full_refresh)
            resume_at = None if done else page.next_position
            yield stream_state_message(
                self.stream,
                self._state(finished, high_water, keys_at, since, skip_keys, resume_at, pages, done=done),
            )
            if done:
                return
            if limited:
                yield Log(
                    "INFO",
                    f"{self.source.name}: stopped after max_pages ({max_pages}) pages; the next sync continues "
                    f"at page {pages + 1}",
                )
                return
            bad_in_a_row = bad_in_a_row + 1 if page.problem is not None else 0
            if bad_in_a_row >= MAX_BAD_PAGES_IN_A_ROW:
                raise SourceFailed(
                    f"source '{self.source.name}': {bad_in_a_row} pages in a row of {public_url(page.url)} held no "
                    f"list of records (the last: {page.problem}); they are in raw._refinery_quarantine — check "
                    "url and records_path"
                )
            if page.next_position == position:
                raise SourceFailed(
                    f"source '{self.source.name}': {public_url(page.url)} page {pages} points to itself as the next "
                    "page; stopping instead of reading it forever (check pagination)"
                )
            position = page.next_position

    def _state(
        self,
        finished: tuple[Any, list[Any]],
        high_water: Any,
        keys_at: list[Any],
        since: Any,
        skip_keys: list[Any],
        position: Any,
        pages: int,
        done: bool = False,
    ) -> dict[str, Any]:
        """The stream state: the high-water mark moves to `cursor` only once the whole collection is read."""
        state: dict[str, Any] = {}
        with_keys = bool(self.source.option("primary_key"))
        if self.incremental:
            mark, keys = (high_water, keys_at) if done else finished
            state["cursor"] = mark
            state["keys_at_cursor"] = keys if with_keys else []
        if not done:
            resume = {"since": since, "skip_keys": skip_keys, "next": self._placeholders(position), "pages": pages}
            if self.incremental:
                resume["cursor"] = high_water
                resume["keys_at_cursor"] = keys_at if with_keys else []
            state["resume"] = resume
        return state

    # -- one page --------------------------------------------------------------------------------
    def fetch(self, position: Any, since: Any) -> Page:
        """Request the page at `position` (None: the first), with retries; classify the answer."""
        kind = self.pagination.get("type")
        url = self.url
        params = {k: v for k, v in (self.source.option("params") or {}).items()}
        body: Any = self.source.option("body")
        variables: dict[str, Any] = dict((self.graphql or {}).get("variables") or {})
        size = self.pagination.get("page_size")
        if kind == "link" and position:
            url, params = position, {}
        else:
            if self.incremental and since is not None:
                if self.graphql:
                    variables[self.incremental["variable"]] = since
                else:
                    params[self.incremental["param"]] = since
            if kind == "page_number":
                start = self.pagination.get("start_page", 1)
                params[self.pagination.get("page_param", "page")] = start if position is None else position
                if size:
                    params[self.pagination.get("size_param", "per_page")] = size
            elif kind == "offset":
                params[self.pagination.get("offset_param", "offset")] = position or 0
                params[self.pagination.get("limit_param", "limit")] = size
            elif kind == "cursor":
                if size and self.pagination.get("size_param"):
                    if self.graphql:
                        variables[self.pagination["size_param"]] = size
                    else:
                        params[self.pagination["size_param"]] = size
                if position is not None:
                    if self.graphql:
                        variables[self.pagination["cursor_variable"]] = position
                    else:
                        params[self.pagination["cursor_param"]] = position
            elif kind == "link" and size:
                params[self.pagination.get("size_param", "per_page")] = size
        if self.graphql:
            body = {"query": self.graphql["query"], "variables": variables}
        response = self.request(url, params, body)
        raw = response.content
        records, problem, data = self._parse(response, raw)
        warning = None
        if self.graphql and isinstance(data, dict) and data.get("errors"):
            errors = self._redact(orjson.dumps(data["errors"]).decode()[:500])
            warning = (
                f"{self.source.name}: {public_url(response.url)} answered with GraphQL errors besides data: {errors}"
            )
        return Page(
            warning=warning,
            url=response.url,
            records=records,
            raw=raw,
            problem=problem,
            next_position=self._next_position(kind, position, response, data),
            done=self._done(kind, position, response, data, records),
        )

    def _parse(self, response: requests.Response, raw: bytes) -> tuple[list[Any] | None, str | None, Any]:
        where = f"{public_url(response.url)} (HTTP {response.status_code})"
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            kind = response.headers.get("Content-Type", "no content type")
            return None, self._redact(f"{where}: the body is not JSON ({kind}): {exc}"), None
        if self.graphql and isinstance(data, dict) and data.get("errors") and not data.get("data"):
            raise SourceFailed(
                self._redact(
                    f"source '{self.source.name}': {where}: the GraphQL query failed: "
                    f"{orjson.dumps(data['errors']).decode()[:500]}"
                )
            )
        path = self.source.option("records_path")
        records = dig(data, path)
        if not isinstance(records, list):
            found = "nothing" if records is None else type(records).__name__
            at = f"records_path {path!r}" if path else "the body (no records_path set)"
            return None, f"{where}: {at} holds {found}, not a list of records", data
        return records, None, data

    def _next_position(self, kind: str | None, position: Any, response: requests.Response, data: Any) -> Any:
        if kind == "page_number":
            return (self.pagination.get("start_page", 1) if position is None else position) + 1
        if kind == "offset":
            return (position or 0) + self.pagination["page_size"]
        if kind == "cursor":
            token = dig(data, self.pagination["cursor_path"])
            return token if token not in (None, "") else None
        if kind == "link":
            link = (response.links.get("next") or {}).get("url")
            if not link:
                return None
            target = urljoin(response.url, link)
            there, here = urlsplit(target), urlsplit(self.url)
            if there.netloc != here.netloc:
                raise SourceFailed(
                    f"source '{self.source.name}': the next link of {public_url(response.url)} points at another "
                    f"host ({there.hostname}); credentials are only sent to {here.hostname}"
                )
            if there.scheme != here.scheme:
                raise SourceFailed(
                    f"source '{self.source.name}': the next link of {public_url(response.url)} switches from "
                    f"{here.scheme} to {there.scheme}; credentials are only sent over {here.scheme}"
                )
            return target
        return None

    def _done(self, kind: str | None, position: Any, response: requests.Response, data: Any, records: Any) -> bool:
        if kind is None:
            return True
        if kind in ("page_number", "offset"):
            if records is None:  # a quarantined page: go on to the next one
                return False
            size = self.pagination.get("page_size")
            return not records or (size is not None and len(records) < size)
        if kind == "cursor":
            if records is None:
                return True
            has_more = self.pagination.get("has_more_path")
            if has_more and dig(data, has_more) is False:
                return True
            return not records or self._next_position(kind, position, response, data) is None
        return not (response.links.get("next") or {}).get("url")

    # -- HTTP ------------------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        """The auth header, its secret read from the environment (ConfigError naming a missing variable)."""
        if self._auth_headers is not None:
            return self._auth_headers
        auth = self.source.option("auth")
        headers: dict[str, str] = {}
        if auth:
            values = {key: self._env(key, auth[key]) for key in auth if key.endswith("_env")}
            if auth["type"] == "bearer":
                headers["Authorization"] = f"Bearer {values['token_env']}"
            elif auth["type"] == "basic":
                pair = f"{values['username_env']}:{values['password_env']}".encode()
                encoded = base64.b64encode(pair).decode()
                headers["Authorization"] = f"Basic {encoded}"
                self._add_secret("basic", encoded)
            else:
                headers[auth["header"]] = values["key_env"]
        self._auth_headers = headers
        return headers

    def _env(self, key: str, name: str) -> str:
        value = os.environ.get(name)
        if not value:
            raise ConfigError(
                f"{self.source.config_file}: 'sources.{self.source.name}.auth.{key}' names environment variable "
                f"{name}, which is {'empty' if value == '' else 'not set'}; export it before running"
            )
        if key != "username_env":
            self._add_secret(name, value)
        return value

    def _add_secret(self, name: str, value: str) -> None:
        """Remember a secret, as sent and percent-encoded (as it appears in a URL), with its placeholder."""
        self._secrets.append((f"<secret:{name}>", value))
        encoded = quote(value, safe="")
        if encoded != value:
            self._secrets.append((f"<secret:{name}:urlencoded>", encoded))

    def _redact(self, text: str) -> str:
        return redact(text, [secret for _, secret in self._secrets])

    def _redact_bytes(self, raw: bytes) -> bytes:
        """The server's bytes with every known secret replaced by *** (quarantined pages are stored)."""
        for _, secret in self._secrets:
            raw = raw.replace(secret.encode(), b"***")
        return raw

    def _redact_value(self, value: Any) -> Any:
        """A record with every known secret in its strings (keys too) replaced by ***."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {self._redact(str(k)): self._redact_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redact_value(v) for v in value]
        return value

    def _placeholders(self, position: Any) -> Any:
        """A resume point (next URL or cursor token) as stored: secrets replaced by named placeholders."""
        if isinstance(position, str):
            for placeholder, secret in self._secrets:
                position = position.replace(secret, placeholder)
        return position

    def _restore(self, position: Any) -> Any:
        """A stored resume point with its placeholders replaced by the secrets of this run's environment."""
        if isinstance(position, str):
            for placeholder, secret in self._secrets:
                position = position.replace(placeholder, secret)
        return position

    def _pace(self) -> None:
        """Space request starts by 1/requests_per_second (client-side rate limit)."""
        if self.min_interval:
            wait = self._last_request + self.min_interval - time.monotonic()
            if wait > 0:
                self.sleep(wait)
        self._last_request = time.monotonic()

    def request(self, url: str, params: dict[str, Any], body: Any) -> requests.Response:
        """One request with retries: 5xx, connection errors and timeouts back off; 429 waits Retry-After."""
        headers = {**{str(k): str(v) for k, v in (self.source.option("headers") or {}).items()}}
        headers.setdefault("Accept", "application/json")
        headers.update(self.auth_headers())
        shown = public_url(url)
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            self._pace()
            try:
                response = requests.request(
                    self.method,
                    url,
                    params=params or None,
                    json=body if self.method == "POST" else None,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except RETRYABLE_EXCEPTIONS as exc:
                kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
                last = f"{kind} (after {self.timeout:g} s)" if kind == "timed out" else kind
                self._wait(attempt, None)
                continue
            except requests.RequestException as exc:
                raise SourceFailed(
                    self._redact(f"source '{self.source.name}': {self.method} {shown} failed: {type(exc).__name__}")
                ) from None
            status = response.status_code
            if status < 300:
                return response
            snippet = self._redact(response.text[:300].strip())
            last = f"HTTP {status} {response.reason}" + (f": {snippet}" if snippet else "")
            if status == 429 or status >= 500:
                delay = retry_after_seconds(response.headers.get("Retry-After")) if status == 429 else None
                if delay is not None and delay > MAX_RETRY_AFTER_SECONDS:
                    last += f" (Retry-After asks for {delay:.0f} s, more than {MAX_RETRY_AFTER_SECONDS:.0f} s)"
                    break
                self._wait(attempt, delay)
                continue
            hint = ""
            if status in (401, 403):
                hint = " — check the credentials under auth (the environment variables it names)"
            elif 300 <= status < 400:
                hint = f" — the server redirects to {public_url(response.headers.get('Location', ''))}; set url to it"
            raise SourceFailed(self._redact(f"source '{self.source.name}': {self.method} {shown}: {last}{hint}"))
        raise SourceFailed(
            self._redact(
                f"source '{self.source.name}': {self.method} {shown} failed after {attempt} attempt"
                f"{'s' if attempt > 1 else ''}: {last}; pages committed before this one are kept and the "
                "next sync resumes here"
            )
        )

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        if attempt >= self.max_attempts:
            return
        delay = (
            retry_after
            if retry_after is not None
            else backoff_seconds(attempt, self.base_seconds, self.max_seconds, self.rng)
        )
        self.sleep(delay)
