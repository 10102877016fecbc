"""Dagster definitions: assembles the assets; the logic lives in the modules beside it.

Load it with `refinery ui` (or `dagster dev -m dagster_project.definitions` with
REFINERY_CONFIG / REFINERY_HOME set).
"""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project.assets.dbt import build_dbt_assets, make_dbt_project
from dagster_project.assets.ingestion import bookkeeping_specs, build_ingestion_assets, role_asset_keys
from dagster_project.assets.release import build_release_asset
from dagster_project.sensors import build_stream_sensors
from refinery.config import Config
from refinery.settings import load_and_prepare, venv_executable

JOB_NAME = "refinery"


def build_definitions(config: Config) -> dg.Definitions:
    assets = [
        *build_ingestion_assets(config),
        build_dbt_assets(config, role_asset_keys(config)),
        build_release_asset(config),
        *bookkeeping_specs(),
    ]
    return dg.Definitions(
        assets=assets,
        jobs=[dg.define_asset_job(JOB_NAME, selection=dg.AssetSelection.all(), description="Every stage, in order.")],
        sensors=build_stream_sensors(config),
        resources={"dbt": DbtCliResource(project_dir=make_dbt_project(), dbt_executable=venv_executable("dbt"))},
    )


defs = build_definitions(load_and_prepare())
