"""The web process: a dashboard, ``/metrics``, ``/healthz`` and the alert evaluator.

Worker dynos cannot be scraped nor looked at, so one small process that can reads what the
scheduler keeps in Redis (task state, run records, health-slot coverage, queues, heartbeats) and
shows it, serves it to Prometheus, and tells an operator when something stops. It writes nothing
but its own heartbeat and alert state, unless an operator token is given (pause, resume, trigger).
Everything is read at request time: there is no cache to go stale, and any replica answers alike.
"""
