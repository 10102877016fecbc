"""Refinery's orchestration: Dagster definitions, assets, sensors. Dagster code only."""
