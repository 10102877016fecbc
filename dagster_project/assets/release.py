"""The release asset: publish `marts/training_examples` as an immutable DuckLake version."""

import dagster as dg

from ingestion.warehouse import warehouse_lock
from refinery import progress
from refinery.config import Config
from refinery.dbt import load_last_build
from refinery.release import ReleaseError, publish_release
from refinery.settings import WRITER_POOL

TRAINING_EXAMPLES = dg.AssetKey(["marts", "training_examples"])
RELEASE_KEY = dg.AssetKey(["release", "training_examples"])


def build_release_asset(config: Config) -> dg.AssetsDefinition:
    @dg.asset(
        key=RELEASE_KEY,
        deps=[TRAINING_EXAMPLES],
        group_name="release",
        kinds={"ducklake"},
        pool=WRITER_POOL,
    )
    def training_examples_release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Publish training_examples as release vN when the build passed and its content changed."""
        progress.say("  → release")
        with warehouse_lock(config.warehouse_dir):
            try:
                result = publish_release(config, load_last_build(config))
            except ReleaseError as exc:
                raise dg.Failure(description=str(exc)) from exc
        manifest = result.manifest
        rows = manifest.get("rows", 0)
        progress.say(f"    release: {result.version} ({result.reason}), {rows:,} rows")
        metadata = {"version": result.version, "published": result.published, "reason": result.reason}
        if manifest:
            metadata.update(
                {
                    "content_hash": manifest["content_hash"],
                    "dagster/row_count": rows,
                    "rows_per_split": dg.MetadataValue.json(manifest["rows_per_split"]),
                    "rows_per_label": dg.MetadataValue.json(manifest["rows_per_label"]),
                    "code_commit": manifest["code_commit"],
                }
            )
        return dg.MaterializeResult(
            metadata=metadata,
            data_version=dg.DataVersion(manifest["content_hash"]) if manifest else None,
        )

    return training_examples_release
