"""Built-in sources: files, documents (HTML main text), Label Studio; incremental by file."""

import os
from pathlib import Path

import orjson
import pytest

from ingestion.protocol import Quarantined, Record, State
from ingestion.sources import SavedState, build_source
from ingestion.sources.documents import extract_html
from refinery.config import load_config

pytestmark = pytest.mark.unit


def messages(source, state=None):
    return list(source.read(SavedState(streams=state or {})))


def last_state(items):
    return [m for m in items if isinstance(m, State)][-1].stream_states


def test_files_jsonl_csv_parquet_and_bad_lines(tmp_path, write_config):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(b'{"id": 1}\n\n{"id": 2\n"str"\n{"id": 3}\n\xff\xfe\n')
    (tmp_path / "in" / "b.csv").write_text("id,text\n4,four\n5,five,extra\n")
    pq.write_table(pa.table({"id": [6, 7], "text": ["six", "seven"]}), tmp_path / "in" / "c.parquet")
    config = load_config(write_config("sources: {t: {kind: files, path: 'in/*', primary_key: id}}"))
    items = messages(build_source(config.sources["t"], config))
    records = [m.data for m in items if isinstance(m, Record)]
    jsonl_records = [m for m in items if isinstance(m, Record) and m.data_bytes is not None]
    assert [(m.data_bytes, m.checked) for m in jsonl_records] == [
        (b'{"id":1}', ("id", None)),
        (b'{"id":3}', ("id", None)),
    ]
    assert records == [
        {"id": 1},
        {"id": 3},
        {"id": "4", "text": "four"},
        {"id": 6, "text": "six"},
        {"id": 7, "text": "seven"},
    ]
    reasons = [m.reason for m in items if isinstance(m, Quarantined)]
    assert reasons[0].startswith("a.jsonl line 3: invalid JSON")
    assert reasons[1] == "a.jsonl line 4: expected a JSON object, got str"
    assert reasons[2] == "a.jsonl line 6: invalid UTF-8 at offset 0"
    assert reasons[3] == "b.csv line 3: 3 fields, the header has 2"
    assert sorted(last_state(items)["records"]["files"]) == ["a.jsonl", "b.csv", "c.parquet"]


def test_files_are_read_again_only_when_changed(tmp_path, write_config):
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n')
    (tmp_path / "b.jsonl").write_text('{"id": 2}\n')
    config = load_config(write_config("sources: {t: {kind: files, path: '*.jsonl'}}"))
    source = build_source(config.sources["t"], config)
    state = last_state(messages(source))
    assert [m for m in messages(source, state) if isinstance(m, Record)] == []
    (tmp_path / "b.jsonl").write_text('{"id": 2}\n{"id": 3}\n')
    os.utime(tmp_path / "b.jsonl", ns=(1, 1))
    assert [m.data for m in messages(source, state) if isinstance(m, Record)] == [{"id": 2}, {"id": 3}]


def test_html_main_text_drops_scripts_navigation_and_footers():
    title, text = extract_html("""<html><head><title>The  Page</title><style>p{}</style></head><body>
        <div class="related" role="navigation"><a>index</a></div>
        <header>Site header</header><nav>Home | Docs</nav>
        <div class="body"><h1>Heading</h1><p>First &amp; <b>bold</b> para.</p><p>Second<br>line</p></div>
        <script>track();</script><div class="footer">© 2024</div></body></html>""")
    assert title == "The Page"
    assert text == "Heading\nFirst & bold para.\nSecond\nline"


def test_documents_records_carry_metadata_and_bad_files_are_quarantined(tmp_path, write_config):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "guide.md").write_text("# Guide\n\nSome text.\n")
    (docs / "sub" / "page.html").write_text("<title>Page</title><p>Hello</p>")
    (docs / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (docs / "scan.pdf").write_bytes(b"%PDF-1.4")
    (docs / ".hidden").write_text("ignored")
    config = load_config(write_config("sources: {d: {kind: documents, path: docs}}"))
    items = messages(build_source(config.sources["d"], config))
    records = {m.data["path"]: m.data for m in items if isinstance(m, Record)}
    assert sorted(records) == ["guide.md", "sub/page.html"]
    guide = records["guide.md"]
    assert (guide["title"], guide["mime_type"], guide["bytes"], guide["text"]) == (
        "Guide",
        "text/markdown",
        20,
        "# Guide\n\nSome text.\n",
    )
    assert len(guide["sha256"]) == 64 and guide["modified_at"].endswith("+00:00")
    assert (records["sub/page.html"]["title"], records["sub/page.html"]["text"]) == ("Page", "Hello")
    quarantined = {m.reason.split(":")[0]: m.raw for m in items if isinstance(m, Quarantined)}
    assert quarantined == {"latin1.txt": "caf\xe9".encode("latin-1"), "scan.pdf": b"%PDF-1.4"}


def test_label_studio_export_lands_one_record_per_task(tmp_path, write_config):
    tasks = [
        {"id": 1, "data": {"text": "a"}, "annotations": []},
        {"data": {}},
        {"id": 2, "data": {"text": "b"}},
    ]
    (tmp_path / "export.json").write_bytes(orjson.dumps(tasks))
    (tmp_path / "broken.json").write_text('{"not": "an array"}')
    config = load_config(write_config("sources: {l: {kind: label_studio, path: '*.json'}}"))
    items = messages(build_source(config.sources["l"], config))
    assert [m.data["id"] for m in items if isinstance(m, Record)] == [1, 2]
    reasons = sorted(m.reason for m in items if isinstance(m, Quarantined))
    assert reasons[0].startswith("broken.json: expected a JSON array of tasks")
    assert reasons[1] == "export.json task #1: not an object with an 'id'"


def test_source_streams_follow_the_raw_layer_contract(tmp_path, write_config):
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "docs").mkdir()
    config = load_config(
        write_config("""
        sources:
          t: {kind: files, path: a.jsonl, primary_key: id, text_field: body, group_field: customer}
          r: {kind: files, path: a.jsonl}
          d: {kind: documents, path: docs}
          l: {kind: label_studio, path: a.jsonl}
    """)
    )
    specs = {name: build_source(src, config).streams()[0] for name, src in config.sources.items()}
    assert (
        specs["t"].name,
        specs["t"].role,
        specs["t"].primary_key,
        specs["t"].text_field,
        specs["t"].group_field,
    ) == ("records", "documents", "id", "body", "customer")
    assert (specs["r"].role, specs["r"].text_field) == ("records", None)
    assert (specs["d"].name, specs["d"].role, specs["d"].primary_key, specs["d"].text_field) == (
        "documents",
        "documents",
        "path",
        "text",
    )
    assert (specs["l"].name, specs["l"].role, specs["l"].primary_key, specs["l"].text_field) == (
        "tasks",
        "annotations",
        "id",
        "text",
    )


def deny(monkeypatch, method: str, name: str) -> None:
    """Make `Path.<method>` raise PermissionError for files called `name` (chmod 000 does not stop root)."""
    original = getattr(Path, method)

    def guarded(self, *args, **kwargs):
        if self.name == name:
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, method, guarded)


@pytest.mark.parametrize("method", ["open", "read_bytes"])
def test_unreadable_file_is_quarantined_not_checkpointed_and_retried(tmp_path, write_config, monkeypatch, method):
    (tmp_path / "a.jsonl").write_text('{"id": 1}\n')
    (tmp_path / "b.csv").write_text("id\n2\n")
    (tmp_path / "c.jsonl").write_text('{"id": 3}\n')
    config = load_config(write_config("sources: {t: {kind: files, path: '*.[jc]s*'}}"))
    source = build_source(config.sources["t"], config)
    unreadable = "a.jsonl" if method == "open" else "b.csv"
    with monkeypatch.context() as patch:
        deny(patch, method, unreadable)
        items = messages(source)
    landed = [m.data for m in items if isinstance(m, Record)]
    assert landed == ([{"id": "2"}, {"id": 3}] if unreadable == "a.jsonl" else [{"id": 1}, {"id": 3}])
    quarantined = [(m.reason, m.raw, m.stream) for m in items if isinstance(m, Quarantined)]
    path = tmp_path / unreadable
    assert quarantined == [(f"{unreadable}: unreadable: [Errno 13] Permission denied: '{path}'", b"", "records")]
    state = last_state(items)
    assert sorted(state["records"]["files"]) == sorted({"a.jsonl", "b.csv", "c.jsonl"} - {unreadable})
    # permissions fixed: the next run reads only the file it could not read before
    retried = messages(source, state)
    assert [m.data for m in retried if isinstance(m, Record)] == [{"id": 1} if unreadable == "a.jsonl" else {"id": "2"}]
    assert sorted(last_state(retried)["records"]["files"]) == ["a.jsonl", "b.csv", "c.jsonl"]


def test_unreadable_document_is_quarantined_and_retried(tmp_path, write_config, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n")
    (docs / "b.txt").write_text("bee\n")
    config = load_config(write_config("sources: {d: {kind: documents, path: docs}}"))
    source = build_source(config.sources["d"], config)
    with monkeypatch.context() as patch:
        deny(patch, "read_bytes", "a.md")
        items = messages(source)
    assert [m.data["path"] for m in items if isinstance(m, Record)] == ["b.txt"]
    assert [(m.reason, m.raw) for m in items if isinstance(m, Quarantined)] == [
        (f"a.md: unreadable: [Errno 13] Permission denied: '{docs / 'a.md'}'", b"")
    ]
    state = last_state(items)
    assert list(state["documents"]["files"]) == ["b.txt"]
    retried = messages(source, state)
    assert [m.data["text"] for m in retried if isinstance(m, Record)] == ["# A\n"]
    assert sorted(last_state(retried)["documents"]["files"]) == ["a.md", "b.txt"]


def test_unreadable_label_studio_export_is_quarantined_and_retried(tmp_path, write_config, monkeypatch):
    (tmp_path / "one.json").write_bytes(orjson.dumps([{"id": 1}]))
    (tmp_path / "two.json").write_bytes(orjson.dumps([{"id": 2}]))
    config = load_config(write_config("sources: {l: {kind: label_studio, path: '*.json'}}"))
    source = build_source(config.sources["l"], config)
    with monkeypatch.context() as patch:
        deny(patch, "read_bytes", "one.json")
        items = messages(source)
    assert [m.data["id"] for m in items if isinstance(m, Record)] == [2]
    assert [m.reason for m in items if isinstance(m, Quarantined)] == [
        f"one.json: unreadable: [Errno 13] Permission denied: '{tmp_path / 'one.json'}'"
    ]
    state = last_state(items)
    assert list(state["tasks"]["files"]) == ["two.json"]
    retried = messages(source, state)
    assert [m.data["id"] for m in retried if isinstance(m, Record)] == [1]


@pytest.mark.parametrize(
    "html",
    [
        '<body class="has-sidebar"><main><p>Important article text here.</p></main></body>',
        '<article class="post toc-enabled"><p>Important article text here.</p></article>',
        '<html class="nav-open"><body id="header-page"><p>Important article text here.</p></body></html>',
        '<main class="sidebar"><article role="navigation"><p>Important article text here.</p></article></main>',
        '<div class="navbar-expand content-header"><p>Important article text here.</p></div>',
    ],
)
def test_html_main_text_keeps_content_whose_class_only_mentions_boilerplate(html):
    assert extract_html(html) == (None, "Important article text here.")


def test_html_boilerplate_is_matched_by_exact_class_id_and_role():
    _, text = extract_html("""<body>
        <div class="Sidebar left">sidebar</div><div id="site-footer">site footer</div>
        <ul class="breadcrumb">crumbs</ul><div class="cookie-banner x">cookies</div><a class="skip-link">skip</a>
        <div role="banner">banner</div><div role="contentinfo">info</div><div role="complementary">aside</div>
        <div role="search">search</div><section class="toc">contents</section>
        <p>Kept text.</p></body>""")
    assert text == "Kept text."


def test_files_and_label_studio_read_from_a_folder_with_glob_metacharacters(tmp_path):
    folder = tmp_path / "o'neil [x]"
    (folder / "data" / "sub").mkdir(parents=True)
    (folder / "data" / "a.jsonl").write_text('{"id": 1}\n')
    (folder / "data" / "sub" / "b.jsonl").write_text('{"id": 2}\n')
    (folder / "tasks.json").write_bytes(orjson.dumps([{"id": 7}]))
    path = folder / "refinery.yml"
    path.write_text("sources: {t: {kind: files, path: 'data/**/*.jsonl'}, l: {kind: label_studio, path: tasks.json}}")
    config = load_config(path)
    items = messages(build_source(config.sources["t"], config))
    assert [m.data for m in items if isinstance(m, Record)] == [{"id": 1}, {"id": 2}]
    assert sorted(last_state(items)["records"]["files"]) == ["a.jsonl", "sub/b.jsonl"]
    items = messages(build_source(config.sources["l"], config))
    assert [m.data for m in items if isinstance(m, Record)] == [{"id": 7}]
    assert list(last_state(items)["tasks"]["files"]) == ["tasks.json"]
