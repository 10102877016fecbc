"""The README's configuration example of every source kind is valid configuration."""

import re
import sqlite3

import pytest

from refinery.config import KIND_MODULES, KIND_OPTIONS, load_config
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit


def test_every_kind_has_a_readme_example_that_validates(tmp_path, monkeypatch):
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index("## Source kinds") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    # the files, folders and manifest the example points at
    (tmp_path / "data" / "faq").mkdir(parents=True)
    (tmp_path / "data" / "faq" / "a.csv").write_text("question_id,answer\n1,yes\n")
    (tmp_path / "wiki").mkdir()
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "reviews-1.json").write_text("[]")
    (tmp_path / "exports" / "urgency").mkdir()
    (tmp_path / "exports" / "urgency" / "records.json").write_text("[]")
    for folder, name in (("labels", "urgency-1.csv"), ("predictions", "topic.csv")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text("item_id,label\n")
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "tickets.yaml").write_text(
        'version: "6.0.0"\nstreams:\n  - {type: DeclarativeStream, name: tickets}\n'
    )
    with sqlite3.connect(tmp_path / "data" / "notes.db") as con:
        con.execute("create table notes (id integer primary key, body text)")
    monkeypatch.setenv("CRM_DB_PASSWORD", "secret")
    monkeypatch.setenv("SHOP_DB_PASSWORD", "secret")
    path = tmp_path / "refinery.yml"
    path.write_text(example.replace("/srv/wiki-export", "wiki"))
    config = load_config(path)
    kinds = {source.kind for source in config.sources.values()}
    assert kinds == set(KIND_OPTIONS) | set(KIND_MODULES)
