"""Prometheus metrics of the ingest worker, served on /metrics by prometheus-client."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter("scada_ingest_received", "MQTT messages received")
STORED = Counter("scada_ingest_samples_stored", "Samples inserted into the historian")
REJECTED = Counter("scada_ingest_rejected", "Messages or values refused, kept with a reason")
DEDUPLICATED = Counter("scada_ingest_deduplicated", "Samples already stored (redeliveries)")
FILTERED = Counter("scada_ingest_deadband_filtered", "Values inside the historian deadband")
RECONNECTS = Counter("scada_ingest_reconnects", "Connections to the broker after the first")
DB_ERRORS = Counter("scada_ingest_db_errors", "Batches that failed to commit and were retried")
BATCH_SECONDS = Histogram(
    "scada_ingest_batch_seconds",
    "Time to store and commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_SIZE = Histogram(
    "scada_ingest_batch_messages", "Messages per batch", buckets=(1, 10, 100, 1000, 5000, 20000)
)
COMMIT_LATENCY = Histogram(
    "scada_ingest_commit_latency_seconds",
    "Per batch, commit time minus the oldest sample's time: each message's publish-to-stored "
    "latency is at most this (for devices that timestamp their values)",
    buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAG = Gauge("scada_ingest_lag_seconds", "Now minus the newest stored sample's time")
BUFFER = Gauge("scada_ingest_buffer_messages", "Messages received and not yet acknowledged")
CONNECTED = Gauge("scada_ingest_broker_connected", "1 while connected to the broker")
PART_FAILURES = Counter(
    "scada_ingest_part_failures",
    "Exceptions in one part of the worker (storage, alarms, writer, loops, live, ...), each "
    "caught so the other parts go on",
    ["part"],
)
NETWORK_RESTARTS = Counter(
    "scada_ingest_network_restarts", "Times the MQTT network thread failed and was restarted"
)
BROKER_DROPPED = Gauge(
    "scada_broker_dropped_messages",
    "Messages the broker reports it dropped since it started ($SYS/broker/publish/messages/"
    "dropped): lost before they reached the worker",
)
HEALTHY = Gauge(
    "scada_ingest_healthy",
    "1 while the worker's main loop turns and its MQTT network thread lives (the container "
    "health check reads it)",
)
LOOP_AT = Gauge("scada_ingest_loop_timestamp_seconds", "Epoch time of the main loop's last turn")
UNSTORABLE = Counter(
    "scada_ingest_unstorable",
    "Rejections the database refused even cut and cleaned: counted and logged, not stored",
)
INTERNAL_ERRORS = Counter(
    "scada_ingest_internal_errors", "Messages refused because decoding them hit a bug of ours"
)
