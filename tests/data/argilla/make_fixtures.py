"""Write the Argilla export fixtures of tests/unit/test_label_sources.py and
tests/integration/test_label_imports.py with the real SDK (not run by the tests).

    python3.11 -m venv /tmp/argilla-venv && /tmp/argilla-venv/bin/pip install argilla==2.8.0 requests
    /tmp/argilla-venv/bin/python tests/data/argilla/make_fixtures.py

`records.json` is what `dataset.records.to_json(path)` writes (`JsonIO.to_json`: the nested
`Record.to_dict()` of each record, which leaves the response status out); `flattened.json` is
`dataset.records.to_list(flatten=True)` dumped with `json.dump` (parallel lists per question,
with each response's status). No Argilla server is needed: the records are built in memory.
"""

import json
from pathlib import Path

import argilla as rg
from argilla.records._io import GenericIO, JsonIO

HERE = Path(__file__).resolve().parent
U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
U3 = "33333333-3333-4333-8333-333333333333"

records = [
    rg.Record(
        id="sdk-1",
        fields={"text": "My card was charged twice for order ORD-1001, please refund one of the charges."},
        metadata={"ticket_id": "T-1001"},
        responses=[
            rg.Response("urgency", "high", user_id=U1, status="submitted"),
            rg.Response("urgency", "medium", user_id=U2, status="submitted"),
            rg.Response("urgency", "high", user_id=U3, status="draft"),
            rg.Response("tags", ["refund", "billing"], user_id=U1, status="submitted"),
            rg.Response("clarity", 4, user_id=U1, status="submitted"),
        ],
        suggestions=[
            rg.Suggestion("urgency", "high", score=0.88, agent="urgency-clf-v2"),
            rg.Suggestion("tags", ["billing", "refund"], score=[0.93, 0.61], agent="tagger-v1"),
        ],
    ),
    rg.Record(
        id="sdk-2",
        fields={"text": "How do I change the e-mail address on my account?"},
        metadata={"ticket_id": "T-1002"},
        responses=[
            rg.Response("urgency", "low", user_id=U1, status="submitted"),
            rg.Response("urgency", "low", user_id=U2, status="discarded"),
        ],
    ),
    rg.Record(id="sdk-3", fields={"text": "Not annotated yet."}, metadata={"ticket_id": "T-1003"}),
]

for name in ("records.json",):
    (HERE / name).unlink(missing_ok=True)
JsonIO.to_json(records, HERE / "records.json")
(HERE / "flattened.json").write_text(json.dumps(GenericIO.to_list(records, flatten=True)) + "\n")
