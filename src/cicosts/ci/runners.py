"""From a job's `runs-on` labels and runner group to the SKU GitHub bills it as."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SELF_HOSTED_LABEL = "self-hosted"
SELF_HOSTED_SKU = "self_hosted"

# GitHub-hosted image labels, by pattern, to their SKU. The first label of a job that matches wins.
STANDARD_LABELS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), sku)
    for pattern, sku in (
        (r"ubuntu-slim", "linux_slim"),
        (r"ubuntu-(latest|\d{2}\.\d{2})", "linux"),
        (r"ubuntu-(latest|\d{2}\.\d{2})-arm", "linux_2_core_arm"),
        (r"windows-(latest|\d{4})", "windows"),
        (r"windows-11-arm", "windows_2_core_arm"),
        (r"macos-(latest|\d{2})(-intel|-arm64)?", "macos"),
        (r"macos-(latest|\d{2})-large", "macos_l"),
        (r"macos-(latest|\d{2})-xlarge", "macos_xl"),
    )
)


@dataclass(frozen=True)
class OrgRunnerRule:
    """An organization's mapping: a SKU to price at GitHub's rate, or its own rate in nanodollars/min."""

    sku: str | None
    nanos_per_minute: int | None


@dataclass(frozen=True)
class RunnerMatch:
    """How a job's runner was identified. `rule` is set when an organization mapping decided it."""

    sku: str | None
    rule: OrgRunnerRule | None = None

    @property
    def self_hosted(self) -> bool:
        return self.sku == SELF_HOSTED_SKU


def standard_sku(label: str) -> str | None:
    normalized = label.strip().lower()
    for pattern, sku in STANDARD_LABELS:
        if pattern.fullmatch(normalized):
            return sku
    return None


def match_runner(
    labels: Sequence[str],
    runner_group: str | None,
    label_rules: Mapping[str, OrgRunnerRule],
    group_rules: Mapping[str, OrgRunnerRule],
) -> RunnerMatch:
    """Organization mappings first (they name larger and self-hosted runners), then self-hosted, then
    GitHub's own image labels."""
    for label in labels:
        rule = label_rules.get(label.lower())
        if rule is not None:
            return RunnerMatch(rule.sku, rule)
    if runner_group:
        rule = group_rules.get(runner_group.lower())
        if rule is not None:
            return RunnerMatch(rule.sku, rule)
    if any(label.lower() == SELF_HOSTED_LABEL for label in labels):
        return RunnerMatch(SELF_HOSTED_SKU)
    for label in labels:
        sku = standard_sku(label)
        if sku is not None:
            return RunnerMatch(sku)
    return RunnerMatch(None)
