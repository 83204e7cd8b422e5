"""The weekly digest: last week's costs (Monday to Sunday in the organization's time zone) by source, the top
workflows, agents and cloud services, what changed most against the week before, and the open
recommendations; one email per member who wants it (`weekly_digest_enabled`), sent Monday from 08:00 local."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.alerts.findings import hidden_repositories
from cicosts.alerts.notifications import usd_text
from cicosts.alerts.repository import Target, grouped_costs
from cicosts.alerts.schemas import AlertScope
from cicosts.ci.dashboard.service import view_of
from cicosts.ci.recommendations.service import recommendations
from cicosts.config import Settings
from cicosts.kit.money import change_percent
from cicosts.kit.periods import Period, local_midnight, zone
from cicosts.llm.dependencies import LLMScope
from cicosts.llm.optimizations.service import optimizations
from cicosts.models import Organization
from cicosts.notify.email import message
from cicosts.notify.outbox import About, enqueue_email
from cicosts.notify.recipients import digest_recipients

TOP = 5
CHANGES = 3
RECOMMENDATION_DAYS = 30
SOURCES = {"ci": "CI/CD (GitHub Actions)", "llm": "LLM and agents", "cloud": "Cloud"}


def _change(current: int, previous: int) -> str:
    percent = change_percent(current, previous)
    if percent is None:
        return "new this week"
    return f"{percent:+.1f}% on the week before ({usd_text(previous)})"


async def _recommendations(
    session: AsyncSession, org: Organization, settings: Settings, now: datetime
) -> list[str]:
    """The open CI recommendations and LLM optimizations, largest monthly saving first."""
    found: list[tuple[float, str]] = []
    ci = await recommendations(session, await view_of(session, org, settings), RECOMMENDATION_DAYS, now)
    for item in ci.recommendations:
        found.append((item.estimated_savings_monthly, item.title))
    llm = await optimizations(session, LLMScope(org, None), RECOMMENDATION_DAYS, now)
    for optimization in llm.optimizations:
        found.append((optimization.estimated_savings_monthly, optimization.title))
    found.sort(key=lambda pair: -pair[0])
    lines = [f"{title}: saves about ${saving:,.2f} a month" for saving, title in found]
    if len(lines) > TOP:
        lines = [*lines[:TOP], f"and {len(lines) - TOP} more"]
    return lines


async def digest_paragraphs(
    session: AsyncSession, org: Organization, week: Period, settings: Settings, now: datetime
) -> list[str] | None:
    """The digest's lines for `week`; None when the organization had no costs then or the week before."""
    hidden = await hidden_repositories(session, org, settings)
    everything = Target(org.id, AlertScope(), hidden)
    before = week.previous()
    this_week = {
        key[0]: cost
        for key, cost in await grouped_costs(session, everything, week.start, week.end, ["source"])
    }
    last_week = {
        key[0]: cost
        for key, cost in await grouped_costs(session, everything, before.start, before.end, ["source"])
    }
    if not this_week and not last_week:
        return None
    total, previous_total = sum(this_week.values()), sum(last_week.values())
    lines = [f"Last week cost {usd_text(total)}: {_change(total, previous_total)}.", "By source:"]
    for source, label in SOURCES.items():
        if source in this_week or source in last_week:
            cost = this_week.get(source, 0)
            lines.append(f"• {label}: {usd_text(cost)}, {_change(cost, last_week.get(source, 0))}")
    tables = [
        ("Top workflows", "ci", ["sub_account", "resource"]),
        ("Top agents", "llm", ["sub_account", "resource"]),
        ("Top cloud services", "cloud", ["provider", "service"]),
    ]
    for title, source, columns in tables:
        target = Target(org.id, AlertScope(source=source), hidden)
        rows = await grouped_costs(session, target, week.start, week.end, columns, TOP)
        if rows:
            lines.append(f"{title}:")
            lines += [f"• {' / '.join(names)}: {usd_text(cost)}" for names, cost in rows]
    columns = ["source", "sub_account", "resource"]
    now_by = dict(await grouped_costs(session, everything, week.start, week.end, columns))
    then_by = dict(await grouped_costs(session, everything, before.start, before.end, columns))
    moves = sorted(
        ((now_by.get(key, 0) - then_by.get(key, 0), key) for key in now_by.keys() | then_by.keys()),
        key=lambda move: (-abs(move[0]), move[1]),
    )
    moved = [(delta, key) for delta, key in moves if delta][:CHANGES]
    if moved:
        lines.append("Biggest changes:")
        for delta, (source, sub_account, resource) in moved:
            sign = "+" if delta > 0 else "-"
            lines.append(
                f"• {SOURCES.get(source, source)}, {sub_account} / {resource}: {sign}{usd_text(abs(delta))}"
                f" ({usd_text(then_by.get((source, sub_account, resource), 0))} to"
                f" {usd_text(now_by.get((source, sub_account, resource), 0))})"
            )
    advice = await _recommendations(session, org, settings, now)
    lines.append("Open recommendations:" if advice else "No open recommendations.")
    lines += [f"• {line}" for line in advice]
    return lines


async def send_digest(
    session: AsyncSession, org_id: int, monday: date, settings: Settings, now: datetime
) -> int:
    """Queue the digest of the week before `monday` for each member who wants it; how many were queued."""
    org = await session.get(Organization, org_id)
    if org is None:
        return 0
    recipients = await digest_recipients(session, org.id)
    if not recipients:
        return 0
    tz = zone(org.time_zone)
    week = Period(local_midnight(monday - timedelta(days=7), tz), local_midnight(monday, tz))
    lines = await digest_paragraphs(session, org, week, settings, now)
    if lines is None:
        return 0
    first, last = monday - timedelta(days=7), monday - timedelta(days=1)
    subject = f"[CICosts] {org.name}: the week of {first.isoformat()} to {last.isoformat()}"
    footer = (
        f"Times are in {tz.key}. You receive this weekly digest as a member of {org.name};"
        " turn it off in your notification settings."
    )
    queued = 0
    for user_id, address in recipients:
        email = message([address], subject, [*lines, footer])
        key = f"digest:{org.id}:{monday.isoformat()}:{user_id}"
        queued += await enqueue_email(session, email, settings, dedupe_key=key, about=About(org.id, key))
    return queued
