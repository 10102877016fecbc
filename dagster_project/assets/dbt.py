"""The dbt project as Dagster assets: `dbt build`, with dbt tests as asset checks.

Keys and groups come from the manifest: a model's key is `<schema>/<name>` (e.g.
`marts/training_examples`) and its group is its layer folder. A model that unions every raw
stream of a role (`meta.refinery.union_role` in its YAML) depends on those raw assets, so the
lineage runs from each source to the release without a hard-coded list of models.
"""

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from ingestion.warehouse import warehouse_lock
from refinery import progress
from refinery.config import Config
from refinery.dbt import dbt_target, dbt_vars, save_last_build, summarize_run_results
from refinery.settings import DBT_PROJECT_DIR, WRITER_POOL, venv_executable

WATCHED = ("models", "macros", "tests", "snapshots", "seeds", "dbt_project.yml", "profiles.yml")


# Dagster's own manifest and run artefacts, apart from `target/` of direct `dbt` commands
# (those parse without var refinery_sources and would otherwise replace Dagster's manifest).
DAGSTER_TARGET_PATH = Path("target") / "dagster"


def make_dbt_project() -> DbtProject:
    return DbtProject(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=dbt_target(), target_path=DAGSTER_TARGET_PATH
    )


def ensure_manifest(project: DbtProject, variables: Mapping[str, Any]) -> Path:
    """Run `dbt parse` when the manifest is missing, older than any project file, or parsed with other vars."""
    manifest = Path(project.manifest_path)
    vars_json = json.dumps(dict(variables), sort_keys=True)
    vars_file = manifest.parent / "refinery_vars.json"
    newest = 0.0
    for name in WATCHED:
        path = DBT_PROJECT_DIR / name
        files = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
        for file in files:
            newest = max(newest, file.stat().st_mtime)
    same_vars = vars_file.exists() and vars_file.read_text() == vars_json
    if manifest.exists() and manifest.stat().st_mtime >= newest and same_vars:
        return manifest
    result = subprocess.run(
        [
            venv_executable("dbt"),
            "parse",
            "--quiet",
            "--target",
            dbt_target(),
            "--vars",
            vars_json,
            "--target-path",
            str(DAGSTER_TARGET_PATH),
        ],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)},
    )
    if result.returncode != 0 or not manifest.exists():
        raise RuntimeError(f"`dbt parse` failed in {DBT_PROJECT_DIR}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    vars_file.write_text(vars_json)
    return manifest


class RefineryTranslator(DagsterDbtTranslator):
    """Groups by layer folder (snapshots: `snapshots`); union models depend on the raw assets of their role."""

    def __init__(self, role_assets: Mapping[str, list[dg.AssetKey]]) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self.role_assets = role_assets

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id) or manifest.get("sources", {}).get(unique_id) or {}
        meta = {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}
        role = (meta.get("refinery") or {}).get("union_role")
        if role:
            spec = spec.merge_attributes(deps=self.role_assets.get(role, []))
        fqn = node.get("fqn") or []
        if node.get("resource_type") in {"model", "snapshot"} and len(fqn) > 2:
            spec = spec.replace_attributes(group_name=fqn[1])
        elif node.get("resource_type") == "snapshot":
            spec = spec.replace_attributes(group_name="snapshots")
        return spec


def build_dbt_assets(config: Config, role_assets: Mapping[str, list[dg.AssetKey]]) -> dg.AssetsDefinition:
    project = make_dbt_project()
    variables = dbt_vars(config)
    manifest = ensure_manifest(project, variables)

    @dbt_assets(
        manifest=manifest,
        project=project,
        name="dbt_build",
        dagster_dbt_translator=RefineryTranslator(role_assets),
        pool=WRITER_POOL,
    )
    def _dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """Clean, deduplicate and label with `dbt build`; dbt tests are the quality gates."""
        progress.say("  → dbt build")
        log_path = config.warehouse_dir / "logs" / "dbt_build.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with warehouse_lock(config.warehouse_dir), log_path.open("w") as log:
            # One artefact folder, replaced by each build: the last build stays inspectable and
            # target/ does not grow by a folder (~6 MB) per run.
            build_target = DBT_PROJECT_DIR / DAGSTER_TARGET_PATH / "last_build"
            shutil.rmtree(build_target, ignore_errors=True)
            invocation = dbt.cli(
                ["build", "--vars", json.dumps(variables)],
                context=context,
                raise_on_error=False,
                target_path=build_target,
            )
            events = iter(invocation.stream())
            while True:
                # dagster-dbt echoes every dbt line to stdout: in a CLI run it goes to the log
                # file so the terminal shows progress; in a UI run Dagster captures it.
                with contextlib.redirect_stdout(log) if progress.enabled() else contextlib.nullcontext():
                    event = next(events, None)
                if event is None:
                    break
                _report(event)
                yield event
            summary = summarize_run_results(invocation.get_artifact("run_results.json"))
            # A release may only come from a build of the whole project (every gate ran).
            summary["complete"] = not context.is_subset
            save_last_build(config, summary)
        progress.say(f"    dbt log: {log_path}")
        progress.say(
            f"    dbt: {summary['counts'].get('success', 0) + summary['counts'].get('pass', 0)} ok, "
            f"{len(summary['failures'])} failed, {summary['counts'].get('warn', 0)} warnings"
        )
        if not summary["success"]:
            names = ", ".join(f["name"] for f in summary["failures"][:5])
            raise dg.Failure(
                description=f"dbt build failed ({len(summary['failures'])} error(s): {names}); nothing is released",
                metadata={"failures": dg.MetadataValue.json(summary["failures"])},
            )

    return _dbt_build


def _report(event: Any) -> None:
    if isinstance(event, dg.AssetCheckResult) and not event.passed:
        progress.say(f"    check failed: {event.asset_key.to_user_string()} {event.check_name}")
