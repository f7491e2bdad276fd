"""Every Celery setting of aggregen, derived from ``AGGREGEN_*`` environment variables.

Celery reads this module (``app.config_from_object("celeryconfig")``) in every worker, in
beat and in the coordinator. The values come from ``tasks.settings``, which reads and checks
the environment once.
"""

from __future__ import annotations

from kombu.entity import Exchange, Queue

from tasks import settings as _settings
from tasks.schedule import run_entries
from tasks.store import TCP_KEEPALIVE_OPTIONS

_run = _settings.load()
# Broker: Redis holds the queues. Reconnect forever; a Redis restart is an outage, not an end.
broker_url = _settings.broker_url(_run.connection_url())
# TLS for a rediss:// URL: the certificate is always verified, against the CA if given.
broker_use_ssl = _run.tls_options() or None
broker_connection_retry_on_startup = True
broker_connection_max_retries = None
broker_channel_error_retry = True
broker_transport_options = {
    # Redelivery of lost numbers is done end to end by the ledger (see docs/reliability.md);
    # kombu's own restore of unacknowledged messages stays a slow second line.
    "visibility_timeout": 3600,
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
    "retry_on_timeout": True,
    "health_check_interval": 15,
    # Ignored for a unix socket.
    "socket_keepalive": True,
    "socket_keepalive_options": TCP_KEEPALIVE_OPTIONS,
}
# Nothing reads task results: the state that matters is in Redis, written by Lua scripts.
result_backend = None
task_ignore_result = True

# JSON only: a pickle or YAML message is refused, never deserialized.
task_serializer = "json"
result_serializer = "json"
event_serializer = "json"
accept_content = ["json"]

# Acknowledge after the task ran; a pool child that dies gives its message back.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True
task_publish_retry = True
task_publish_retry_policy = {
    "max_retries": 20,
    "interval_start": 0,
    "interval_step": 0.25,
    "interval_max": 1,
}

# Separate queues, so each side scales on its own. Flush has its own queue so that a window
# closes on time even when a backlog waits on the aggregate queue.
task_queues = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in ("generate", "aggregate", "flush")
)
task_default_queue = "aggregate"
task_routes = {
    "aggregen.generate": {"queue": "generate", "routing_key": "generate"},
    "aggregen.aggregate": {"queue": "aggregate", "routing_key": "aggregate"},
    "aggregen.flush": {"queue": "flush", "routing_key": "flush"},
}

# Beat: one generate per shard every interval and one flush every window, on a fixed grid
# anchored at the run's start (tasks/schedule.py), so ticks do not drift.
beat_scheduler = "tasks.schedule:RunScheduler"
beat_max_loop_interval = 1
# Until a run is found, beat schedules from these settings; then from the run's record.
beat_schedule = run_entries(shards=_run.shards, interval_s=_run.interval_s, window_s=_run.window_s)

# Messages that cannot be decoded or name no known task are kept as dead letters.
worker_consumer = "tasks.consumer:DeadLetteringConsumer"

timezone = "UTC"
enable_utc = True
worker_send_task_events = False
