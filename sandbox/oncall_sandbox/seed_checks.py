"""Seed checks pydantic cannot express: references between sections, duplicate ids and handles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oncall_sandbox.directory import generated_pagerduty_ids, generated_slack_ids
from oncall_sandbox.seed import SandboxSeed, TeamMember


def cross_references(seed: SandboxSeed) -> list[tuple[str, str]]:
    """Cross-references pydantic cannot see: (path, problem)."""
    problems: list[tuple[str, str]] = []
    slack_users = {u.id: u for u in seed.slack.users}
    generated = generated_slack_ids(seed.slack.generated_users)
    slack_ids = set(slack_users) | set(generated)
    if len(slack_ids) < len(slack_users) + len(generated):
        problems.append(("slack.generated_users.id_prefix", "generated ids collide with slack.users"))
    seen: set[str] = set()
    for i, u in enumerate(seed.slack.users):
        if u.id in seen:
            problems.append((f"slack.users[{i}].id", f"duplicate id {u.id}"))
        seen.add(u.id)
    if seed.slack.bot_user_id not in slack_users:
        problems.append(("slack.bot_user_id", f"{seed.slack.bot_user_id} is not in slack.users"))
    handles: set[str] = set()
    for i, g in enumerate(seed.slack.usergroups):
        if g.handle in handles:
            problems.append((f"slack.usergroups[{i}].handle", f"duplicate handle {g.handle!r}"))
        handles.add(g.handle)
        for j, member in enumerate(g.users):
            if member not in slack_ids:
                problems.append((f"slack.usergroups[{i}].users[{j}]", f"unknown Slack user {member}"))
    for i, c in enumerate(seed.slack.channels):
        for j, member in enumerate(c.members):
            if member not in slack_ids:
                problems.append((f"slack.channels[{i}].members[{j}]", f"unknown Slack user {member}"))
    for i, log in enumerate(seed.slack.access_logs):
        if log.user_id not in slack_ids:
            problems.append((f"slack.access_logs[{i}].user_id", f"unknown Slack user {log.user_id}"))

    pd = seed.pagerduty
    pd_generated = generated_pagerduty_ids(pd.generated_users)
    pd_users = {u.id for u in pd.users} | set(pd_generated)
    if len(pd_users) < len(pd.users) + len(pd_generated):
        problems.append(("pagerduty.generated_users.id_prefix", "generated ids collide with pagerduty.users"))
    ids: dict[str, str] = {}
    groups: tuple[tuple[str, Sequence[Any]], ...] = (
        ("users", pd.users),
        ("teams", pd.teams),
        ("schedules", pd.schedules),
        ("escalation_policies", pd.escalation_policies),
    )
    for kind, items in groups:
        for i, item in enumerate(items):
            if item.id in ids:
                problems.append((f"pagerduty.{kind}[{i}].id", f"id {item.id} already used by {ids[item.id]}"))
            ids[item.id] = f"pagerduty.{kind}[{i}]"
    teams = {t.id for t in pd.teams}
    for i, t in enumerate(pd.teams):
        for j, entry in enumerate(t.members):
            member_id = entry.user if isinstance(entry, TeamMember) else entry
            if member_id not in pd_users:
                problems.append((f"pagerduty.teams[{i}].members[{j}]", f"unknown PagerDuty user {member_id}"))
    for i, incident in enumerate(pd.incidents):
        if incident.id in ids:
            problems.append(
                (f"pagerduty.incidents[{i}].id", f"id {incident.id} already used by {ids[incident.id]}")
            )
        ids[incident.id] = f"pagerduty.incidents[{i}]"
        for j, user in enumerate(incident.assigned_to):
            if user not in pd_users:
                problems.append(
                    (f"pagerduty.incidents[{i}].assigned_to[{j}]", f"unknown PagerDuty user {user}")
                )
    if (
        pd.generated_users
        and pd.generated_users.team
        and pd.generated_users.team not in {t.id for t in pd.teams}
    ):
        problems.append(("pagerduty.generated_users.team", f"unknown team {pd.generated_users.team}"))
    if pd.generated_schedules and not pd.generated_users:
        problems.append(("pagerduty.generated_schedules", "needs pagerduty.generated_users to staff them"))
    schedules = {s.id for s in pd.schedules}
    for i, s in enumerate(pd.schedules):
        for j, team in enumerate(s.teams):
            if team not in teams:
                problems.append((f"pagerduty.schedules[{i}].teams[{j}]", f"unknown team {team}"))
        for j, layer in enumerate(s.layers):
            for k, member in enumerate(layer.users):
                if member not in pd_users:
                    problems.append(
                        (
                            f"pagerduty.schedules[{i}].layers[{j}].users[{k}]",
                            f"unknown PagerDuty user {member}",
                        )
                    )
            for k, r in enumerate(layer.restrictions):
                if (r.type == "weekly_restriction") != (r.start_day_of_week is not None):
                    problems.append(
                        (
                            f"pagerduty.schedules[{i}].layers[{j}].restrictions[{k}].start_day_of_week",
                            "required for weekly_restriction and only allowed there",
                        )
                    )
        for j, o in enumerate(s.overrides):
            if o.user not in pd_users:
                problems.append(
                    (f"pagerduty.schedules[{i}].overrides[{j}].user", f"unknown PagerDuty user {o.user}")
                )
            if o.end <= o.start:
                problems.append((f"pagerduty.schedules[{i}].overrides[{j}].end", "must be after start"))
    for i, ep in enumerate(pd.escalation_policies):
        for j, rule in enumerate(ep.rules):
            for k, target in enumerate(rule.targets):
                known = schedules if target.type == "schedule_reference" else pd_users
                if target.id not in known:
                    problems.append(
                        (
                            f"pagerduty.escalation_policies[{i}].rules[{j}].targets[{k}].id",
                            f"unknown {target.type.removesuffix('_reference')} {target.id}",
                        )
                    )
    return problems
