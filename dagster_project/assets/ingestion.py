"""Dagster assets for ingestion: one multi-asset per source, one asset per raw stream.

Asset keys are `raw/<source>__<stream>`, equal to the dbt sources' `meta.dagster.asset_key`,
so the graph runs from each raw table through the dbt models to the release.
"""

import dagster as dg

from ingestion.destination import StreamCounts, table_name
from ingestion.protocol import StreamSpec
from ingestion.sources import build_source
from ingestion.sync import sync_source
from refinery import progress
from refinery.config import Config, SourceConfig
from refinery.settings import WRITER_POOL


def planned_streams(config: Config, name: str) -> list[StreamSpec]:
    """The streams source `name` will land, as the source itself declares them (nothing is read)."""
    return build_source(config.sources[name], config, say=progress.say).planned_streams()


def raw_asset_key(source_name: str, stream: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table_name(source_name, stream)])


def role_asset_keys(config: Config) -> dict[str, list[dg.AssetKey]]:
    """role → the raw assets of that role (dbt models that union a role depend on them)."""
    keys: dict[str, list[dg.AssetKey]] = {}
    for name in config.sources:
        for spec in planned_streams(config, name):
            keys.setdefault(spec.role, []).append(raw_asset_key(name, spec.name))
    return keys


BOOKKEEPING = {
    "_refinery_streams": "Catalog of every landed stream (kind, role, key, text and group fields); dbt reads it.",
    "_refinery_state": "Last STATE per source stream, committed with the records before it.",
    "_refinery_sync_log": "One row per sync and stream: counts, bytes, status, error.",
    "_refinery_quarantine": "Everything that could not be landed, with the reason and the original bytes.",
}


# refinery.yml kind → the Dagster "kind" tag shown (with its icon) on the asset
KIND_TAGS = {
    "airbyte": "airbyte",
    "declarative": "airbyte",
    "postgres": "postgres",
    "mysql": "mysql",
    "sqlite": "sqlite",
    "redis_stream": "redis",
    "nats_jetstream": "nats",
}


def build_ingestion_assets(config: Config) -> list[dg.AssetsDefinition]:
    return [_source_asset(config, name, source) for name, source in config.sources.items()]


def bookkeeping_specs() -> list[dg.AssetSpec]:
    """The destination's own tables, written by every sync (observed, not materialized on their own)."""
    return [
        dg.AssetSpec(key=dg.AssetKey(["raw", table]), group_name="ingestion", kinds={"duckdb"}, description=text)
        for table, text in BOOKKEEPING.items()
    ]


def _source_asset(config: Config, name: str, source: SourceConfig) -> dg.AssetsDefinition:
    streams = [spec.name for spec in planned_streams(config, name)]
    specs = [
        dg.AssetSpec(
            key=raw_asset_key(name, stream),
            group_name="ingestion",
            kinds={"duckdb", KIND_TAGS.get(source.kind, "python")},
            description=f"Raw stream '{stream}' of source '{name}' (kind {source.kind}), Airbyte raw layout.",
            metadata={"table": f"raw.{table_name(name, stream)}", "source_kind": source.kind},
            tags={"refinery/source": name},
        )
        for stream in streams
    ]

    @dg.multi_asset(name=f"ingest_{name}", specs=specs, pool=WRITER_POOL, description=f"Sync source '{name}'.")
    def _ingest(context: dg.AssetExecutionContext):
        progress.say(f"  → ingest {name} ({source.kind})")
        result = sync_source(config, name, on_progress=progress.SyncProgress(name), say=progress.say)
        landed, quarantined = result.total("landed"), result.total("quarantined")
        progress.say(
            f"    {name}: {landed:,} landed, {quarantined:,} quarantined, "
            f"{result.duration_seconds:.1f} s, {result.status}"
        )
        if result.status != "succeeded":
            raise dg.Failure(
                description=f"source '{name}' failed: {result.error}",
                metadata={
                    "sync_id": result.sync_id,
                    "records_landed": landed,
                    "records_quarantined": quarantined,
                },
            )
        unattributed = result.streams.get("_unknown", StreamCounts()).quarantined
        for index, stream in enumerate(streams):
            counts = result.streams.get(stream, StreamCounts())
            seconds = max(result.duration_seconds, 1e-6)
            changes = [c for c in result.schema_changes.get(stream, []) if c[0] != "discovered"]
            metadata = {
                "sync_id": result.sync_id,
                "records_read": counts.read,
                "records_landed": counts.landed,
                "records_quarantined": counts.quarantined,
                "bytes_read": counts.bytes,
                "duration_seconds": round(result.duration_seconds, 3),
                "records_per_second": round(counts.read / seconds, 1),
                "megabytes_per_second": round(counts.bytes / 1e6 / seconds, 3),
                "table": f"raw.{table_name(name, stream)}",
            }
            if changes:
                metadata["schema_changes"] = dg.MetadataValue.md(
                    "\n".join(
                        f"- {change} `{column}`: {old or ''} → {new or ''}" for change, column, old, new in changes
                    )
                )
            if index == 0 and unattributed:
                metadata["quarantined_without_stream"] = unattributed
            yield dg.MaterializeResult(asset_key=raw_asset_key(name, stream), metadata=metadata)

    return _ingest
