"""Refinery's orchestration: Dagster assets for ingestion, dbt and releases, and the CLI."""
