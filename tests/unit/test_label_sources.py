"""Label source kinds: argilla, annotations_csv, predictions_csv (good and malformed input, config)."""

import orjson
import pytest

from ingestion.protocol import Quarantined, Record, State
from ingestion.sources import SavedState, build_source
from refinery.config import ConfigError, load_config

pytestmark = pytest.mark.unit

U1 = "11111111-1111-1111-1111-111111111111"
U2 = "22222222-2222-2222-2222-222222222222"

NESTED = {
    "id": "rec-1",
    "fields": {"text": "The parcel never arrived."},
    "metadata": {"channel": "email"},
    "suggestions": {"urgency": {"value": "high", "score": 0.87, "agent": "urgency-clf-v2"}},
    "responses": {"urgency": [{"value": "high", "user_id": U1}, {"value": "medium", "user_id": U2}]},
    "vectors": {},
    "status": "completed",
    "_server_id": "5e9b2c1a-0000-4000-8000-000000000001",
}
FLAT = {
    "id": "rec-2",
    "status": "pending",
    "_server_id": None,
    "text": "Please cancel my order.",
    "channel": "web",
    "urgency.responses": ["low", None],
    "urgency.responses.users": [U1, U2],
    "urgency.responses.status": ["submitted", "discarded"],
    "urgency.suggestion": "low",
    "urgency.suggestion.score": 0.55,
    "urgency.suggestion.agent": "urgency-clf-v2",
}


def messages(source, state=None):
    return list(source.read(SavedState(streams=state or {})))


def landed(items):
    return [m.data for m in items if isinstance(m, Record)]


def reasons(items):
    return [m.reason for m in items if isinstance(m, Quarantined)]


def test_argilla_nested_and_flattened_exports_land_one_record_each(tmp_path, write_config):
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "records.json").write_bytes(orjson.dumps([NESTED, FLAT]))
    # to_datasets().to_json(): JSON Lines, one flattened record per line.
    (tmp_path / "exports" / "hub.jsonl").write_bytes(orjson.dumps(FLAT | {"id": "rec-3"}) + b"\n" + orjson.dumps(FLAT))
    config = load_config(write_config("sources: {a: {kind: argilla, path: 'exports/*'}}"))
    source = build_source(config.sources["a"], config)
    (spec,) = source.streams()
    assert (spec.name, spec.role, spec.primary_key, spec.text_field) == ("records", "annotations", "id", "text")
    items = messages(source)
    assert reasons(items) == []
    assert [record["id"] for record in landed(items)] == ["rec-3", "rec-2", "rec-1", "rec-2"]
    assert landed(items)[2] == NESTED  # untouched
    state = [m for m in items if isinstance(m, State)][-1].stream_states
    assert sorted(state["records"]["files"]) == ["hub.jsonl", "records.json"]
    assert landed(messages(source, state)) == []  # unchanged files are not read again


def test_argilla_malformed_input_is_quarantined_with_file_and_record(tmp_path, write_config):
    (tmp_path / "broken.json").write_text('[{"id": "a", ')
    (tmp_path / "scalar.json").write_text("42")
    bad_records = [
        NESTED,
        {"fields": {"text": "no id"}},
        "not an object",
        NESTED | {"id": "r-users", "responses": {"urgency": [{"value": "high"}]}},
        NESTED | {"id": "r-list", "responses": {"urgency": {"value": "high", "user_id": U1}}},
        NESTED | {"id": "r-status", "responses": {"urgency": [{"value": "x", "user_id": U1, "status": "done"}]}},
        FLAT | {"id": "r-lengths", "urgency.responses.users": [U1]},
        FLAT | {"id": "r-flat-status", "urgency.responses.status": ["submitted", "maybe"]},
        FLAT | {"id": "r-empty", "urgency.responses": None, "urgency.responses.users": None},
    ]
    (tmp_path / "records.json").write_bytes(orjson.dumps(bad_records))
    (tmp_path / "lines.jsonl").write_bytes(orjson.dumps(FLAT) + b"\n{oops\n" + orjson.dumps({"id": None}) + b"\n")
    config = load_config(write_config("sources: {a: {kind: argilla, path: '*.json*'}}"))
    items = messages(build_source(config.sources["a"], config))
    assert [record["id"] for record in landed(items)] == ["rec-2", "rec-1", "r-empty"]
    found = sorted(reasons(items))
    assert found[0].startswith("broken.json: not valid JSON (")
    assert found[1].startswith("lines.jsonl line 2: invalid JSON")
    assert found[2:] == [
        "lines.jsonl line 3: no 'id' (a string or number): export the records with their ids",
        "records.json record #1: no 'id' (a string or number): export the records with their ids",
        "records.json record #2: expected a record object, got str",
        "records.json record #3 (id 'r-users'): response #0 of question 'urgency' has no user_id",
        "records.json record #4 (id 'r-list'): responses of question 'urgency' are dict, expected a list",
        "records.json record #5 (id 'r-status'): response #0 of question 'urgency' has status 'done', "
        "expected one of submitted, discarded, draft",
        "records.json record #6 (id 'r-lengths'): 'urgency.responses' has 2 values but 'urgency.responses.users' has 1",
        "records.json record #7 (id 'r-flat-status'): response #1 of question 'urgency' has status 'maybe', "
        "expected one of submitted, discarded, draft",
        "scalar.json: expected a JSON array of Argilla records (or JSON Lines), got int",
    ]
    # The bytes kept for a bad record hold it whole, for a bad line the line.
    raws = {m.reason.split(":")[0]: m.raw for m in items if isinstance(m, Quarantined)}
    assert orjson.loads(raws["records.json record #3 (id 'r-users')"])["record"]["id"] == "r-users"
    assert raws["lines.jsonl line 2"] == b"{oops"


ANNOTATIONS_CSV = (
    "item_id,annotator_id,label,created_at,is_gold,text\n"
    "T-1,ann-a,high,2025-03-01T09:00:00Z,yes,The parcel never arrived.\n"
    "T-1,ann-b,,2025-03-01T09:05:00Z,,The parcel never arrived.\n"
    ",ann-c,low,,,\n"
    "T-2,,low,,,\n"
    "T-2,ann-a,low,yesterday,,\n"
    "T-2,ann-b,low,,maybe,\n"
    'T-3,ann-c,"medium, rather",2025-03-02 10:00:00,0,"A text, with a comma"\n'
)


def test_annotations_csv_lands_rows_and_quarantines_bad_ones(tmp_path, write_config):
    (tmp_path / "urgency.csv").write_text(ANNOTATIONS_CSV)
    config = load_config(
        write_config(
            "sources: {u: {kind: annotations_csv, path: urgency.csv, task: urgency, text_field: text,"
            " level: ordinal, order: [low, medium, high]}}"
        )
    )
    source = build_source(config.sources["u"], config)
    (spec,) = source.streams()
    assert (spec.name, spec.role, spec.primary_key, spec.text_field) == ("annotations", "annotations", None, "text")
    items = messages(source)
    assert [(row["item_id"], row["annotator_id"], row["label"]) for row in landed(items)] == [
        ("T-1", "ann-a", "high"),
        ("T-1", "ann-b", ""),  # an empty label lands: it is a skip (docs/labeling/imports.md)
        ("T-3", "ann-c", "medium, rather"),
    ]
    assert reasons(items) == [
        "urgency.csv line 4: empty item_id",
        "urgency.csv line 5: empty annotator_id",
        "urgency.csv line 6: created_at is 'yesterday', not an ISO 8601 timestamp (e.g. 2025-03-01T09:30:00Z)",
        "urgency.csv line 7: is_gold is 'maybe': use true/false, 1/0 or yes/no",
    ]
    bad = [m for m in items if isinstance(m, Quarantined)]
    assert bad[0].raw == b",ann-c,low,,,\n" and bad[0].stream == "annotations"


def test_label_csv_without_a_required_column_is_quarantined_whole(tmp_path, write_config):
    (tmp_path / "a.csv").write_text("item_id,annotator,label\n1,x,y\n")
    (tmp_path / "b.csv").write_text("item_id,annotator_id,label\n1,x,y\n")  # no `text` column
    (tmp_path / "p.csv").write_text("item_id,class,probability\n1,a,0.5\n")
    config = load_config(
        write_config("""
        sources:
          u: {kind: annotations_csv, path: 'a.csv'}
          t: {kind: annotations_csv, path: 'b.csv', text_field: text}
          p: {kind: predictions_csv, path: 'p.csv'}
        """)
    )
    found = {name: reasons(messages(build_source(config.sources[name], config))) for name in ("u", "t", "p")}
    assert found == {
        "u": [
            "a.csv line 1 (header): missing column 'annotator_id': annotations_csv files need item_id, "
            "annotator_id, label (header: item_id, annotator, label)"
        ],
        "t": [
            "b.csv line 1 (header): missing column 'text': annotations_csv files need item_id, "
            "annotator_id, label, text (header: item_id, annotator_id, label)"
        ],
        "p": [
            "p.csv line 1 (header): missing column 'label': predictions_csv files need item_id, label, "
            "probability (header: item_id, class, probability)"
        ],
    }
    quarantined = [m for m in messages(build_source(config.sources["u"], config)) if isinstance(m, Quarantined)]
    assert quarantined[0].raw == b"item_id,annotator,label\n1,x,y\n"  # the whole file


def test_predictions_csv_checks_probabilities(tmp_path, write_config):
    (tmp_path / "p.csv").write_text(
        "item_id,label,probability,model_version,created_at\n"
        "1001,billing,0.91,topic-clf-3,2025-03-10T00:00:00Z\n"
        "1001,shipping,0.09,topic-clf-3,2025-03-10T00:00:00Z\n"
        "1002,billing,1.2,topic-clf-3,\n"
        "1002,shipping,high,topic-clf-3,\n"
        "1002,,0.5,topic-clf-3,\n"
        "1003,account,nan,topic-clf-3,\n"
    )
    config = load_config(write_config("sources: {p: {kind: predictions_csv, path: p.csv, task: topic}}"))
    source = build_source(config.sources["p"], config)
    assert source.streams()[0].name == "predictions"
    items = messages(source)
    assert [(row["item_id"], row["label"], row["probability"]) for row in landed(items)] == [
        ("1001", "billing", "0.91"),
        ("1001", "shipping", "0.09"),
    ]
    assert reasons(items) == [
        "p.csv line 4: probability is 1.2, outside [0, 1]",
        "p.csv line 5: probability is 'high', not a number",
        "p.csv line 6: empty label",
        "p.csv line 7: probability is nan, outside [0, 1]",
    ]


def test_label_source_options_are_checked_and_passed_to_dbt(tmp_path, write_config):
    from refinery.dbt import dbt_vars

    (tmp_path / "a.csv").write_text("item_id,annotator_id,label\n")
    (tmp_path / "r.json").write_text("[]")
    (tmp_path / "t.jsonl").write_text("")
    config = load_config(
        write_config("""
        sources:
          tickets: {kind: files, path: t.jsonl, primary_key: id, text_field: body}
          sheet: {kind: annotations_csv, path: a.csv, task: urgency, item_source: tickets,
                  level: ordinal, order: [low, medium, high]}
          argilla_urgency: {kind: argilla, path: r.json, level: ordinal, order: [low, medium, high]}
          model: {kind: predictions_csv, path: a.csv, task: urgency, item_source: sheet}
        """)
    )
    variables = dbt_vars(config)
    assert variables["label_sources"] == {
        "argilla_urgency": {"level": "ordinal", "order": ["low", "medium", "high"]},
        "sheet": {"level": "ordinal", "order": ["low", "medium", "high"], "task": "urgency", "item_source": "tickets"},
    }
    assert variables["prediction_sources"] == {"model": {"task": "urgency", "item_source": "sheet"}}
    for spec, message in [
        (
            "{kind: annotations_csv, path: a.csv, item_source: tickts}",
            "'tickts', which is not a source in this file: did you mean 'tickets'?",
        ),
        ("{kind: predictions_csv, path: a.csv, item_source: y}", "is 'y', which is not a source in this file"),
        ("{kind: annotations_csv, path: a.csv, item_source: x}", "names the source itself"),
        ("{kind: predictions_csv, path: a.csv, level: ordinal}", "unknown key 'sources.x.level'"),
        ("{kind: annotations_csv, path: a.csv, level: ordinal}", "must list the label values"),
        ("{kind: argilla, path: r.json, level: nominl}", "did you mean 'nominal'"),
        ("{kind: annotations_csv, path: a.csv, task: ''}", "'sources.x.task' is '': give a name"),
        ("{kind: argilla, path: missing.json}", "matches no file"),
    ]:
        path = write_config(f"sources:\n  tickets: {{kind: files, path: t.jsonl}}\n  x: {spec}\n")
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
            load_config(path)


def test_argilla_sdk_exports_land_without_quarantine(tmp_path, write_config):
    # Both files were written by the argilla 2.8.0 SDK (tests/data/argilla/make_fixtures.py).
    from tests.conftest import PROJECT_ROOT

    folder = PROJECT_ROOT / "tests" / "data" / "argilla"
    config = load_config(write_config(f"sources: {{a: {{kind: argilla, path: '{folder}/*.json'}}}}"))
    items = messages(build_source(config.sources["a"], config))
    assert reasons(items) == []
    assert [record["id"] for record in landed(items)] == ["sdk-1", "sdk-2", "sdk-3"] * 2
    flattened, nested = landed(items)[0], landed(items)[3]
    assert flattened["urgency.responses.status"] == ["submitted", "submitted", "draft"]
    assert nested["responses"]["urgency"][2] == {"value": "high", "user_id": "33333333-3333-4333-8333-333333333333"}
