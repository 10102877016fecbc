"""kind: http against a real local API (tests/http_server.py): paging, retries, auth, state, secrets."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from email.utils import formatdate

import duckdb
import pytest

from ingestion.sources.http import backoff_seconds, dig, public_url, retry_after_seconds
from ingestion.sync import sync_source
from refinery.config import ConfigError, load_config
from tests.conftest import PROJECT_ROOT
from tests.http_server import ApiServer, Fault, make_records
from tests.secret_scan import secret_locations

pytestmark = pytest.mark.unit

FAST_RETRIES = "retries: {max_attempts: 3, base_seconds: 0.01, max_seconds: 0.05}"
TOKEN = "tok-7f3a9c-SECRET"
PASSWORD = "pw-b81d-SECRET"
API_KEY = "key-55e0-SECRET"


@pytest.fixture
def api():
    with ApiServer(count=25) as server:
        yield server


@pytest.fixture
def run(tmp_path, write_config, monkeypatch):
    """Write a one-source refinery.yml (`src: {kind: http, …}`) and sync it; returns (result, config)."""
    monkeypatch.setenv("REFINERY_HOME", str(tmp_path / "home"))

    def _run(options: str):
        config = load_config(write_config(f"sources:\n  src:\n    kind: http\n{_indent(options)}"))
        return sync_source(config, "src", say=lambda _: None), config

    return _run


def _indent(text: str) -> str:
    import textwrap

    return textwrap.indent(textwrap.dedent(text).strip() + "\n", "    ")


def landed(config, stream: str = "records") -> list[dict]:
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        rows = con.execute(f'select _airbyte_data from raw."src__{stream}" order by _airbyte_extracted_at').fetchall()
    return [json.loads(row[0]) for row in rows]


def saved_state(config, stream: str = "records") -> dict:
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        row = con.execute(
            "select state from raw._refinery_state where source_name = 'src' and stream_name = ?", [stream]
        ).fetchone()
    return json.loads(row[0])["stream"]["stream_state"]


def sync_log(config) -> list[tuple]:
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        return con.execute(
            "select status, records_landed, records_quarantined, error from raw._refinery_sync_log "
            "where stream_name = 'records' order by started_at"
        ).fetchall()


def ids(records: list[dict]) -> list[int]:
    return sorted(r["id"] for r in records)


CURSOR_PAGING = "pagination: {type: cursor, cursor_path: meta.next, cursor_param: cursor}"
PAGE_PAGING = "records_path: items\npagination: {type: page_number, page_size: 10}"


# -- pagination --------------------------------------------------------------------------------------
PAGINATIONS = {
    "page_number": ("/pages", "records_path: items\npagination: {type: page_number, page_size: 10}", 3),
    "offset": ("/offset", "records_path: items\npagination: {type: offset, page_size: 10}", 3),
    "cursor": (
        "/cursor",
        f"records_path: data\nparams: {{limit: 10}}\n{CURSOR_PAGING}",
        3,
    ),
    "link": ("/link", "params: {per_page: 10}\npagination: {type: link}", 3),
    "none": ("/list", "", 1),
}


@pytest.mark.parametrize("style", sorted(PAGINATIONS))
def test_every_pagination_style_lands_every_record_exactly_once(api, run, style):
    path, options, requests_expected = PAGINATIONS[style]
    result, config = run(f"url: {api.url(path)}\nprimary_key: id\n{options}")
    assert result.status == "succeeded", result.error
    assert ids(landed(config)) == list(range(1, 26))
    assert result.streams["records"].landed == 25
    assert len(api.data_requests(path)) == requests_expected
    assert saved_state(config) == {}  # finished: nothing to resume


def test_page_number_pagination_sends_page_and_size_and_stops_at_an_empty_page(run):
    with ApiServer(count=20) as api:
        result, config = run(
            f"url: {api.url('/pages')}\nrecords_path: items\npagination: {{type: page_number, page_size: 10}}"
        )
        sent = [(r.query["page"], r.query["per_page"]) for r in api.data_requests("/pages")]
    assert result.status == "succeeded", result.error
    assert sent == [("1", "10"), ("2", "10"), ("3", "10")]  # page 3 is empty: the stop
    assert len(landed(config)) == 20


def test_offset_pagination_sends_offsets_and_max_pages_stops_early(api, run):
    result, config = run(
        f"url: {api.url('/offset')}\nrecords_path: items\npagination: {{type: offset, page_size: 5, max_pages: 2}}"
    )
    assert result.status == "succeeded", result.error
    assert [(r.query["offset"], r.query["limit"]) for r in api.data_requests("/offset")] == [("0", "5"), ("5", "5")]
    assert ids(landed(config)) == list(range(1, 11))


NEWEST_FIRST = {
    "page_number": ("/pages", "records_path: items\npagination: {type: page_number, page_size: 10, max_pages: 1}"),
    "offset": ("/offset", "records_path: items\npagination: {type: offset, page_size: 10, max_pages: 1}"),
    "cursor": (
        "/cursor",
        "records_path: data\nparams: {limit: 10}\n"
        "pagination: {type: cursor, cursor_path: meta.next, cursor_param: cursor, max_pages: 1}",
    ),
    "link": ("/link", "params: {per_page: 10}\npagination: {type: link, max_pages: 1}"),
}


@pytest.mark.parametrize("style", sorted(NEWEST_FIRST))
def test_max_pages_limits_one_run_and_the_next_sync_continues_on_a_newest_first_api(run, style):
    path, options = NEWEST_FIRST[style]
    options = f"url: {{url}}\nprimary_key: id\n{options}\nincremental: {{cursor_field: updated_at, param: since}}"
    with ApiServer(count=25, newest_first=True) as api:
        options = options.replace("{url}", api.url(path))
        runs = [run(options) for _ in range(3)]
        config = runs[0][1]
        assert [result.streams["records"].landed for result, _ in runs] == [10, 10, 5]
        assert ids(landed(config)) == list(range(1, 26))
        # the high-water mark moves only once the whole collection has been read
        assert saved_state(config) == {"cursor": "2024-01-01T00:13:00Z", "keys_at_cursor": [25]}

        api.records.extend(make_records(27)[25:])  # 26 shares minute 13 with 25; 27 is later
        api.requests.clear()
        fourth, _ = run(options)
        assert fourth.status == "succeeded", fourth.error
        assert {r.query["since"] for r in api.data_requests(path)} == {"2024-01-01T00:13:00Z"}
        assert fourth.streams["records"].landed == 2
        assert ids(landed(config)) == list(range(1, 28))


def test_max_pages_keeps_the_resume_point_but_a_full_refresh_caps_the_collection(api, run):
    options = (
        f"url: {api.url('/pages')}\nrecords_path: items\npagination: {{type: page_number, page_size: 10, max_pages: 2}}"
    )
    first, config = run(options)
    assert first.status == "succeeded", first.error
    assert saved_state(config) == {"resume": {"since": None, "skip_keys": [], "next": 3, "pages": 2}}
    second, _ = run(options)
    assert second.streams["records"].landed == 5
    assert saved_state(config) == {}

    capped, config = run(options + "\nfull_refresh: true")
    assert capped.streams["records"].landed == 20
    assert saved_state(config) == {}


def test_graphql_cursor_pagination_sends_the_end_cursor_as_a_variable(api, run):
    query = "query($first: Int, $after: String) { items(first: $first, after: $after) { nodes { id } } }"
    result, config = run(f"""
        url: {api.url("/graphql")}
        graphql: {{query: "{query}", variables: {{first: 10}}}}
        records_path: data.items.nodes
        pagination: {{type: cursor, cursor_path: data.items.pageInfo.endCursor, cursor_variable: after,
                      has_more_path: data.items.pageInfo.hasNextPage}}
    """)
    assert result.status == "succeeded", result.error
    sent = api.data_requests("/graphql")
    assert [r.method for r in sent] == ["POST"] * 3
    assert [r.body["variables"].get("after") for r in sent] == [None, "c10", "c20"]
    assert sent[0].body["query"] == query
    assert ids(landed(config)) == list(range(1, 26))


GRAPHQL = """
    url: {url}
    graphql: {{query: "{{ items {{ nodes {{ id }} }} }}"}}
    records_path: data.items.nodes
"""


def test_graphql_errors_without_data_fail_and_with_data_warn(api, run, write_config):
    api.faults.append(Fault("/graphql", body=b'{"errors": [{"message": "no field nodez"}], "data": null}'))
    result, _ = run(GRAPHQL.format(url=api.url("/graphql")))
    assert result.status == "failed"
    assert result.error == (
        f'source \'src\': {api.url("/graphql")} (HTTP 200): the GraphQL query failed: [{{"message":"no field nodez"}}]'
    )
    api.faults.append(
        Fault("/graphql", body=b'{"errors": [{"message": "partial"}], "data": {"items": {"nodes": [{"id": 1}]}}}')
    )
    config = load_config(
        write_config(f"sources:\n  src:\n    kind: http\n{_indent(GRAPHQL.format(url=api.url('/graphql')))}")
    )
    from ingestion.protocol import Log, Record
    from ingestion.sources import SavedState, build_source

    messages = list(build_source(config.sources["src"], config).read(SavedState()))
    assert [m.data for m in messages if isinstance(m, Record)] == [{"id": 1}]
    assert [m.message for m in messages if isinstance(m, Log)] == [
        f'src: {api.url("/graphql")} answered with GraphQL errors besides data: [{{"message":"partial"}}]'
    ]


# -- incremental and checkpoints ---------------------------------------------------------------------
INCREMENTAL = f"""records_path: items
primary_key: id
pagination: {{type: page_number, page_size: 10}}
incremental: {{cursor_field: updated_at, param: since, start: "2024-01-01T00:05:00Z"}}
{FAST_RETRIES}
"""


def test_incremental_sends_the_high_water_mark_and_lands_only_what_is_new(api, run):
    options = f"url: {api.url('/pages')}\n{INCREMENTAL}"
    first, config = run(options)
    assert first.status == "succeeded", first.error
    # start 00:05 (inclusive): records 9.. (record n has minute (n+1)//2)
    assert ids(landed(config)) == list(range(9, 26))
    assert {r.query["since"] for r in api.data_requests("/pages")} == {"2024-01-01T00:05:00Z"}
    state = saved_state(config)
    assert state == {"cursor": "2024-01-01T00:13:00Z", "keys_at_cursor": [25]}

    api.records.extend(make_records(28)[25:])  # 26 shares minute 13 with 25; 27, 28 are later
    api.requests.clear()
    second, _ = run(options)
    assert second.status == "succeeded", second.error
    assert {r.query["since"] for r in api.data_requests("/pages")} == {"2024-01-01T00:13:00Z"}
    # 25 comes back (inclusive filter) but landed last time: skipped; 26–28 are new
    assert second.streams["records"].landed == 3
    assert ids(landed(config)) == list(range(9, 29))
    assert saved_state(config) == {"cursor": "2024-01-01T00:14:00Z", "keys_at_cursor": [27, 28]}


def test_a_failed_page_keeps_the_pages_before_and_the_next_sync_resumes_there(api, run):
    api.faults.append(Fault("/pages", {"page": "3"}, status=500, times=3))
    incremental = INCREMENTAL.replace('start: "2024-01-01T00:05:00Z"', 'start: "2024"')
    options = f"url: {api.url('/pages')}\n{incremental}"
    first, config = run(options)
    assert first.status == "failed"
    assert first.error == (
        f"source 'src': GET {api.url('/pages')} failed after 3 attempts: HTTP 500 Internal Server Error: "
        '{"error": "x"}; pages committed before this one are kept and the next sync resumes here'
    )
    assert ids(landed(config)) == list(range(1, 21))
    state = saved_state(config)
    assert state["resume"] == {
        "since": "2024",
        "skip_keys": [],
        "next": 3,
        "pages": 2,
        "cursor": "2024-01-01T00:10:00Z",  # the running mark; `cursor` moves only when the collection is read
        "keys_at_cursor": [19, 20],
    }
    assert state["cursor"] is None
    assert sync_log(config) == [("failed", 20, 0, first.error)]

    api.requests.clear()
    api.records.append(make_records(26)[25])  # arrives between the two syncs; same since → it is on page 3
    second, _ = run(options)
    assert second.status == "succeeded", second.error
    assert [(r.query["page"], r.query["since"]) for r in api.data_requests("/pages")] == [("3", "2024")]
    assert ids(landed(config)) == list(range(1, 27))  # each exactly once
    assert saved_state(config) == {"cursor": "2024-01-01T00:13:00Z", "keys_at_cursor": [25, 26]}


def test_without_incremental_a_resumed_sync_continues_and_a_finished_one_starts_over(api, run):
    api.faults.append(Fault("/offset", {"offset": "10"}, status=503, times=3))
    options = (
        f"url: {api.url('/offset')}\nrecords_path: items\npagination: {{type: offset, page_size: 10}}\n{FAST_RETRIES}"
    )
    first, config = run(options)
    assert first.status == "failed"
    assert saved_state(config) == {"resume": {"since": None, "skip_keys": [], "next": 10, "pages": 1}}
    second, _ = run(options)
    assert second.status == "succeeded", second.error
    assert ids(landed(config)) == list(range(1, 26))
    third, _ = run(options)
    assert third.streams["records"].landed == 25  # append: a full read again (staging keeps the latest)


def test_sigkill_mid_sync_rereads_at_most_one_page_and_lands_each_record_once(api, run, tmp_path, write_config):
    options = f"url: {api.url('/pages')}\n{INCREMENTAL}"
    path = write_config(f"sources:\n  src:\n    kind: http\n{_indent(options)}")
    script = "import sys; from refinery.config import load_config; from ingestion.sync import sync_source; " + (
        "sync_source(load_config(sys.argv[1]), 'src')"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    clients: list[subprocess.Popen] = []

    def kill_on_page_2(request):
        if request.query.get("page") == "2":
            os.kill(clients[0].pid, signal.SIGKILL)

    api.on_request = kill_on_page_2
    client = subprocess.Popen([sys.executable, "-c", script, str(path)], env=env, stdout=subprocess.PIPE)
    clients.append(client)
    client.wait(timeout=60)
    api.on_request = None
    assert client.returncode == -signal.SIGKILL
    config = load_config(path)
    assert ids(landed(config)) == list(range(9, 19))  # page 1 (start 00:05 keeps records 9–25: two pages)
    assert saved_state(config)["resume"] == {
        "since": "2024-01-01T00:05:00Z",
        "skip_keys": [],
        "next": 2,
        "pages": 1,
        "cursor": "2024-01-01T00:09:00Z",
        "keys_at_cursor": [17, 18],
    }

    api.requests.clear()
    resumed, _ = run(options)
    assert resumed.status == "succeeded", resumed.error
    assert [r.query["page"] for r in api.data_requests("/pages")] == ["2"]  # only the page in flight is read again
    assert ids(landed(config)) == list(range(9, 26))
    assert [row[:2] for row in sync_log(config)] == [("failed", 10), ("succeeded", 7)]
    assert sync_log(config)[0][3].startswith("interrupted")


# -- retries, throttling, timeouts -------------------------------------------------------------------
def test_5xx_is_retried_with_backoff_then_succeeds(api, run):
    api.faults.append(Fault("/pages", {"page": "2"}, status=503, times=2))
    result, config = run(f"url: {api.url('/pages')}\n{PAGE_PAGING}\n{FAST_RETRIES}")
    assert result.status == "succeeded", result.error
    assert [r.query["page"] for r in api.data_requests("/pages")] == ["1", "2", "2", "2", "3"]
    assert ids(landed(config)) == list(range(1, 26))


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_waits_at_least_retry_after(api, run, form):
    until = int(time.time()) + 2  # an HTTP date has whole seconds
    retry_after = "1" if form == "seconds" else formatdate(until, usegmt=True)
    api.faults.append(Fault("/list", status=429, retry_after=retry_after))
    result, config = run(f"url: {api.url('/list')}\n{FAST_RETRIES}")
    assert result.status == "succeeded", result.error
    first, second = api.data_requests("/list")
    if form == "seconds":
        assert second.at - first.at >= 1.0
    else:
        assert second.wall >= until
    assert len(landed(config)) == 25


def test_a_request_past_the_timeout_is_retried(api, run):
    api.faults.append(Fault("/list", sleep=1.5))
    result, config = run(f"url: {api.url('/list')}\ntimeout_seconds: 0.3\n{FAST_RETRIES}")
    assert result.status == "succeeded", result.error
    first, second = api.data_requests("/list")
    assert 0.3 <= second.at - first.at < 1.0  # the client gave up after its timeout, not after the slow answer
    assert len(landed(config)) == 25


def test_timeouts_exhaust_the_attempts_and_fail_naming_the_url(api, run):
    api.faults.append(Fault("/list", sleep=0.6, times=2))
    result, _ = run(
        f"url: {api.url('/list')}?q=1\ntimeout_seconds: 0.2\nretries: {{max_attempts: 2, base_seconds: 0.01}}"
    )
    assert result.status == "failed"
    assert result.error == (
        f"source 'src': GET {api.url('/list')} failed after 2 attempts: timed out (after 0.2 s); pages committed "
        "before this one are kept and the next sync resumes here"
    )


def test_a_4xx_fails_at_once(api, run):
    result, _ = run(f"url: {api.url('/nowhere')}\n{FAST_RETRIES}")
    assert result.status == "failed"
    assert (
        result.error
        == f"source 'src': GET {api.url('/nowhere')}: HTTP 404 Not Found: " + '{"error": "no route GET /nowhere"}'
    )
    assert len(api.data_requests("/nowhere")) == 1


def test_rate_limit_spaces_the_requests(api, run):
    result, _ = run(
        f"url: {api.url('/offset')}\nrecords_path: items\npagination: {{type: offset, page_size: 5}}\n"
        "rate_limit: {requests_per_second: 10}"
    )
    assert result.status == "succeeded", result.error
    arrivals = [r.at for r in api.data_requests("/offset")]
    assert len(arrivals) == 6
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.08  # 0.1 s between request starts, less the jitter of arrival on a loaded machine


# -- bad input is kept ---------------------------------------------------------------------------------
def test_a_page_that_is_not_json_and_a_record_that_is_not_an_object_are_quarantined(api, run):
    api.faults.append(Fault("/pages", {"page": "2"}, body=b"<html>maintenance</html>"))
    api.records[2] = ["not", "an", "object"]  # record 3, on page 1
    result, config = run(
        f"url: {api.url('/pages')}\nrecords_path: items\npagination: {{type: page_number, page_size: 10}}"
    )
    assert result.status == "succeeded", result.error
    assert ids(landed(config)) == [1, 2, 4, 5, 6, 7, 8, 9, 10, 21, 22, 23, 24, 25]
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        rows = con.execute("select reason, raw_bytes from raw._refinery_quarantine order by reason").fetchall()
    assert [(reason.split(": unexpected")[0], raw) for reason, raw in rows] == [
        (f"{api.url('/pages')} (HTTP 200): the body is not JSON (application/json)", b"<html>maintenance</html>"),
        (f"{api.url('/pages')} page 1: expected a JSON object, got list", b'["not","an","object"]'),
    ]
    assert sync_log(config) == [("succeeded", 14, 2, None)]


def test_a_bad_page_under_cursor_paging_is_kept_and_read_again_next_time(api, run):
    api.faults.append(Fault("/cursor", {"cursor": "c10"}, body=b"oops"))
    options = f"url: {api.url('/cursor')}\nrecords_path: data\nparams: {{limit: 10}}\n{CURSOR_PAGING}"
    first, config = run(options)
    assert first.status == "failed"
    assert "page 2 could not be read" in first.error and "the next sync starts again at it" in first.error
    assert saved_state(config)["resume"]["next"] == "c10"
    assert first.streams["records"].quarantined == 1
    second, _ = run(options)
    assert second.status == "succeeded", second.error
    assert ids(landed(config)) == list(range(1, 26))


def test_pages_that_never_hold_records_stop_the_sync_instead_of_paging_forever(api, run):
    result, _ = run(f"url: {api.url('/pages')}\nrecords_path: data.rows\npagination: {{type: page_number}}")
    assert result.status == "failed"
    assert result.error.startswith(f"source 'src': 3 pages in a row of {api.url('/pages')} held no list of records")
    assert result.error.endswith("check url and records_path")
    assert [r.query["page"] for r in api.data_requests("/pages")] == ["1", "2", "3"]
    assert result.streams["records"].quarantined == 3  # kept, with the reason


def test_a_cursor_that_repeats_stops_the_sync(api, run):
    api.faults.append(Fault("/cursor", {"cursor": "c10"}, body=b'{"data": [{"id": 99}], "meta": {"next": "c10"}}'))
    result, config = run(f"url: {api.url('/cursor')}\nrecords_path: data\nparams: {{limit: 10}}\n{CURSOR_PAGING}")
    assert result.status == "failed"
    assert "page 2 points to itself as the next page" in result.error
    assert ids(landed(config)) == [*range(1, 11), 99]


# -- auth and secrets ----------------------------------------------------------------------------------
def assert_secret_nowhere(secret: str, config, result, capsys, caplog) -> None:
    assert secret_locations(config.database_path, secret) == []
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err
    assert secret not in caplog.text
    assert secret not in (result.error or "")


@pytest.mark.parametrize(
    ("auth", "env", "header", "expected", "secret"),
    [
        ("{type: bearer, token_env: API_TOKEN}", {"API_TOKEN": TOKEN}, "Authorization", f"Bearer {TOKEN}", TOKEN),
        (
            "{type: basic, username_env: API_USER, password_env: API_PASSWORD}",
            {"API_USER": "ann", "API_PASSWORD": PASSWORD},
            "Authorization",
            "Basic YW5uOnB3LWI4MWQtU0VDUkVU",
            PASSWORD,
        ),
        ("{type: api_key, header: X-API-Key, key_env: API_KEY}", {"API_KEY": API_KEY}, "X-API-Key", API_KEY, API_KEY),
    ],
)
def test_auth_sends_the_secret_from_the_environment_and_never_stores_it(
    api, run, monkeypatch, capsys, caplog, auth, env, header, expected, secret
):
    caplog.set_level(logging.DEBUG)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    api.require_header = (header, expected)
    result, config = run(
        f"url: {api.url('/pages')}\nrecords_path: items\npagination: {{type: page_number, page_size: 10}}\nauth: {auth}"
    )
    assert result.status == "succeeded", result.error
    assert {r.headers.get(header) for r in api.data_requests("/pages")} == {expected}
    assert len(landed(config)) == 25
    assert_secret_nowhere(secret, config, result, capsys, caplog)


def test_a_rejected_token_fails_without_echoing_it(api, run, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("API_TOKEN", TOKEN)
    api.require_header = ("Authorization", "Bearer something-else")
    result, config = run(
        f"url: {api.url('/list')}?token=x\nauth: {{type: bearer, token_env: API_TOKEN}}\n{FAST_RETRIES}"
    )
    assert result.status == "failed"
    assert result.error == (
        f"source 'src': GET {api.url('/list')}: HTTP 401 Unauthorized: "
        '{"error": "unauthorized"} — check the credentials under auth (the environment variables it names)'
    )
    assert sync_log(config)[0][3] == result.error
    assert_secret_nowhere(TOKEN, config, result, capsys, caplog)


def test_a_server_that_echoes_the_secret_gets_it_redacted(api, run, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("API_KEY", API_KEY)
    api.faults.append(Fault("/list", status=503, body=f"upstream saw X-API-Key: {API_KEY}".encode(), times=3))
    result, config = run(
        f"url: {api.url('/list')}\nauth: {{type: api_key, header: X-API-Key, key_env: API_KEY}}\n{FAST_RETRIES}"
    )
    assert result.status == "failed"
    assert "HTTP 503 Service Unavailable: upstream saw X-API-Key: ***;" in result.error
    assert sync_log(config)[0][3] == result.error
    assert_secret_nowhere(API_KEY, config, result, capsys, caplog)


def test_a_page_or_record_that_echoes_the_token_is_stored_redacted(api, run, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("API_TOKEN", TOKEN)
    api.faults.append(Fault("/pages", {"page": "2"}, body=f"<html>401? we got Bearer {TOKEN}</html>".encode()))
    api.records[0]["body"] = f"debug: Bearer {TOKEN}"  # record 1, on page 1
    result, config = run(
        f"url: {api.url('/pages')}\nrecords_path: items\npagination: {{type: page_number, page_size: 10}}\n"
        "auth: {type: bearer, token_env: API_TOKEN}"
    )
    assert result.status == "succeeded", result.error
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        quarantined = con.execute("select raw_bytes from raw._refinery_quarantine").fetchall()
    assert quarantined == [(b"<html>401? we got Bearer ***</html>",)]
    assert [r["body"] for r in landed(config) if r["id"] == 1] == ["debug: Bearer ***"]
    assert_secret_nowhere(TOKEN, config, result, capsys, caplog)


def test_a_next_link_holding_the_token_is_stored_with_a_placeholder(api, run, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    token = TOKEN + "/+="  # percent-encoded in the link
    monkeypatch.setenv("API_TOKEN", token)
    encoded = "tok-7f3a9c-SECRET%2F%2B%3D"
    link = f'</link?page=2&per_page=10&access_token={encoded}>; rel="next"'
    api.faults.append(Fault("/link", body=b'[{"id": 1}]', headers={"Link": link}))
    options = (
        f"url: {api.url('/link')}\npagination: {{type: link, max_pages: 1}}\n"
        "auth: {type: bearer, token_env: API_TOKEN}"
    )
    first, config = run(options)
    assert first.status == "succeeded", first.error
    assert saved_state(config)["resume"]["next"] == (
        f"{api.url('/link')}?page=2&per_page=10&access_token=<secret:API_TOKEN:urlencoded>"
    )
    assert_secret_nowhere(token, config, first, capsys, caplog)
    assert_secret_nowhere(encoded, config, first, capsys, caplog)

    api.requests.clear()
    second, _ = run(options)
    assert second.status == "succeeded", second.error
    assert [r.query for r in api.data_requests("/link")] == [{"page": "2", "per_page": "10", "access_token": token}]
    assert ids(landed(config)) == [1, *range(11, 21)]


def test_a_missing_secret_variable_is_a_config_error_naming_it(api, run, monkeypatch):
    monkeypatch.delenv("NOT_SET_TOKEN", raising=False)
    with pytest.raises(
        ConfigError,
        match=r"'sources\.src\.auth\.token_env' names environment variable NOT_SET_TOKEN, "
        r"which is not set; export it before running",
    ):
        run(f"url: {api.url('/list')}\nauth: {{type: bearer, token_env: NOT_SET_TOKEN}}")
    assert api.requests == []


def test_a_link_to_another_host_is_not_followed(api, run, monkeypatch):
    monkeypatch.setenv("API_TOKEN", TOKEN)
    elsewhere = api.url("/link?page=2").replace("127.0.0.1", "localhost")
    api.faults.append(Fault("/link", body=b'[{"id": 1}]', headers={"Link": f'<{elsewhere}>; rel="next"'}))
    result, _ = run(
        f"url: {api.url('/link')}\npagination: {{type: link}}\nauth: {{type: bearer, token_env: API_TOKEN}}"
    )
    assert result.status == "failed"
    assert result.error == (
        f"source 'src': the next link of {api.url('/link')} points at another host (localhost); credentials are "
        "only sent to 127.0.0.1"
    )
    assert len(api.requests) == 1


def test_a_link_from_http_to_https_or_back_is_not_followed(api, run, monkeypatch):
    monkeypatch.setenv("API_TOKEN", TOKEN)
    elsewhere = api.url("/link?page=2").replace("http://", "https://")
    api.faults.append(Fault("/link", body=b'[{"id": 1}]', headers={"Link": f'<{elsewhere}>; rel="next"'}))
    result, _ = run(
        f"url: {api.url('/link')}\npagination: {{type: link}}\nauth: {{type: bearer, token_env: API_TOKEN}}"
    )
    assert result.status == "failed"
    assert result.error == (
        f"source 'src': the next link of {api.url('/link')} switches from http to https; credentials are only "
        "sent over http"
    )
    assert len(api.requests) == 1


# -- configuration -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("url: ftp://x", "'sources.src.url' is 'ftp://x': give an absolute http(s) URL"),
        (
            "url: http://x\npagination: {type: pages}",
            "'sources.src.pagination' must be a mapping with type one of cursor",
        ),
        (
            "url: http://x\npagination: {type: cursor, cursor_path: next}",
            "'sources.src.pagination.cursor_param' is required",
        ),
        ("url: http://x\npagination: {type: offset}", "'sources.src.pagination.page_size' is required for offset"),
        (
            "url: http://x\nauth: {type: bearer, token: abc}",
            "'sources.src.auth.token' is not an option of bearer auth: use token_env (secrets are read from "
            "environment variables",
        ),
        (
            "url: http://x\nheaders: {Authorization: Bearer abc}",
            "'sources.src.headers.Authorization' looks like a secret",
        ),
        ("url: http://x\nincremental: {cursor_field: updated_at}", "'sources.src.incremental.param' is required"),
        (
            "url: http://x\nretries: {max_attempts: 0}",
            "'sources.src.retries.max_attempts' is 0: give a positive number",
        ),
        ("url: http://x\nrate_limit: {requests_per_second: -1}", "'sources.src.rate_limit.requests_per_second' is -1"),
        ("url: http://x\nrole: documents", "'sources.src.role' is documents but text_field is not set"),
        ("url: http://x\nstream: Bad-Name", "'sources.src.stream' is 'Bad-Name'"),
        (
            "url: http://x\nincremental: {cursor_field: u, param: since, start: 2024-01-01}",
            "'sources.src.incremental.start' is datetime.date(2024, 1, 1): quote it",
        ),
    ],
)
def test_config_errors_name_the_key_and_the_fix(write_config, options, message):
    path = write_config(f"sources:\n  src:\n    kind: http\n{_indent(options)}")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_text_field_makes_a_documents_stream(write_config, api):
    config = load_config(
        write_config(f"sources:\n  src: {{kind: http, url: '{api.url('/list')}', primary_key: id, text_field: body}}")
    )
    from ingestion.sources import build_source

    (spec,) = build_source(config.sources["src"], config).planned_streams()
    assert (spec.name, spec.role, spec.primary_key, spec.text_field, spec.full_refresh) == (
        "records",
        "documents",
        "id",
        "body",
        False,
    )


# -- helpers -------------------------------------------------------------------------------------------
def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(formatdate(1_000_030, usegmt=True), now=1_000_000) == 30.0
    assert retry_after_seconds(formatdate(999_000, usegmt=True), now=1_000_000) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_is_full_jitter_below_the_exponential_cap():
    import random

    rng = random.Random(1)
    draws = [backoff_seconds(attempt, 1.0, 5.0, rng) for attempt in (1, 2, 3, 4, 5) for _ in range(200)]
    caps = [1.0, 2.0, 4.0, 5.0, 5.0]
    for index, cap in enumerate(caps):
        chunk = draws[index * 200 : (index + 1) * 200]
        assert min(chunk) >= 0 and max(chunk) <= cap
        assert max(chunk) > cap * 0.8  # spread over the whole range, not a fixed delay


def test_dig_and_public_url():
    assert dig({"a": {"b": [{"c": 1}]}}, "a.b.0.c") == 1
    assert dig({"a": 1}, "a.b") is None
    assert dig([1], None) == [1]
    assert (
        public_url("https://user:pw@api.example.com:8443/v1/x?api_key=s3cret#f") == "https://api.example.com:8443/v1/x"
    )
