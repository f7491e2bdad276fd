"""aggregen: generators tick numbers, aggregators count them exactly once, windows print sums.

``celery -A tasks worker|beat|inspect|flower`` finds the Celery app here.
"""

from __future__ import annotations

# Importing the task modules registers their tasks with the app.
from tasks import aggregator, generator, window
from tasks.celery_app import app

__all__ = ["aggregator", "app", "generator", "window"]
