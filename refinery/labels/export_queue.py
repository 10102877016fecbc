"""`refinery labels export-queue`: the adjudication queue as a Label Studio import file.

Each queued (task, item) becomes one Label Studio task (docs/labeling/adjudication.md):

    {"data": {"text": <the item's text>, "item_key": ..., "task_name": ..., "reasons": "tie, low_agreement",
              "consensus_label": ..., "priority": 1},
     "predictions": [
        {"model_version": "annotator:<annotator_key>", "result": [<the vote as a choices result>]},  # one per vote
        {"model_version": <model>, "score": 0.93, "result": [<the prediction's label>]}]}

The votes and the model's prediction go in as pre-annotations (`predictions`, read-only in Label
Studio and never counted as annotations); the adjudicator's own annotation is the only one the
export brings back. `data.text` is the text the votes were given on, so the re-imported task hashes
to the same item_key and its gold annotation overrides the consensus.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from refinery.config import Config
from refinery.read import connect_read_only, table_exists


class ExportError(Exception):
    """The queue cannot be exported (no warehouse, bad --out, unknown task); the message says why."""


def queue_tasks(rows: list[dict[str, Any]], to_name: str = "text") -> list[dict[str, Any]]:
    """Label Studio import tasks for adjudication_queue rows (dicts of its columns)."""
    tasks = []
    for row in rows:
        prefix = hashlib.md5(f"{row['task_name']}\x1f{row['item_key']}".encode()).hexdigest()[:12]

        def result(label: str, index: int, prefix: str = prefix, row: dict = row) -> dict[str, Any]:
            # A result id unique in the file (Label Studio requires distinct ids for every result).
            return {
                "id": f"{prefix}-{index}",
                "from_name": row["task_name"],
                "to_name": to_name,
                "type": "choices",
                # Several choices were joined by '|' in int_label_votes.
                "value": {"choices": label.split("|")},
            }

        predictions: list[dict[str, Any]] = [
            {"model_version": f"annotator:{vote['annotator_key']}", "result": [result(vote["label"], index)]}
            for index, vote in enumerate(row["votes"])
        ]
        if row["prediction_label"] is not None:
            model = {
                "model_version": row["prediction_model_version"] or "model",
                "result": [result(row["prediction_label"], len(predictions))],
            }
            if row["prediction_score"] is not None:
                model["score"] = float(row["prediction_score"])
            predictions.append(model)
        tasks.append(
            {
                "data": {
                    to_name: row["item_text"],
                    "item_key": row["item_key"],
                    "task_name": row["task_name"],
                    "reasons": ", ".join(row["reasons"]),
                    "consensus_label": row["consensus_label"],
                    "priority": int(row["priority"]),
                },
                "predictions": predictions,
            }
        )
    return tasks


def export_queue(config: Config, out: Path, task: str | None = None, to_name: str = "text") -> tuple[int, int]:
    """Write marts.adjudication_queue (one task or all) to OUT as a Label Studio import JSON.

    Returns:
        (tasks written, tasks without text: their adjudication cannot find its way back).

    Raises:
        ExportError: no built warehouse, OUT's folder missing, or TASK not a labeled task.
        WarehouseBusy: a run is writing the warehouse.
    """
    folder = out.resolve().parent
    if not folder.is_dir():
        raise ExportError(f"--out {out}: the folder {folder} does not exist; create it or choose another path")
    if out.is_dir():
        raise ExportError(f"--out {out} is a folder; give a file name, e.g. {out / 'adjudication.json'}")
    con = connect_read_only(config)
    if con is None or not table_exists(con, "marts", "adjudication_queue"):
        if con is not None:
            con.close()
        raise ExportError(
            f"the warehouse {config.database_path} has no marts.adjudication_queue yet: run `refinery run` first"
        )
    try:
        known = [r[0] for r in con.execute("select distinct task_name from marts.item_labels order by 1").fetchall()]
        if task is not None and task not in known:
            listed = ", ".join(known) if known else "none (no votes landed)"
            raise ExportError(f"--task {task!r} is not a labeled task; the tasks are: {listed}")
        cursor = con.execute(
            "select task_name, item_key, item_text, reasons, votes, consensus_label, prediction_label, "
            "prediction_score, prediction_model_version, priority from marts.adjudication_queue "
            "where ? is null or task_name = ? order by task_name, priority",
            [task, task],
        )
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
    finally:
        con.close()
    tasks = queue_tasks(rows, to_name=to_name)
    out.write_text(json.dumps(tasks, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(tasks), sum(1 for row in rows if row["item_text"] is None)
