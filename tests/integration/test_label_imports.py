"""Label imports in dbt: Label Studio, Argilla and CSV votes in int_label_votes, predictions in
int_label_predictions, built from a raw layer written by hand (docs/raw-layer.md) and checked
row by row. Only the labeling models and what they read are built (`+int_label_predictions`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.integration.test_dbt_build import (
    DbtRun,
    _annotation,
    _create_bookkeeping,
    _land,
    _register_stream,
    _task,
    run_dbt,
)

pytestmark = pytest.mark.integration

# Written by the argilla 2.8.0 SDK itself (tests/data/argilla/make_fixtures.py).
ARGILLA_SDK = Path(__file__).resolve().parents[1] / "data" / "argilla"

PARCEL = "The parcel never arrived and the tracking page has not changed for a week."
CANCEL = "Please cancel my subscription before the next renewal date, thank you."
REFUND = "I was charged twice for the same order and would like a refund for one of them."
NO_TEXT_ID = "T-404"  # a ticket id no document has

U1 = "11111111-1111-1111-1111-111111111111"
U2 = "22222222-2222-2222-2222-222222222222"
U3 = "33333333-3333-3333-3333-333333333333"

VARS = (
    "{label_sources: {"
    "reviews: {level: nominal, order: []}, "
    "urgency_argilla: {level: ordinal, order: [low, medium, high]}, "
    "urgency_sheet: {level: ordinal, order: [low, medium, high], task: urgency, item_source: tickets}}, "
    "prediction_sources: {"
    "topic_model: {task: topic, item_source: reviews}, "
    "urgency_model: {task: urgency, item_source: urgency_sheet}}}"
)


def content_hash(text: str) -> str:
    return hashlib.md5(" ".join(text.split()).lower().encode()).hexdigest()


def write_raw_layer(database: Path) -> None:
    con = duckdb.connect(str(database))
    try:
        _create_bookkeeping(con)
        tickets = _register_stream(con, "tickets", "records", "files", "documents", "ticket_id", text_field="body")
        for ticket_id, body in (("T-1", PARCEL), ("T-2", CANCEL), ("T-3", REFUND)):
            _land(con, tickets, "2025-03-01T00:00:00Z", {"ticket_id": ticket_id, "body": body})

        # Label Studio: multi-choice, completed_by as an object, gold, a skip, a draft, predictions,
        # and annotation 5001 exported twice: under task 101 (first file) and, older, under task 201
        # (the task landed again under a new id, in a later file).
        reviews = _register_stream(
            con, "reviews", "tasks", "label_studio", "annotations", "id", cursor_field="updated_at", text_field="text"
        )
        newest = _annotation(5001, 1, {"topic": "shipping"}, updated_at="2025-03-03T10:00:00Z")
        gold = _annotation(5002, {"id": 2, "email": "b@example.com"}, {"topic": "shipping"})
        gold["ground_truth"] = True
        gold["lead_time"] = 4.25
        multi = _annotation(5003, 3, {"topic": "billing"})
        multi["result"][0]["value"]["choices"] = ["shipping", "billing"]
        task_101 = _task(101, PARCEL, [newest, gold, multi])
        task_101["predictions"] = [
            {
                "id": 9001,
                "model_version": "ls-topic-v1",
                "score": 0.62,
                "created_at": "2025-03-01T08:00:00Z",
                "result": [
                    {"from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": ["billing"]}}
                ],
            }
        ]
        task_101["drafts"] = [
            {
                "id": 77,
                "user": 4,
                "lead_time": 30.0,
                "created_at": "2025-03-04T09:00:00Z",
                "updated_at": "2025-03-04T09:01:00Z",
                "result": [{"from_name": "topic", "type": "choices", "value": {"choices": ["account"]}}],
            }
        ]
        _land(con, reviews, "2025-03-05T00:00:00Z", task_101)
        older = _annotation(5001, 1, {"topic": "billing"}, updated_at="2025-03-02T10:00:00Z")
        _land(
            con, reviews, "2025-03-06T00:00:00Z", _task(201, PARCEL, [older, _annotation(5004, 4, {}, cancelled=True)])
        )
        # Task 102 without text in data.text: its item key is reviews:102.
        _land(con, reviews, "2025-03-05T00:00:00Z", _task(102, "", [_annotation(5005, 1, {"topic": "account"})]))

        # Argilla: nested (records.to_json) and flattened (to_list(flatten=True)) records; a draft and a
        # discarded response; a record exported again in a later file (its later version wins).
        argilla = _register_stream(con, "urgency_argilla", "records", "argilla", "annotations", "id", text_field="text")
        nested = {
            "id": "rec-1",
            "fields": {"text": PARCEL},
            "metadata": {},
            "suggestions": {"urgency": {"value": "high", "score": 0.91, "agent": "urgency-clf-v2"}},
            "responses": {"urgency": [{"value": "high", "user_id": U1}, {"value": "medium", "user_id": U2}]},
            "vectors": {},
            "status": "completed",
            "_server_id": None,
        }
        _land(
            con, argilla, "2025-03-01T00:00:00Z", nested | {"responses": {"urgency": [{"value": "low", "user_id": U1}]}}
        )
        _land(con, argilla, "2025-03-02T00:00:00Z", nested)
        _land(
            con,
            argilla,
            "2025-03-02T00:00:00Z",
            {
                "id": "rec-2",
                "status": "pending",
                "_server_id": None,
                "text": CANCEL,
                "urgency.responses": ["low", None, "medium"],
                "urgency.responses.users": [U1, U2, U3],
                "urgency.responses.status": ["submitted", "discarded", "draft"],
                "urgency.suggestion": ["low", "medium"],
                "urgency.suggestion.score": [0.7, 0.2],
                "urgency.suggestion.agent": "urgency-clf-v2",
            },
        )

        # The SDK's own exports of the same three records: nested (records.to_json) and flattened.
        for source, name in (("sdk_nested", "records.json"), ("sdk_flat", "flattened.json")):
            table = _register_stream(con, source, "records", "argilla", "annotations", "id", text_field="text")
            for record in json.loads((ARGILLA_SDK / name).read_text()):
                _land(con, table, "2025-03-02T00:00:00Z", record)

        # annotations_csv over ticket ids (item_source: tickets): a gold row, a skip (empty label),
        # a vote replaced by a newer row of the same annotation_id, an id no document has.
        sheet = _register_stream(con, "urgency_sheet", "annotations", "annotations_csv", "annotations", None)
        rows = [
            ("a-1", "T-1", "carol", "high", "true", "2025-03-01T09:00:00Z", ""),
            ("a-2", "T-2", "carol", "", "", "2025-03-01T09:01:00Z", ""),
            ("a-3", "T-2", "dan", "low", "", "2025-03-01T09:02:00Z", "2025-03-01T09:02:00Z"),
            ("a-3", "T-2", "dan", "medium", "", "2025-03-01T09:02:00Z", "2025-03-02T11:00:00Z"),
            ("a-4", NO_TEXT_ID, "dan", "low", "0", "2025-03-01 09:03:00", ""),
        ]
        for annotation_id, item_id, annotator, label, is_gold, created_at, updated_at in rows:
            row = {"annotation_id": annotation_id, "item_id": item_id, "annotator_id": annotator, "label": label}
            _land(
                con,
                sheet,
                "2025-03-03T00:00:00Z",
                row | {"is_gold": is_gold, "created_at": created_at, "updated_at": updated_at},
            )

        # predictions_csv: topic over Label Studio task ids, urgency over the sheet's ticket ids.
        topic_model = _register_stream(con, "topic_model", "predictions", "predictions_csv", "annotations", None)
        for item_id, label, probability, created_at in (
            ("101", "shipping", "0.15", "2025-03-01T00:00:00Z"),
            ("101", "billing", "0.80", "2025-03-01T00:00:00Z"),
            ("101", "account", "0.05", "2025-03-01T00:00:00Z"),
            ("101", "shipping", "0.70", "2025-03-08T00:00:00Z"),  # a newer run of the same model
            ("101", "billing", "0.30", "2025-03-08T00:00:00Z"),
            ("102", "account", "0.5", "2025-03-08T00:00:00Z"),
            ("102", "billing", "0.5", "2025-03-08T00:00:00Z"),
        ):
            row = {"item_id": item_id, "label": label, "probability": probability, "model_version": "topic-clf-3"}
            _land(con, topic_model, "2025-03-09T00:00:00Z", row | {"created_at": created_at})
        urgency_model = _register_stream(con, "urgency_model", "predictions", "predictions_csv", "annotations", None)
        for item_id, label, probability in (("T-2", "low", "0.6"), ("T-2", "high", "0.4"), (NO_TEXT_ID, "low", "1")):
            _land(
                con,
                urgency_model,
                "2025-03-09T00:00:00Z",
                {"item_id": item_id, "label": label, "probability": probability},
            )
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtRun]:
    home = tmp_path_factory.mktemp("label_imports")
    (home / "warehouse").mkdir()
    write_raw_layer(home / "warehouse" / "refinery.duckdb")
    run = run_dbt(
        home,
        "build",
        "--select",
        "+int_label_predictions",
        "+int_documents_normalized",
        "--indirect-selection",
        "cautious",
        "--vars",
        VARS,
    )
    assert run.returncode == 0, run.output[-6000:]
    yield run
    shutil.rmtree(home, ignore_errors=True)


def votes(built: DbtRun, tool: str) -> list[tuple]:
    return built.rows(
        "select task_id, item_id, annotation_id, annotator_id, annotator_key, result_index, task_name, label, level, "
        "label_value, status, is_gold, lead_time_seconds, created_at::varchar, item_key "
        "from intermediate.int_label_votes where tool = ? and source_name not like 'sdk_%' "
        "order by task_id, annotation_id, result_index",
        [tool],
    )


def test_label_studio_votes(built: DbtRun) -> None:
    parcel = content_hash(PARCEL)
    rows = votes(built, "label_studio")
    assert [row[:13] for row in rows] == [
        # 5001 under task 101: its newest version (updated_at 03-03); the older copy under task 201 is gone.
        ("101", "101", "5001", "1", "reviews:1", 0, "topic", "shipping", "nominal", None, "submitted", False, 12.5),
        ("101", "101", "5002", "2", "reviews:2", 0, "topic", "shipping", "nominal", None, "submitted", True, 4.25),
        (
            "101",
            "101",
            "5003",
            "3",
            "reviews:3",
            0,
            "topic",
            "billing|shipping",
            "nominal",
            None,
            "submitted",
            False,
            12.5,
        ),
        ("101", "101", "draft-77", "4", "reviews:4", 0, "topic", "account", "nominal", None, "draft", False, 30.0),
        ("102", "102", "5005", "1", "reviews:1", 0, "topic", "account", "nominal", None, "submitted", False, 12.5),
        ("201", "201", "5004", "4", "reviews:4", None, None, None, "nominal", None, "skipped", False, 12.5),
    ]
    assert [row[14] for row in rows] == [parcel, parcel, parcel, parcel, "reviews:102", parcel]
    assert rows[3][13].startswith("2025-03-04 09:00:00")


def test_annotation_replaced_by_id_and_updated_at_whatever_the_landing_order(built: DbtRun) -> None:
    # Annotation 5001 landed in task 101 (first) and task 201 (later, but an older version):
    # one vote, the newest by updated_at.
    assert built.rows(
        "select task_id, label, updated_at::varchar from intermediate.int_label_votes where annotation_id = '5001'"
    ) == [("101", "shipping", "2025-03-03 10:00:00+00")]


def test_argilla_votes(built: DbtRun) -> None:
    rows = votes(built, "argilla")
    parcel, cancel = content_hash(PARCEL), content_hash(CANCEL)
    assert rows == [
        # rec-1 landed twice: its later version's responses (U1 high, not the earlier low).
        ("rec-1", "rec-1", f"{U1}@rec-1", U1, f"urgency_argilla:{U1}", None, "urgency", "high", "ordinal", 3.0,
         "submitted", False, None, None, parcel),
        ("rec-1", "rec-1", f"{U2}@rec-1", U2, f"urgency_argilla:{U2}", None, "urgency", "medium", "ordinal", 2.0,
         "submitted", False, None, None, parcel),
        ("rec-2", "rec-2", f"{U1}@rec-2", U1, f"urgency_argilla:{U1}", None, "urgency", "low", "ordinal", 1.0,
         "submitted", False, None, None, cancel),
        ("rec-2", "rec-2", f"{U2}@rec-2", U2, f"urgency_argilla:{U2}", None, "urgency", None, "ordinal", None,
         "discarded", False, None, None, cancel),
        ("rec-2", "rec-2", f"{U3}@rec-2", U3, f"urgency_argilla:{U3}", None, "urgency", "medium", "ordinal", 2.0,
         "draft", False, None, None, cancel),
    ]  # fmt: skip


def test_csv_votes_take_the_text_of_their_item_source(built: DbtRun) -> None:
    rows = {row[2]: row for row in votes(built, "csv")}
    assert sorted(rows) == ["a-1", "a-2", "a-3", "a-4"]
    assert [rows[key][6:12] for key in sorted(rows)] == [
        ("urgency", "high", "ordinal", 3.0, "submitted", True),
        ("urgency", None, "ordinal", None, "skipped", False),
        ("urgency", "medium", "ordinal", 2.0, "submitted", False),  # the newer row of a-3 replaced "low"
        ("urgency", "low", "ordinal", 1.0, "submitted", False),
    ]
    # Ticket ids resolve to the tickets' texts, so CSV votes share item keys with Argilla's and join documents.
    assert [rows[key][14] for key in sorted(rows)] == [
        content_hash(PARCEL),
        content_hash(CANCEL),
        content_hash(CANCEL),
        f"tickets:{NO_TEXT_ID}",
    ]
    assert rows["a-4"][13].startswith("2025-03-01 09:03:00")  # a naive timestamp is read as UTC
    assert {row[4] for row in rows.values()} == {"urgency_sheet:carol", "urgency_sheet:dan"}


def test_votes_of_every_tool_meet_on_one_item(built: DbtRun) -> None:
    # The parcel text: Argilla rec-1, the sheet's T-1 and Label Studio 101 share one item_key.
    tools = built.rows(
        "select task_name, tool, count(*) filter (where status = 'submitted') from intermediate.int_label_votes "
        "where item_key = ? and task_name is not null group by all order by all",
        [content_hash(PARCEL)],
    )
    assert tools == [("topic", "label_studio", 3), ("urgency", "argilla", 2), ("urgency", "csv", 1)]
    assert built.rows(
        "select count(*) from intermediate.int_label_votes v join intermediate.int_documents_normalized d "
        "on v.item_key = d.content_hash where v.tool = 'csv'"
    ) == [(3,)]


def test_predictions(built: DbtRun) -> None:
    parcel, cancel = content_hash(PARCEL), content_hash(CANCEL)
    rows = built.rows(
        "select source_name, tool, task_name, item_key, item_id, model_version, label, round(score, 4), "
        "probabilities, created_at::varchar from intermediate.int_label_predictions "
        "where source_name not like 'sdk_%' order by source_name, item_id"
    )
    assert [row[:9] for row in rows] == [
        # Label Studio: the prediction's one choice and score.
        ("reviews", "label_studio", "topic", parcel, "101", "ls-topic-v1", "billing", 0.62,
         [{"label": "billing", "probability": 0.62}]),
        # The newest run of topic-clf-3 for task 101 (item_source reviews → its text's hash).
        ("topic_model", "csv", "topic", parcel, "101", "topic-clf-3", "shipping", 0.7,
         [{"label": "shipping", "probability": 0.7}, {"label": "billing", "probability": 0.3}]),
        # Task 102 has no text: keyed like its votes; a tie goes to the first label alphabetically.
        ("topic_model", "csv", "topic", "reviews:102", "102", "topic-clf-3", "account", 0.5,
         [{"label": "account", "probability": 0.5}, {"label": "billing", "probability": 0.5}]),
        # Argilla suggestions: agent as model version; a multi-label suggestion keeps a score per label.
        ("urgency_argilla", "argilla", "urgency", parcel, "rec-1", "urgency-clf-v2", "high", 0.91,
         [{"label": "high", "probability": 0.91}]),
        ("urgency_argilla", "argilla", "urgency", cancel, "rec-2", "urgency-clf-v2", "low|medium", None,
         [{"label": "low", "probability": 0.7}, {"label": "medium", "probability": 0.2}]),
        # item_source urgency_sheet: T-2 via the sheet's item key (the ticket's text), T-404 as the sheet's.
        ("urgency_model", "csv", "urgency", cancel, "T-2", None, "low", 0.6,
         [{"label": "low", "probability": 0.6}, {"label": "high", "probability": 0.4}]),
        ("urgency_model", "csv", "urgency", f"tickets:{NO_TEXT_ID}", NO_TEXT_ID, None, "low", 1.0,
         [{"label": "low", "probability": 1.0}]),
    ]  # fmt: skip
    assert rows[0][9].startswith("2025-03-01 08:00:00") and rows[1][9].startswith("2025-03-08 00:00:00")
    # Predictions join votes on (task_name, item_key): 4 votes on the parcel (the skip has no task), 1 on 102.
    assert built.rows(
        "select count(*) from intermediate.int_label_predictions p join intermediate.int_label_votes v "
        "using (task_name, item_key) where p.source_name = 'topic_model'"
    ) == [(5,)]


def test_votes_and_suggestions_of_real_argilla_sdk_exports(built: DbtRun) -> None:
    rows = built.rows(
        "select source_name, task_id, right(annotator_id, 1), task_name, label, status "
        "from intermediate.int_label_votes where source_name like 'sdk_%' order by all"
    )
    flat = [
        ("sdk-1", "1", "clarity", "4", "submitted"),
        ("sdk-1", "1", "tags", "billing|refund", "submitted"),
        ("sdk-1", "1", "urgency", "high", "submitted"),
        ("sdk-1", "2", "urgency", "medium", "submitted"),
        ("sdk-1", "3", "urgency", "high", "draft"),
        ("sdk-2", "1", "urgency", "low", "submitted"),
        ("sdk-2", "2", "urgency", "low", "discarded"),
    ]
    # The nested export has no response status: the draft and the discarded response read as submitted.
    nested = [(*row[:4], "submitted") for row in flat]
    assert rows == [("sdk_flat", *row) for row in flat] + [("sdk_nested", *row) for row in nested]
    suggestions = built.rows(
        "select source_name, item_id, task_name, model_version, label, score, probabilities "
        "from intermediate.int_label_predictions where source_name like 'sdk_%' order by all"
    )
    expected = [
        ("sdk-1", "tags", "tagger-v1", "billing|refund", None,
         [{"label": "billing", "probability": 0.93}, {"label": "refund", "probability": 0.61}]),
        ("sdk-1", "urgency", "urgency-clf-v2", "high", 0.88, [{"label": "high", "probability": 0.88}]),
    ]  # fmt: skip
    assert suggestions == [(source, *row) for source in ("sdk_flat", "sdk_nested") for row in expected]
