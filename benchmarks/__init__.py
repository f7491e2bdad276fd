"""Benchmarks of aggregen against plain Celery and plain Redis, run on one machine.

``python -m benchmarks`` (``make bench``) runs them all, prints a table and writes JSON to
``benchmarks/results/``. They print figures; they never fail because a machine is slow.
"""
