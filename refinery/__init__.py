"""Refinery's own Python: configuration, the `refinery` CLI, releases and reporting.

The five stages live beside it: `ingestion/` (sources and the DuckDB destination),
`dbt_project/` (cleaning, labeling and the marts), `dagster_project/` (the asset graph that
runs them) and the release catalog written by `refinery.release`.
"""
