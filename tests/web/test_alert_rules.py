"""deploy/prometheus/alerts.yml states the web evaluator's conditions over metrics /metrics serves
(``promtool check rules`` and ``promtool test rules`` check its PromQL in .ci/run)."""

from __future__ import annotations

import re

import yaml

from scheduler.web.metrics import METRIC_LABELS
from tests.support import ROOT

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def family(name: str) -> str | None:
    if name in METRIC_LABELS:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in METRIC_LABELS:
            return name.removesuffix(suffix)
    return None


def test_every_condition_of_the_evaluator_has_a_rule():
    names = {rule["alert"] for rule in rules()}
    assert {
        "SchedulerTaskFailing",
        "SchedulerTaskStale",
        "SchedulerTaskUnserved",
        "SchedulerHealthSlotsIncomplete",
        "SchedulerProviderOutage",
    } <= names


def test_rules_use_only_served_metrics_and_their_labels():
    for rule in rules():
        expr = rule["expr"]
        used = set(re.findall(r"\bscheduler_[a-z_]+", expr))
        assert used, rule["alert"]
        families = {name: family(name) for name in used}
        assert all(families.values()), (rule["alert"], families)
        labels = set().union(*(METRIC_LABELS[f] for f in families.values()))
        for group in re.findall(r"on\(([^)]*)\)", expr):
            assert {g.strip() for g in group.split(",")} <= labels, (rule["alert"], group)
        for label in re.findall(r"\$labels\.(\w+)", rule["annotations"]["summary"]):
            assert label in labels, (rule["alert"], label)
        assert rule["labels"]["severity"] in ("warning", "critical")
