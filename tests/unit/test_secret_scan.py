"""The secret scan of the leak tests finds a secret that DuckDB's compression hides from a byte scan."""

import duckdb
import pytest

from tests.secret_scan import secret_locations

pytestmark = pytest.mark.unit

SECRET = "tok-7f3a9c-SECRET"


def test_a_secret_in_many_compressed_rows_is_found_by_query_even_when_bytes_miss_it(tmp_path):
    # DuckDB compresses the column (FSST), so the literal is usually not in the file (whether a stray
    # copy is left in some block varies from run to run): the query must find it in every file.
    for attempt in range(10):
        database = tmp_path / f"refinery-{attempt}.duckdb"
        with duckdb.connect(str(database)) as con:
            con.execute("create schema raw")
            con.execute(
                f"create table raw.t as select i as id, 'row ' || i || ' Bearer {SECRET} end' as note, "
                f"('row ' || i || ' {SECRET}')::blob as raw_bytes from range(20000) as r(i)"
            )
            con.execute("create table main.clean as select 'nothing here' as note")
            con.execute("checkpoint")
        found = [where for where in secret_locations(database, SECRET) if not where.endswith(".duckdb")]
        assert found == ['"raw"."t"."note" (20000 rows)', '"raw"."t"."raw_bytes" (20000 rows)']
        assert secret_locations(database, "absent-secret") == []
