"""`dbt build` of dbt_project/ against a raw layer written by hand, checked row by row.

The raw layer is created with plain SQL following docs/raw-layer.md (the contract between
ingestion and dbt), so these tests do not depend on the ingestion code. One build is
shared by the module; two small extra builds check failure and empty-catalog behaviour.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO_ROOT / "dbt_project"
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"
SPLIT_SALT = "refinery-split-v1"  # dbt_project.yml var split_salt

INTRO_HTML = (
    "<html><head><style>p { color: red; }</style></head><body>"
    "<p>Refinery turns raw &amp; messy sources into training data.</p>\n"
    "<script>var x = '<p>';</script><!-- a comment --><p>It cleans,&nbsp;dedups and labels.</p>"
    "</body></html>"
)
# Block tags (<p>) become line breaks and the blank lines between them one paragraph break.
INTRO_TEXT = "Refinery turns raw & messy sources into training data.\n\nIt cleans, dedups and labels."
DAMAGED_TEXT = "My order #1234 arrived damaged and I would like a replacement please."
INVOICE_TEXT = "The invoice for March was charged twice to my credit card, please refund one."
CAFE_TEXT_NFC = "Caf\u00e9 au lait was cold when it arrived and the cup was only half full."
CAFE_TEXT_NFD = "Cafe\u0301 au lait was cold when it arrived and the cup was only half full."
ADDRESS_TEXT = "Please update the shipping address on my account to the new office downtown."
ODD_TEXT = "A note whose fields have dots, quotes and dollar signs in their names, still read."
ORPHAN_ITEM_TEXT = "An item that no document contains, labeled anyway for the test."

RAW_COLUMNS = """
    _airbyte_raw_id varchar,
    _airbyte_extracted_at timestamp with time zone,
    _airbyte_loaded_at timestamp with time zone,
    _airbyte_meta json,
    _airbyte_generation_id bigint,
    _airbyte_data json
"""


# --------------------------------------------------------------------------- raw layer


def _create_bookkeeping(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(
        """
        create table raw._refinery_streams (
            source_name varchar, stream_name varchar, table_name varchar, kind varchar,
            role varchar, primary_key varchar, cursor_field varchar, text_field varchar,
            group_field varchar, updated_at timestamp with time zone,
            primary key (source_name, stream_name)
        )
        """
    )
    con.execute(
        """
        create table raw._refinery_state (
            source_name varchar, stream_name varchar, state_type varchar, state json,
            sync_id varchar, updated_at timestamp with time zone
        )
        """
    )
    con.execute(
        """
        create table raw._refinery_sync_log (
            sync_id varchar, source_name varchar, stream_name varchar,
            started_at timestamp with time zone, ended_at timestamp with time zone,
            records_read bigint, records_landed bigint, records_quarantined bigint,
            bytes_read bigint, status varchar, error varchar
        )
        """
    )
    con.execute(
        """
        create table raw._refinery_quarantine (
            quarantine_id varchar, sync_id varchar, source_name varchar, stream_name varchar,
            reason varchar, raw_bytes blob, quarantined_at timestamp with time zone
        )
        """
    )


def _register_stream(
    con: duckdb.DuckDBPyConnection,
    source: str,
    stream: str,
    kind: str,
    role: str,
    primary_key: str | None,
    cursor_field: str | None = None,
    text_field: str | None = None,
    group_field: str | None = None,
) -> str:
    table = f"{source}__{stream}"
    con.execute(f'create table raw."{table}" ({RAW_COLUMNS})')
    con.execute(
        "insert into raw._refinery_streams values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::timestamptz)",
        [source, stream, table, kind, role, primary_key, cursor_field, text_field, group_field, "2024-03-05T00:00:00Z"],
    )
    return table


def _land(con: duckdb.DuckDBPyConnection, table: str, extracted_at: str, data: dict) -> None:
    con.execute(
        f"""
        insert into raw."{table}" values (
            ?, ?::timestamptz, ?::timestamptz + interval 1 second, ?::json, 0, ?::json
        )
        """,
        [
            str(uuid.uuid4()),
            extracted_at,
            extracted_at,
            json.dumps({"sync_id": "s-" + table, "changes": []}),
            json.dumps(data),
        ],
    )


def _sync_log(
    con: duckdb.DuckDBPyConnection,
    sync_id: str,
    source: str,
    stream: str,
    landed: int,
    quarantined: int = 0,
    status: str = "succeeded",
) -> None:
    con.execute(
        """
        insert into raw._refinery_sync_log values (
            ?, ?, ?, '2024-03-05T00:00:00Z', '2024-03-05T00:01:00Z', ?, ?, ?, 1000, ?, null
        )
        """,
        [sync_id, source, stream, landed + quarantined, landed, quarantined, status],
    )


def _annotation(
    annotation_id: int,
    completed_by: object,
    choices: dict[str, str],
    updated_at: str = "2024-03-01T10:00:00.000000Z",
    cancelled: bool = False,
) -> dict:
    return {
        "id": annotation_id,
        "completed_by": completed_by,
        "result": [
            {
                "id": f"r{annotation_id}{name}",
                "from_name": name,
                "to_name": "text",
                "type": "choices",
                "origin": "manual",
                "value": {"choices": [label]},
            }
            for name, label in choices.items()
        ],
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": "2024-03-01T09:00:00.000000Z",
        "updated_at": updated_at,
        "lead_time": 12.5,
        "task": 0,
        "project": 1,
    }


def _task(task_id: int, text: str, annotations: list[dict]) -> dict:
    return {
        "id": task_id,
        "data": {"text": text},
        "annotations": annotations,
        "predictions": [],
        "meta": {},
        "created_at": "2024-02-28T00:00:00.000000Z",
        "updated_at": "2024-03-01T00:00:00.000000Z",
        "project": 1,
    }


def write_raw_layer(database: Path, *, bad_sync_status: bool = False) -> None:
    """Write the raw layer of docs/raw-layer.md with the cases the assertions below rely on."""
    con = duckdb.connect(str(database))
    try:
        _create_bookkeeping(con)

        # documents source: a superseded version, markup, too short, empty, missing text.
        handbook = _register_stream(con, "handbook", "documents", "documents", "documents", "path", text_field="text")
        old_intro = "<p>Old intro text that is long enough to pass the length rule of fifty chars.</p>"
        _land(
            con,
            handbook,
            "2024-01-01T00:00:00Z",
            {"path": "guide/intro.md", "title": "Intro", "mime_type": "text/html", "text": old_intro},
        )
        _land(
            con,
            handbook,
            "2024-02-01T00:00:00Z",
            {"path": "guide/intro.md", "title": "Intro", "mime_type": "text/html", "text": INTRO_HTML},
        )
        _land(con, handbook, "2024-01-01T00:00:00Z", {"path": "notes/short.md", "text": "Too short."})
        _land(con, handbook, "2024-01-01T00:00:00Z", {"path": "empty.md", "text": "  <p> &nbsp; </p> "})
        _land(
            con,
            handbook,
            "2023-12-31T00:00:00Z",
            {"path": "faq/damaged.md", "title": "Damaged", "text": f"<b>{DAMAGED_TEXT[:14]}</b>{DAMAGED_TEXT[14:]}"},
        )
        _land(con, handbook, "2024-01-01T00:00:00Z", {"path": "no-text.bin", "title": "Binary"})

        # files source with a text field: exact duplicates after normalization, a cursor that
        # disagrees with extraction order, a record without group value.
        tickets = _register_stream(
            con,
            "tickets",
            "records",
            "files",
            "documents",
            "ticket_id",
            cursor_field="updated_at",
            text_field="body",
            group_field="customer_id",
        )
        _land(
            con,
            tickets,
            "2024-01-01T00:00:00Z",
            {"ticket_id": 1, "customer_id": "c1", "updated_at": "2024-01-01T00:00:00Z", "body": DAMAGED_TEXT},
        )
        _land(
            con,
            tickets,
            "2024-01-02T00:00:00Z",
            {
                "ticket_id": 2,
                "customer_id": "c2",
                "updated_at": "2024-01-02T00:00:00Z",
                "body": "  MY ORDER #1234 arrived   damaged and I would\nlike a replacement please.  ",
            },
        )
        _land(
            con,
            tickets,
            "2024-01-03T00:00:00Z",
            {"ticket_id": 3, "customer_id": "c1", "updated_at": "2024-01-06T00:00:00+00:00", "body": INVOICE_TEXT},
        )
        _land(
            con,
            tickets,
            "2024-01-05T00:00:00Z",
            {
                "ticket_id": 3,
                "customer_id": "c1",
                "updated_at": "2024-01-05T00:00:00+00:00",
                "body": "OLD VERSION: invoice charged twice, this text must not be the kept version.",
            },
        )
        _land(
            con,
            tickets,
            "2024-01-04T00:00:00Z",
            {"ticket_id": 4, "customer_id": "c3", "updated_at": "2024-01-04T00:00:00Z", "body": CAFE_TEXT_NFD},
        )
        _land(
            con,
            tickets,
            "2024-01-06T00:00:00Z",
            {"ticket_id": 5, "customer_id": "c4", "updated_at": "2024-01-06T00:00:00Z", "body": CAFE_TEXT_NFC},
        )
        _land(
            con,
            tickets,
            "2024-01-07T00:00:00Z",
            {"ticket_id": 6, "updated_at": "2024-01-07T00:00:00Z", "body": "\ufeff" + ADDRESS_TEXT + "\u200b"},
        )

        # Field names that need quoting inside a JSON path and a SQL literal.
        odd = _register_stream(
            con,
            "odd_names",
            "records",
            "files",
            "documents",
            "note.id",
            text_field='it\'s "text"',
            group_field="$group",
        )
        _land(
            con,
            odd,
            "2024-01-08T00:00:00Z",
            {"note.id": "n-1", "$group": "g-1", 'it\'s "text"': ODD_TEXT, "text": "not this field"},
        )

        # Label Studio export: majority, tie, skip, completed_by as int and as object,
        # a changed vote, an item no document has, a task landed twice.
        topics = _register_stream(con, "topics", "tasks", "label_studio", "annotations", "id", text_field="text")
        user2 = {"id": 2, "email": "b@example.com", "first_name": "", "last_name": ""}
        intro_item = "Refinery turns raw &amp; messy sources into training data. It cleans, dedups and labels."
        _land(con, topics, "2024-03-01T00:00:00Z", _task(1, intro_item, [_annotation(101, 1, {"topic": "support"})]))
        _land(
            con,
            topics,
            "2024-03-02T00:00:00Z",
            _task(
                1,
                intro_item,
                [
                    _annotation(101, 1, {"topic": "docs", "sentiment": "neutral"}),
                    _annotation(102, user2, {"topic": "docs"}),
                    _annotation(103, 3, {"topic": "support"}),
                ],
            ),
        )
        _land(
            con,
            topics,
            "2024-03-02T00:00:00Z",
            _task(
                2,
                INVOICE_TEXT,
                [
                    _annotation(201, 1, {"topic": "billing"}),
                    _annotation(202, user2, {"topic": "shipping"}),
                ],
            ),
        )
        _land(
            con,
            topics,
            "2024-03-02T00:00:00Z",
            _task(
                3,
                ORPHAN_ITEM_TEXT,
                [
                    _annotation(301, 1, {"topic": "other"}),
                ],
            ),
        )
        _land(
            con,
            topics,
            "2024-03-02T00:00:00Z",
            _task(
                4,
                DAMAGED_TEXT,
                [
                    _annotation(401, 1, {}, cancelled=True),
                    _annotation(402, user2, {"topic": "billing"}, updated_at="2024-03-01T10:00:00Z"),
                    _annotation(403, user2, {"topic": "shipping"}, updated_at="2024-03-05T10:00:00Z"),
                ],
            ),
        )

        # airbyte-source-faker shop: two versions of user 1.
        for stream in ("users", "products", "purchases"):
            _register_stream(con, "shop", stream, "airbyte", "records", "id", cursor_field="updated_at")
        _land(
            con,
            "shop__users",
            "2024-01-01T00:00:00Z",
            {
                "id": 1,
                "name": "Old Name",
                "email": "a@example.com",
                "age": 40,
                "height": "1.64",
                "created_at": "2001-05-23T04:29:23+00:00",
                "updated_at": "2024-01-01T00:00:00+00:00",
                "address": {"city": "Savage", "country_code": "MX"},
            },
        )
        _land(
            con,
            "shop__users",
            "2024-02-01T00:00:00Z",
            {
                "id": 1,
                "name": "New Name",
                "email": "a@example.com",
                "age": 41,
                "height": "1.64",
                "created_at": "2001-05-23T04:29:23+00:00",
                "updated_at": "2024-02-01T00:00:00+00:00",
                "address": {"city": "Savage", "country_code": "MX"},
            },
        )
        _land(
            con,
            "shop__users",
            "2024-01-01T00:00:00Z",
            {
                "id": 2,
                "name": "Other",
                "created_at": "2001-05-23T04:29:23+00:00",
                "updated_at": "2024-01-01T00:00:00+00:00",
            },
        )
        _land(
            con,
            "shop__products",
            "2024-01-01T00:00:00Z",
            {
                "id": 1,
                "make": "Mazda",
                "model": "MX-5",
                "year": 2023,
                "price": 15001,
                "created_at": "2024-04-08T18:07:20+00:00",
                "updated_at": "2024-04-08T18:07:20+00:00",
            },
        )
        _land(
            con,
            "shop__purchases",
            "2024-01-01T00:00:00Z",
            {
                "id": 1,
                "product_id": 1,
                "user_id": 1,
                "created_at": "2008-09-13T12:39:02.833704",
                "updated_at": "2024-01-01T00:00:00+00:00",
                "purchased_at": "2022-07-09T12:39:02+00:00",
            },
        )

        _sync_log(con, "sync-1", "handbook", "documents", landed=5)
        _sync_log(con, "sync-2", "handbook", "documents", landed=1)
        _sync_log(con, "sync-3", "tickets", "records", landed=7, quarantined=1)
        _sync_log(con, "sync-3", "tickets", "_unknown", landed=0, quarantined=1)
        _sync_log(con, "sync-4", "topics", "tasks", landed=5)
        _sync_log(con, "sync-6", "odd_names", "records", landed=1)
        _sync_log(con, "sync-5", "shop", "users", landed=3)
        _sync_log(con, "sync-5", "shop", "products", landed=1)
        _sync_log(con, "sync-5", "shop", "purchases", landed=1, status="exploded" if bad_sync_status else "succeeded")
        for quarantine_id, stream, reason in (("q-1", "records", "invalid_json"), ("q-2", "_unknown", "not_a_message")):
            con.execute(
                "insert into raw._refinery_quarantine values (?, 'sync-3', 'tickets', ?, ?, ?, '2024-03-05T00:00:30Z')",
                [quarantine_id, stream, reason, b"{not json"],
            )
    finally:
        con.close()


# --------------------------------------------------------------------------- running dbt


@dataclass
class DbtRun:
    home: Path
    returncode: int
    output: str

    @property
    def database(self) -> Path:
        return self.home / "warehouse" / "refinery.duckdb"

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.database), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


def run_dbt(home: Path, *args: str) -> DbtRun:
    env = {
        **os.environ,
        "REFINERY_HOME": str(home),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    command = [
        str(DBT_EXECUTABLE),
        *args,
        "--target",
        "ci",
        "--profiles-dir",
        str(DBT_PROJECT),
        "--project-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(home / "dbt_target"),
        "--log-path",
        str(home / "dbt_logs"),
    ]
    completed = subprocess.run(
        command, cwd=DBT_PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return DbtRun(home, completed.returncode, completed.stdout + completed.stderr)


def make_home(root: Path, **raw_options: bool) -> Path:
    (root / "warehouse").mkdir(parents=True)
    write_raw_layer(root / "warehouse" / "refinery.duckdb", **raw_options)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtRun]:
    home = make_home(tmp_path_factory.mktemp("refinery_home"))
    # The fixture quarantines 2 of tickets' 9 records (22%) on purpose; the gate is tested below.
    # Its texts are one-sentence notes that web-corpus quality rules would drop: no rule drops
    # here (they are still computed and counted), so length and dedup rules are seen alone;
    # tests/integration/test_cleaning.py covers the quality rules. The topic task covers every
    # source here (weak_supervision_sources: {}), so labeling functions also see the handbook.
    run = run_dbt(
        home,
        "build",
        "--vars",
        "{max_quarantined_fraction: 0.25, quality_drop_rules: [], quality_drop_rules_by_source: {}, "
        "weak_supervision_sources: {}}",
    )
    assert run.returncode == 0, run.output[-6000:]
    yield run
    shutil.rmtree(home, ignore_errors=True)


# --------------------------------------------------------------------------- helpers


def document_id(source: str, stream: str, key: str) -> str:
    return hashlib.md5(f"{source}:{stream}:{key}".encode()).hexdigest()


def expected_split(group_key: str) -> str:
    """Independent re-implementation of macros hash_bucket / assign_split (default vars)."""
    bucket = int(hashlib.md5(f"{SPLIT_SALT}:{group_key}".encode()).hexdigest()[:15], 16) % 10000
    if bucket < 8000:
        return "train"
    return "validation" if bucket < 9000 else "test"


def content_hash(text: str) -> str:
    """Macro text_hash: md5 of the lowercased text with every whitespace run read as one space."""
    return hashlib.md5(" ".join(text.split()).lower().encode()).hexdigest()


H_INTRO = document_id("handbook", "documents", "guide/intro.md")
H_SHORT = document_id("handbook", "documents", "notes/short.md")
H_EMPTY = document_id("handbook", "documents", "empty.md")
H_DAMAGED = document_id("handbook", "documents", "faq/damaged.md")
H_NO_TEXT = document_id("handbook", "documents", "no-text.bin")
T = {n: document_id("tickets", "records", str(n)) for n in range(1, 7)}
ODD = document_id("odd_names", "records", "n-1")


# --------------------------------------------------------------------------- tests


def test_build_output_mentions_unit_tests_and_no_failures(built: DbtRun) -> None:
    assert "test_dedup_screens_come_before_duplicates" in built.output
    assert "test_cluster_representative_choice" in built.output
    for consensus_test in (
        "test_majority_vote_adjudicate_and_gold_override",
        "test_majority_vote_prefer_gold",
        "test_majority_vote_prefer_quality",
        "test_leave_one_out_comparison",
        "test_annotator_quality_hand_computed",
    ):
        assert consensus_test in built.output
    assert "snapshotted snapshots.item_labels_history" in built.output
    assert "ERROR=0" in built.output.replace(" ", "")
    assert "WARN=0" in built.output.replace(" ", "")
    # Custom schemas land exactly as named, not as main_staging.
    schemas = {row[0] for row in built.rows("select schema_name from information_schema.schemata")}
    assert {"raw", "staging", "intermediate", "marts"} <= schemas


def test_staging_documents_keep_latest_version(built: DbtRun) -> None:
    rows = {
        row[0]: row[1:]
        for row in built.rows(
            "select document_id, source_key, group_key, raw_text, title, versions_count, "
            "first_extracted_at::varchar from staging.stg_refinery__documents"
        )
    }
    assert len(rows) == 12
    # Newest extraction wins when the stream has no cursor.
    assert rows[H_INTRO][0:2] == ("guide/intro.md", "guide/intro.md")
    assert rows[H_INTRO][2] == INTRO_HTML
    assert rows[H_INTRO][3] == "Intro"
    assert rows[H_INTRO][4] == 2
    assert rows[H_INTRO][5].startswith("2024-01-01 00:00:00")
    # The cursor wins over extraction order: ticket 3's version extracted later is older.
    assert rows[T[3]][2] == INVOICE_TEXT
    assert rows[T[3]][4] == 2
    # group_key: the group field, else the source key.
    assert rows[T[3]][1] == "c1"
    assert rows[T[6]][1] == "6"
    assert rows[H_NO_TEXT][2] is None
    # Quoted field names: primary key `note.id`, group `$group`, text `it's "text"`.
    assert rows[ODD][0:3] == ("n-1", "g-1", ODD_TEXT)


def test_drop_reasons_and_dedup_winner(built: DbtRun) -> None:
    rows = {
        row[0]: row[1:]
        for row in built.rows(
            "select document_id, drop_reason, canonical_document_id, normalized_text "
            "from intermediate.int_documents_deduplicated"
        )
    }
    assert rows[H_INTRO] == (None, H_INTRO, INTRO_TEXT)
    assert rows[H_SHORT][0:2] == ("too_short", None)
    assert rows[H_EMPTY][0:2] == ("empty_text", None)
    assert rows[H_NO_TEXT][0:2] == ("empty_text", None)
    # The handbook copy was extracted first, so it wins over both tickets (case and
    # whitespace variants of the same text).
    assert rows[H_DAMAGED] == (None, H_DAMAGED, DAMAGED_TEXT)
    assert rows[T[1]][0:2] == ("exact_duplicate", H_DAMAGED)
    assert rows[T[2]][0:2] == ("exact_duplicate", H_DAMAGED)
    # NFC: decomposed and precomposed accents are the same text; the earlier ticket wins.
    assert rows[T[4]] == (None, T[4], CAFE_TEXT_NFC)
    assert rows[T[5]][0:2] == ("exact_duplicate", T[4])
    assert {doc for doc, row in rows.items() if row[0] is None} == {H_INTRO, H_DAMAGED, T[3], T[4], T[6], ODD}


def test_training_examples_rows(built: DbtRun) -> None:
    rows = {
        row[0]: row[1:]
        for row in built.rows(
            "select example_id, document_id, source_name, source_key, text, label, label_source, "
            "label_status, split, round(label_confidence, 6) from marts.training_examples"
        )
    }
    assert set(rows) == {H_INTRO, H_DAMAGED, T[3], T[4], T[6], ODD}
    assert rows[H_INTRO][:7] == (H_INTRO, "handbook", "guide/intro.md", INTRO_TEXT, "docs", "majority_vote", "labeled")
    assert rows[H_INTRO][8] == round(2 / 3, 6)
    # The skip does not count; annotator 2 changed their mind, their latest vote counts.
    assert rows[H_DAMAGED][4:7] == ("shipping", "majority_vote", "labeled")
    # Humans tied on the invoice: lf_topic__billing_terms votes billing, but a tie is never filled.
    assert rows[T[3]][4:7] == (None, None, "tie")
    assert rows[T[3]][8] is None
    # No human vote on the café note: the weak label, from shipping_terms alone, whose accuracy is
    # (1 right of 1 against the human labels + 2 pseudo-votes at 0.7) / 3 = 0.8 = its confidence.
    assert rows[T[4]][4:7] == ("shipping", "weak_supervision", "labeled")
    assert rows[T[4]][8] == 0.8
    assert rows[ODD][4:7] == (None, None, "unlabeled")
    assert rows[T[6]][2] == "6"
    # shipping_terms (weight ln(0.8 * 3 / 0.2) = ln 12) outvotes account_terms (measured only
    # against the other functions: 0 of 1, (0 + 1.4) / 3 = 0.4667, weight ln 2.625) on the address.
    assert rows[T[6]][4:7] == ("shipping", "weak_supervision", "labeled")
    assert rows[T[6]][8] == round(12 / (12 + 2.625 + 2), 6)
    # A byte-order mark and a zero-width space are not text.
    assert rows[T[6]][3] == ADDRESS_TEXT


def test_splits_match_independent_computation_and_are_stable(built: DbtRun) -> None:
    group_keys = {
        H_INTRO: "guide/intro.md",
        H_DAMAGED: "faq/damaged.md",
        T[3]: "c1",
        T[4]: "c3",
        T[6]: "6",
        ODD: "g-1",
    }
    splits = dict(built.rows("select example_id, split from marts.training_examples"))
    assert splits == {doc: expected_split(key) for doc, key in group_keys.items()}
    # Every document (kept or not) has a split; documents of one group share it.
    all_splits = dict(built.rows("select document_id, split from intermediate.int_documents_split"))
    assert len(all_splits) == 12
    assert all_splits[T[1]] == all_splits[T[3]] == expected_split("c1")
    # Re-running on the same raw layer gives the same splits and the same training set.
    before = built.rows("select * from marts.training_examples order by example_id")
    rerun = run_dbt(built.home, "run", "--select", "int_documents_split+")
    assert rerun.returncode == 0, rerun.output[-4000:]
    assert built.rows("select * from marts.training_examples order by example_id") == before


def test_label_votes(built: DbtRun) -> None:
    rows = built.rows(
        "select task_id, annotation_id, annotator_id, task_name, label, status, lead_time_seconds, "
        "created_at::varchar from intermediate.int_label_votes order by task_id, annotation_id, "
        "result_index nulls first"
    )
    # Task 1 landed twice: only its latest version (3 annotations, 4 results) is flattened.
    task1 = [row for row in rows if row[0] == "1"]
    assert [row[1:6] for row in task1] == [
        ("101", "1", "topic", "docs", "submitted"),
        ("101", "1", "sentiment", "neutral", "submitted"),
        ("102", "2", "topic", "docs", "submitted"),
        ("103", "3", "topic", "support", "submitted"),
    ]
    assert task1[0][6] == 12.5
    assert task1[0][7].startswith("2024-03-01 09:00:00")
    skip = [row for row in rows if row[1] == "401"]
    assert skip == [("4", "401", "1", None, None, "skipped", 12.5, skip[0][7])]
    assert len(rows) == 4 + 2 + 1 + 3


def test_item_labels(built: DbtRun) -> None:
    rows = {
        (row[0], row[1]): row[2:]
        for row in built.rows(
            "select task_name, item_hash, method, label, round(confidence, 4), votes, is_tie, has_document "
            "from marts.item_labels where method = 'majority_vote'"
        )
    }
    assert rows[("topic", content_hash(INTRO_TEXT))] == ("majority_vote", "docs", 0.6667, 3, False, True)
    assert rows[("sentiment", content_hash(INTRO_TEXT))] == ("majority_vote", "neutral", 1.0, 1, False, True)
    assert rows[("topic", content_hash(INVOICE_TEXT))] == ("majority_vote", None, 0.5, 2, True, True)
    assert rows[("topic", content_hash(ORPHAN_ITEM_TEXT))] == ("majority_vote", "other", 1.0, 1, False, False)
    assert rows[("topic", content_hash(DAMAGED_TEXT))] == ("majority_vote", "shipping", 1.0, 1, False, True)
    assert len(rows) == 5
    # Every item also has a Dawid-Skene row (tests/integration/test_consensus.py checks its numbers);
    # item_key is the item_hash for items with text.
    methods = built.rows(
        "select method, count(*), count(*) filter (where item_key = item_hash) from marts.item_labels group by all"
    )
    assert sorted(methods) == [("dawid_skene", 5, 5), ("majority_vote", 5, 5)]
    annotators = dict(
        built.rows("select item_key, annotators from intermediate.int_item_labels_aggregated where task_name = 'topic'")
    )
    assert annotators[content_hash(DAMAGED_TEXT)] == 2  # the skipper is an annotator, not a vote


def test_label_agreement(built: DbtRun) -> None:
    # topic's counted votes: intro docs, docs, support; invoice billing, shipping; the orphan
    # item and the damaged one have one vote each (the skip and the replaced vote do not count).
    rows = {
        (row[0], row[1]): row[2:]
        for row in built.rows(
            "select task_name, metric, round(value, 4), level, items, annotators, ratings, null_reason "
            "from marts.label_agreement"
        )
    }
    # alpha = 1 − (n − 1)·Σo_ck/Σn_c·n_k (c ≠ k) = 1 − 4·4/18; percent = (1/3 + 0)/2; Fleiss on the
    # items with the modal number of ratings (1 item of 3, 1 of 2: the larger wins): (1/3 − 5/9)/(4/9).
    assert rows[("topic", "krippendorff_alpha")] == (0.1111, "nominal", 2, 3, 5, None)
    assert rows[("topic", "percent_agreement")] == (0.1667, "nominal", 2, 3, 5, None)
    assert rows[("topic", "fleiss_kappa")] == (-0.5, "nominal", 1, 3, 3, None)
    assert rows[("sentiment", "krippendorff_alpha")] == (None, "nominal", 0, 0, 0, "no_item_with_two_ratings")
    assert len(rows) == 6
    pairs = {
        row[0]: row[1:]
        for row in built.rows(
            "select annotator_key_a || ' ' || annotator_key_b, items_both_rated, observed_agreement, "
            "round(cohen_kappa, 4), null_reason from marts.annotator_pair_agreement where task_name = 'topic'"
        )
    }
    assert pairs == {
        "topics:1 topics:2": (2, 0.5, 0.3333, None),
        "topics:1 topics:3": (1, 0.0, None, "overlap_below_two"),
        "topics:2 topics:3": (1, 0.0, None, "overlap_below_two"),
    }


def test_pipeline_funnel_numbers(built: DbtRun) -> None:
    rows = {
        (row[0], row[1], row[2]): row[3]
        for row in built.rows(
            "select source_name, outcome, reason, records from marts.pipeline_funnel "
            "where outcome != 'rule_failed' and (outcome != 'dropped' or reason in ('empty_text', 'too_short'))"
        )
    }
    assert rows == {
        ("handbook", "ingested", "ingested"): 6,
        ("handbook", "quarantined", "quarantined"): 0,
        ("handbook", "superseded", "superseded"): 1,
        ("handbook", "dropped", "empty_text"): 2,
        ("handbook", "dropped", "too_short"): 1,
        ("handbook", "duplicate", "near_duplicate"): 0,
        ("handbook", "duplicate", "exact_duplicate"): 0,
        ("handbook", "kept", "kept"): 2,
        ("tickets", "ingested", "ingested"): 7,
        ("tickets", "quarantined", "quarantined"): 2,
        ("tickets", "superseded", "superseded"): 1,
        ("tickets", "dropped", "empty_text"): 0,
        ("tickets", "dropped", "too_short"): 0,
        ("tickets", "duplicate", "near_duplicate"): 0,
        ("tickets", "duplicate", "exact_duplicate"): 3,
        ("tickets", "kept", "kept"): 3,
        ("odd_names", "ingested", "ingested"): 1,
        ("odd_names", "quarantined", "quarantined"): 0,
        ("odd_names", "superseded", "superseded"): 0,
        ("odd_names", "dropped", "empty_text"): 0,
        ("odd_names", "dropped", "too_short"): 0,
        ("odd_names", "duplicate", "near_duplicate"): 0,
        ("odd_names", "duplicate", "exact_duplicate"): 0,
        ("odd_names", "kept", "kept"): 1,
        ("topics", "ingested", "ingested"): 5,
        ("topics", "quarantined", "quarantined"): 0,
        ("shop", "ingested", "ingested"): 5,
        ("shop", "quarantined", "quarantined"): 0,
    }
    # Every quality rule is listed for every document source, as dropped (0 here: no rule drops)
    # and rule_failed (the documents failing it, counted independently below).
    rules = {
        row[0] for row in built.rows("select distinct reason from marts.pipeline_funnel where outcome = 'rule_failed'")
    }
    assert len(rules) == 20 and "gopher_word_count" in rules and "fineweb_short_lines" in rules
    failed = dict.fromkeys(((s, r) for s in ("handbook", "tickets", "odd_names") for r in rules), 0)
    for source, rule, count in built.rows(
        "select source_name, rule, count(*) from (select source_name, unnest(failed_quality_rules) as rule "
        "from intermediate.int_documents_screened) group by all"
    ):
        failed[(source, rule)] = count
    assert failed[("tickets", "gopher_word_count")] == 6  # every ticket (one-sentence notes) fails it
    funnel_failed = {
        (row[0], row[1]): row[2]
        for row in built.rows(
            "select source_name, reason, records from marts.pipeline_funnel where outcome = 'rule_failed'"
        )
    }
    assert funnel_failed == failed
    dropped_by_rule = built.rows(
        "select sum(records) from marts.pipeline_funnel "
        "where outcome = 'dropped' and reason not in ('empty_text', 'too_short')"
    )
    assert dropped_by_rule == [(0,)]
    (run_ids,) = built.rows("select count(distinct run_id), count(distinct computed_at) from marts.pipeline_funnel")
    assert run_ids == (1, 1)


def test_staging_shop_latest_version_and_types(built: DbtRun) -> None:
    users = built.rows(
        "select user_id, user_name, age, height_m, address_city from staging.stg_shop__users order by user_id"
    )
    assert users == [(1, "New Name", 41, 1.64, "Savage"), (2, "Other", None, None, None)]
    (purchase,) = built.rows(
        "select purchase_id, user_id, product_id, created_at = '2008-09-13 12:39:02.833704+00'::timestamptz, "
        "returned_at from staging.stg_shop__purchases"
    )
    assert purchase == (1, 1, 1, True, None)
    (product,) = built.rows("select product_id, make, model_year, price::varchar from staging.stg_shop__products")
    assert product == (1, "Mazda", 2023, "15001.00")


def test_sync_log_and_quarantine_staging(built: DbtRun) -> None:
    assert built.rows(
        "select source_name, sum(records_landed)::bigint, sum(records_quarantined)::bigint "
        "from staging.stg_refinery__sync_log group by 1 order by 1"
    ) == [("handbook", 6, 0), ("odd_names", 1, 0), ("shop", 5, 0), ("tickets", 7, 2), ("topics", 5, 0)]
    assert built.rows(
        "select quarantine_id, stream_name, reason, raw_bytes_length from staging.stg_refinery__quarantine order by 1"
    ) == [("q-1", "records", "invalid_json", 9), ("q-2", "_unknown", "not_a_message", 9)]


def test_error_severity_failure_fails_the_build(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", bad_sync_status=True)
    run = run_dbt(home, "build", "--select", "stg_refinery__sync_log")
    assert run.returncode != 0
    assert "accepted_values_stg_refinery__sync_log_status" in run.output
    assert "Got 1 result" in run.output


def test_quarantine_rate_above_the_limit_fails_the_build(built: DbtRun) -> None:
    run = run_dbt(built.home, "test", "--select", "assert_quarantine_rate_within_limit")
    assert run.returncode != 0
    assert "Failure in test assert_quarantine_rate_within_limit" in run.output
    assert "Got 1 result" in run.output
    relaxed = run_dbt(
        built.home,
        "test",
        "--select",
        "assert_quarantine_rate_within_limit",
        "--vars",
        "{max_quarantined_fraction: 0.25}",
    )
    assert relaxed.returncode == 0, relaxed.output[-3000:]


def test_missing_stream_catalog_gives_empty_typed_models(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "warehouse").mkdir(parents=True)
    con = duckdb.connect(str(home / "warehouse" / "refinery.duckdb"))
    con.execute("create schema raw")
    con.close()
    run = run_dbt(home, "run", "--select", "stg_refinery__documents", "stg_refinery__annotation_tasks")
    assert run.returncode == 0, run.output[-4000:]
    assert run.rows("select count(*) from staging.stg_refinery__documents") == [(0,)]
    columns = run.rows(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'staging' and table_name = 'stg_refinery__documents' order by ordinal_position"
    )
    assert columns == [
        ("document_id", "VARCHAR"),
        ("source_name", "VARCHAR"),
        ("stream_name", "VARCHAR"),
        ("source_key", "VARCHAR"),
        ("group_key", "VARCHAR"),
        ("raw_text", "VARCHAR"),
        ("title", "VARCHAR"),
        ("extracted_at", "TIMESTAMP WITH TIME ZONE"),
        ("first_extracted_at", "TIMESTAMP WITH TIME ZONE"),
        ("versions_count", "BIGINT"),
    ]


def test_lf_analysis_on_the_fixture(built: DbtRun) -> None:
    rows = {
        row[0]: row[1:]
        for row in built.rows(
            "select lf_name, polarity, n_documents, n_labeled, round(coverage, 6), round(overlap, 6), "
            "round(conflict, 6), n_with_reference, correct, incorrect, empirical_accuracy, accuracy_source "
            "from marts.lf_analysis"
        )
    }
    # Six kept documents are the data points; two carry a human label (intro: docs, damaged: shipping).
    assert set(rows) == {
        "lf_topic__account_terms",
        "lf_topic__billing_terms",
        "lf_topic__currency_amounts",
        "lf_topic__non_english_terms",
        "lf_topic__shipping_terms",
        "lf_topic__technical_terms",
    }
    # shipping_terms: "arrived" (damaged, café) and "shipping" (address); the address also has
    # "account", so it overlaps and conflicts with account_terms there.
    assert rows["lf_topic__shipping_terms"] == (
        ["shipping"],
        6,
        3,
        0.5,
        round(1 / 6, 6),
        round(1 / 6, 6),
        2,
        1,
        0,
        1.0,
        "reference",
    )
    assert rows["lf_topic__account_terms"] == (
        ["account"],
        6,
        1,
        round(1 / 6, 6),
        round(1 / 6, 6),
        round(1 / 6, 6),
        2,
        0,
        0,
        None,
        "other_functions",
    )
    # billing_terms fires on the invoice only, whose humans tied: no reference, so the prior.
    assert rows["lf_topic__billing_terms"] == (["billing"], 6, 1, round(1 / 6, 6), 0.0, 0.0, 2, 0, 0, None, "prior")
    assert rows["lf_topic__technical_terms"] == ([], 6, 0, 0.0, 0.0, 0.0, 2, 0, 0, None, "prior")
