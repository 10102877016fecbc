"""The label-import samples of ``make demo``, written by ``generate_samples.py`` (standard library only).

Writes (paths relative to ``seeds/sample/``):

* ``annotations/urgency_argilla/batch-1.json`` - an Argilla 2.x export of the first 16 records of
  an ordinal ``urgency`` question (low / medium / high) over ticket texts, in the nested shape of
  ``dataset.records.to_json(path)`` (no response status: every response of this batch was
  submitted before it was exported);
* ``annotations/urgency_argilla/batch-2.jsonl`` - the next 20 records in the flattened shape of
  ``dataset.records.to_datasets().to_json(path)`` (JSON Lines, with response statuses: drafts and
  discarded responses included);
* ``annotations/urgency_sheet.csv`` - urgency labels from a spreadsheet, by ticket id, from three
  annotators plus gold rows by a lead reviewer, some skipped (empty label);
* ``annotations/topic_predictions.csv`` - a topic classifier's class probabilities for every task
  of ``annotations/topics.json`` (item ids = Label Studio task ids).

The shapes are the ones the ``argilla==2.8.0`` SDK writes (``Record.to_dict`` and
``GenericIO.to_list(flatten=True)``; compared key by key with the SDK's own output, see
docs/labeling/imports.md). Every choice below comes from a seeded ``random.Random``.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

URGENCY = ("low", "medium", "high")
# The urgency a ticket's scenario calls for (its subject without channel prefixes).
SCENARIO_URGENCY = {
    "account hacked?": "high",
    "account locked": "high",
    "app keeps crashing": "high",
    "charged after cancelling": "high",
    "checkout page blank": "high",
    "lost 2fa device": "high",
    "password reset not arriving": "high",
    "billed annually instead of monthly": "medium",
    "bluetooth pairing problem": "medium",
    "parcel marked delivered but not received": "medium",
    "change delivery address": "medium",
    "csv export broken": "medium",
    "customs fee": "medium",
    "damaged delivery": "medium",
    "failed delivery": "medium",
    "missing item": "medium",
    "no notifications": "medium",
    "payment declined": "medium",
    "refund not received": "medium",
    "search not working": "medium",
    "sync error": "medium",
    "unexpected fee on my bill": "medium",
    "where is my order?": "medium",
    "wrong item received": "medium",
    "change e-mail address": "low",
    "delete my account": "low",
    "discount code not applied": "low",
    "merge two accounts": "low",
    "name spelled wrong": "low",
    "question about my invoice": "low",
}
SUBJECT_PREFIX = re.compile(r"^(?:Chat: |Phone call - |Re: |Fwd: )+")
# A customer who says it cannot wait moves the ticket one level up.
ESCALATION = re.compile(r"\b(?:urgent|urgently|asap|as soon as possible|immediately|right away|today)\b", re.I)

# Argilla users (user_id is all an export carries) and spreadsheet annotators:
# name -> (probability of the right level, direction of their mistakes: +1 up, -1 down, 0 either).
ARGILLA_USERS = {"anna": (0.9, 0), "bruno": (0.8, 0), "chen": (0.75, 1), "dora": (0.6, 0)}
SHEET_ANNOTATORS = {"mira.k": (0.85, 0), "jonas.b": (0.7, -1), "priya.s": (0.8, 0)}
SHEET_LEAD = "lena.w"  # the lead reviewer: her rows are gold
SUGGESTION_AGENT = "urgency-distilroberta-v1"
TOPIC_MODEL = "topic-distilbert-v3"
TOPICS = ("billing", "shipping", "technical", "account")


def true_urgency(subject: str, body: str) -> str:
    scenario = SUBJECT_PREFIX.sub("", subject).lower()
    level = URGENCY.index(SCENARIO_URGENCY[scenario])
    if ESCALATION.search(body):
        level = min(level + 1, 2)
    return URGENCY[level]


def noisy(rng: random.Random, truth: str, skill: tuple[float, int]) -> str:
    """What an annotator of this skill answers: the right level, else a neighbouring one."""
    accuracy, bias = skill
    if rng.random() < accuracy:
        return truth
    level = URGENCY.index(truth)
    steps = [bias] if bias else [-1, 1]
    options = [level + step for step in steps if 0 <= level + step <= 2] or [level - 1 if level else level + 1]
    return URGENCY[rng.choice(options)]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_label_samples(tickets: list[Any], tasks: list[dict], orphan_topics: dict[str, str]) -> dict[str, bytes]:
    """The sample files (path under sample/ → bytes). `tasks` is the Label Studio export of topics.json."""
    rng = random.Random(20250310)
    pool = [t for t in tickets if t.kind == "base" and t.note.split(":")[0] in ("", "pii")]
    chosen = rng.sample(pool, 54)
    argilla_tickets, sheet_only = chosen[:36], chosen[36:]
    shared = argilla_tickets[4:16]  # 12 tickets labeled in both tools
    files = {}
    files.update(_argilla_files(rng, argilla_tickets))
    files["annotations/urgency_sheet.csv"] = _sheet(rng, shared + sheet_only)
    files["annotations/topic_predictions.csv"] = _topic_predictions(
        random.Random(20250311), tasks, tickets, orphan_topics
    )
    return files


# --------------------------------------------------------------------------------------
# Argilla
# --------------------------------------------------------------------------------------


def _argilla_files(rng: random.Random, tickets: list[Any]) -> dict[str, bytes]:
    users = {name: str(uuid.UUID(int=rng.getrandbits(128), version=4)) for name in ARGILLA_USERS}
    names = list(ARGILLA_USERS)
    nested, flat = [], []
    # Planted in batch 2: two ties (the third user's response is a draft, the two submitted disagree),
    # two discarded responses and one more draft. A discarded response is exported only with the
    # answer its user had given (the SDK builds responses from the answered questions).
    ties, drafts, discarded = {3, 11}, {7}, {5: 1, 15: 0}
    for index, ticket in enumerate(tickets):
        truth = true_urgency(ticket.subject, ticket.body)
        responders = [names[(index + k) % 4] for k in range(3)]
        answers = [(name, noisy(rng, truth, ARGILLA_USERS[name]), "submitted") for name in responders]
        batch_index = index - 16
        if batch_index in ties:
            first = answers[0][1]
            other = URGENCY[(URGENCY.index(first) + 1) % 3] if first != "high" else "medium"
            answers = [answers[0], (answers[1][0], other, "submitted"), (answers[2][0], answers[2][1], "draft")]
        elif batch_index in drafts:
            answers[2] = (answers[2][0], answers[2][1], "draft")
        elif batch_index in discarded:
            who = discarded[batch_index]
            answers[who] = (answers[who][0], answers[who][1], "discarded")
        suggestion = noisy(rng, truth, (0.8, 0))
        score = round(rng.uniform(0.72, 0.97) if suggestion == truth else rng.uniform(0.41, 0.66), 4)
        record_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        metadata = {"ticket_id": ticket.id, "channel": ticket.channel}
        if index < 16:
            # dataset.records.to_json(path): Record.to_dict() per record (no response status).
            nested.append(
                {
                    "id": record_id,
                    "fields": {"text": ticket.body},
                    "metadata": metadata,
                    "suggestions": {"urgency": {"value": suggestion, "score": score, "agent": SUGGESTION_AGENT}},
                    "responses": {"urgency": [{"value": value, "user_id": users[name]} for name, value, _ in answers]},
                    "vectors": {},
                    "status": "completed",
                    "_server_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                }
            )
        else:
            # to_datasets(): GenericIO.to_dict(flatten=True): fields and metadata at the top level.
            submitted = sum(status == "submitted" for _, _, status in answers)
            flat.append(
                {
                    "id": record_id,
                    "status": "completed" if submitted >= 2 else "pending",
                    "_server_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "text": ticket.body,
                    "ticket_id": ticket.id,
                    "channel": ticket.channel,
                    "urgency.responses": [value for _, value, _ in answers],
                    "urgency.responses.users": [users[name] for name, _, _ in answers],
                    "urgency.responses.status": [status for _, _, status in answers],
                    "urgency.suggestion": suggestion,
                    "urgency.suggestion.score": score,
                    "urgency.suggestion.agent": SUGGESTION_AGENT,
                }
            )
    return {
        # json.dump(record_dicts, f) as the SDK writes it: one line, default separators.
        "annotations/urgency_argilla/batch-1.json": json.dumps(nested).encode() + b"\n",
        "annotations/urgency_argilla/batch-2.jsonl": "".join(
            json.dumps(record, ensure_ascii=False) + "\n" for record in flat
        ).encode(),
    }


# --------------------------------------------------------------------------------------
# Spreadsheet of urgency labels
# --------------------------------------------------------------------------------------


def _sheet(rng: random.Random, tickets: list[Any]) -> bytes:
    rows = []
    clock = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)
    skips = {2, 17}  # an annotator left the label empty: a skip
    tie = 9  # two annotators disagree and the third skipped
    gold = {0, 6, 13, 21}
    for index, ticket in enumerate(tickets):
        truth = true_urgency(ticket.subject, ticket.body)
        answers = [(name, noisy(rng, truth, skill)) for name, skill in SHEET_ANNOTATORS.items()]
        if index == tie:
            first = answers[0][1]
            answers[1] = (answers[1][0], "low" if first != "low" else "medium")
            answers[2] = (answers[2][0], "")
        elif index in skips:
            answers[index % 3] = (answers[index % 3][0], "")
        for name, label in answers:
            clock += timedelta(seconds=rng.randint(20, 400))
            rows.append([ticket.id, name, label, stamp(clock), "false"])
        if index in gold:
            clock += timedelta(seconds=rng.randint(20, 400))
            rows.append([ticket.id, SHEET_LEAD, truth, stamp(clock), "true"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["item_id", "annotator_id", "label", "created_at", "is_gold"])
    writer.writerows(rows)
    return out.getvalue().encode()


# --------------------------------------------------------------------------------------
# Topic classifier predictions for the Label Studio tasks
# --------------------------------------------------------------------------------------


def human_majority(task: dict) -> str | None:
    votes = Counter(
        annotation["result"][0]["value"]["choices"][0]
        for annotation in task["annotations"]
        if not annotation["was_cancelled"]
    )
    ranked = votes.most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _distribution(rng: random.Random, top: str, top_probability: float) -> list[tuple[str, float]]:
    others = [topic for topic in TOPICS if topic != top]
    weights = [rng.uniform(0.2, 1.0) for _ in others]
    rest = 1.0 - top_probability
    shares = [round(rest * w / sum(weights), 4) for w in weights]
    top_rounded = round(1.0 - sum(shares), 4)  # the rounded probabilities add up to exactly 1
    return sorted([(top, top_rounded), *zip(others, shares, strict=True)], key=lambda p: (-p[1], p[0]))


def _topic_predictions(rng: random.Random, tasks: list[dict], tickets: list[Any], orphans: dict[str, str]) -> bytes:
    topic_of = {t.body: t.topic for t in tickets if t.kind != "malformed"} | orphans
    majorities = {task["id"]: human_majority(task) for task in tasks}
    truth = {task["id"]: topic_of[task["data"]["text"]] for task in tasks}
    # Confident disagreements with the human majority: the tasks whose majority is wrong (the model
    # is right: label-noise candidates), and one unanimous task the model gets confidently wrong.
    wrong_majority = [tid for tid in truth if majorities[tid] and majorities[tid] != truth[tid]]
    unanimous = [
        task["id"]
        for task in tasks
        if len({a["result"][0]["value"]["choices"][0] for a in task["annotations"] if not a["was_cancelled"]}) == 1
        and majorities[task["id"]] == truth[task["id"]]
    ]
    model_error = unanimous[7]
    uncertain = set(rng.sample([tid for tid in truth if tid not in wrong_majority and tid != model_error], 4))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["item_id", "label", "probability", "model_version", "created_at"])
    created = datetime(2025, 3, 10, 6, 0, tzinfo=UTC)
    for task in tasks:
        tid, truth_topic = task["id"], truth[task["id"]]
        if tid in wrong_majority:
            distribution = _distribution(rng, truth_topic, rng.uniform(0.91, 0.97))
        elif tid == model_error:
            wrong = [t for t in TOPICS if t != truth_topic][rng.randrange(3)]
            distribution = _distribution(rng, wrong, 0.93)
        elif tid in uncertain:
            distribution = _distribution(rng, truth_topic, rng.uniform(0.3, 0.38))
        else:
            distribution = _distribution(rng, truth_topic, rng.uniform(0.55, 0.96))
        for label, probability in distribution:
            writer.writerow([tid, label, f"{probability:.4f}", TOPIC_MODEL, stamp(created)])
    return out.getvalue().encode()


# --------------------------------------------------------------------------------------
# Expected counts, from the written bytes
# --------------------------------------------------------------------------------------


def label_sample_counts(files: dict[str, bytes], tasks: list[dict], tickets: list[Any]) -> dict:
    """What the label-import samples hold, re-read from their bytes (for EXPECTED.json and the README)."""
    nested = json.loads(files["annotations/urgency_argilla/batch-1.json"])
    flat = [json.loads(line) for line in files["annotations/urgency_argilla/batch-2.jsonl"].splitlines()]
    statuses = Counter()
    votes: dict[str, dict[str, str]] = defaultdict(dict)  # text -> annotator -> label (submitted only)
    for record in nested:
        for response in record["responses"]["urgency"]:
            statuses["submitted"] += 1
            votes[record["fields"]["text"]]["argilla:" + response["user_id"]] = response["value"]
    for record in flat:
        parallel = zip(
            record["urgency.responses"],
            record["urgency.responses.users"],
            record["urgency.responses.status"],
            strict=True,
        )
        for value, user, status in parallel:
            statuses[status] += 1
            if status == "submitted":
                votes[record["text"]]["argilla:" + user] = value
    rows = list(csv.DictReader(io.StringIO(files["annotations/urgency_sheet.csv"].decode())))
    sheet = Counter("skipped" if not row["label"] else "submitted" for row in rows)
    sheet_items = {row["item_id"] for row in rows}
    body_of = {t.id: t.body for t in tickets}
    argilla_texts = set(votes)
    for row in rows:
        if row["label"]:
            votes[body_of[row["item_id"]]]["sheet:" + row["annotator_id"]] = row["label"]
    outcomes = Counter()
    for by_annotator in votes.values():
        ranked = Counter(by_annotator.values()).most_common()
        if len(ranked) == 1:
            outcomes["unanimous"] += 1
        elif ranked[0][1] > ranked[1][1]:
            outcomes["majority"] += 1
        else:
            outcomes["tie"] += 1
    predictions = list(csv.DictReader(io.StringIO(files["annotations/topic_predictions.csv"].decode())))
    top: dict[str, tuple[str, float]] = {}
    for row in predictions:
        best = top.get(row["item_id"])
        if best is None or float(row["probability"]) > best[1]:
            top[row["item_id"]] = (row["label"], float(row["probability"]))
    majorities = {str(task["id"]): human_majority(task) for task in tasks}
    disagree = sorted(
        int(tid) for tid, (label, p) in top.items() if p >= 0.9 and majorities[tid] and label != majorities[tid]
    )
    return {
        "argilla_records": len(nested) + len(flat),
        "argilla_records_nested": len(nested),
        "argilla_records_flattened": len(flat),
        "argilla_responses": dict(sorted(statuses.items())),
        "argilla_users": len({u for r in flat for u in r["urgency.responses.users"]}),
        "argilla_suggestions": len(nested) + len(flat),
        "sheet_rows": len(rows),
        "sheet_votes": dict(sorted(sheet.items())),
        "sheet_gold_rows": sum(row["is_gold"] == "true" for row in rows),
        "sheet_items": len(sheet_items),
        "sheet_annotators": len({row["annotator_id"] for row in rows}),
        "urgency_items": len(votes),
        "urgency_items_in_both_tools": len(argilla_texts & {body_of[i] for i in sheet_items}),
        "urgency_unanimous_majority_tie": [outcomes["unanimous"], outcomes["majority"], outcomes["tie"]],
        "topic_prediction_rows": len(predictions),
        "topic_prediction_items": len(top),
        "topic_predictions_confidently_disagreeing_with_majority": disagree,
        "topic_predictions_below_0_4": sorted(int(tid) for tid, (_, p) in top.items() if p < 0.4),
    }
