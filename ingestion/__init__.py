"""Refinery ingestion: sources that speak the Airbyte protocol, and one DuckDB destination.

See docs/raw-layer.md for the tables this package writes.
"""
