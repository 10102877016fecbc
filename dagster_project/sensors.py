"""Dagster sensors for stream sources: one per `redis_stream` / `nats_jetstream` source.

Each tick asks the broker cheaply whether anything waits for Refinery (Redis: the consumer
group's lag + pending, XINFO; NATS: the durable consumer's num_pending + num_ack_pending)
and, if so, requests a run of that source's ingestion assets. The run key names the
broker's position (last id / sequence, what the group has consumed) and the source's latest
finished run, so a tick that sees the same backlog as the last one requests nothing new
until a run has finished (whatever its outcome: a failed run is retried), and no run is
requested while one for the source is still queued or running. `sensor_interval_seconds`
(default 30; 0 = no sensor) sets the minimum time between ticks.
"""

import dagster as dg

from dagster_project.assets.ingestion import planned_streams, raw_asset_key
from ingestion.sources.streams import build
from refinery.config import Config

STREAM_KINDS = {"redis_stream", "nats_jetstream"}
DEFAULT_INTERVAL_SECONDS = 30
SOURCE_TAG = "refinery/stream_source"
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_stream_sensors(config: Config) -> list[dg.SensorDefinition]:
    """A sensor for every stream source of the config whose `sensor_interval_seconds` is not 0."""
    return [
        stream_sensor(config, name)
        for name, source in config.sources.items()
        if source.kind in STREAM_KINDS and source.option("sensor_interval_seconds", DEFAULT_INTERVAL_SECONDS) != 0
    ]


def stream_sensor(config: Config, name: str) -> dg.SensorDefinition:
    """The sensor that requests a run of source `name`'s ingestion when its broker has new events."""
    source = config.sources[name]
    keys = [raw_asset_key(name, spec.name) for spec in planned_streams(config, name)]
    interval = int(source.option("sensor_interval_seconds", DEFAULT_INTERVAL_SECONDS))

    @dg.sensor(
        name=f"{name}_stream_sensor",
        minimum_interval_seconds=interval,
        target=dg.AssetSelection.assets(*keys),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Runs the ingestion of stream source '{name}' ({source.kind}) when new events wait.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        active = context.instance.get_run_records(
            filters=dg.RunsFilter(tags={SOURCE_TAG: name}, statuses=ACTIVE_STATUSES), limit=1
        )
        if active:
            return dg.SkipReason(f"a run of '{name}' is already queued or running ({active[0].dagster_run.run_id})")
        try:
            waiting, position = build(source, config).backlog()
        except Exception as exc:  # the broker is down: say so on the tick, try again next time
            return dg.SkipReason(f"cannot check '{name}': {exc}")
        if waiting <= 0:
            return dg.SkipReason(f"nothing new in '{name}' (position {position})")
        # Dagster never reuses a run key: with the position alone, a run that failed before
        # reading (warehouse busy) would leave a quiet stream's backlog until a new event came
        last_run = context.instance.get_run_records(filters=dg.RunsFilter(tags={SOURCE_TAG: name}), limit=1)
        after = last_run[0].dagster_run.run_id if last_run else "none"
        return dg.RunRequest(
            run_key=f"{name}:{position}:after:{after}",
            asset_selection=keys,
            tags={SOURCE_TAG: name, "refinery/waiting": str(waiting)},
        )

    return _sensor
