"""Large generated directories: the seed's `generated_users` / `generated_schedules` expanded.

Objects are made with `model_construct` (the seed section itself was validated) and every field is
given, because pydantic's default factories are slow in `model_construct`: 12k Slack users, 10k
PagerDuty users and 2k schedules build in about 0.4 s.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from oncall_sandbox.seed import (
    GeneratedPagerDutyUsers,
    GeneratedSchedules,
    GeneratedSlackUsers,
    PagerDutyUser,
    Schedule,
    ScheduleLayer,
    SlackAccessLog,
    SlackUser,
)


def generated_slack_ids(generated: GeneratedSlackUsers | None) -> list[str]:
    return [f"{generated.id_prefix}{n:07d}" for n in range(1, generated.count + 1)] if generated else []


def generated_pagerduty_ids(generated: GeneratedPagerDutyUsers | None) -> list[str]:
    return [f"{generated.id_prefix}{n:07d}" for n in range(1, generated.count + 1)] if generated else []


def generated_slack_users(generated: GeneratedSlackUsers) -> list[SlackUser]:
    users = []
    for n, user_id in enumerate(generated_slack_ids(generated), start=1):
        name = f"{generated.name_prefix}{n:05d}"
        users.append(
            SlackUser.model_construct(
                id=user_id,
                name=name,
                real_name=f"User {n:05d}",
                display_name=name,
                email=f"{name}@{generated.email_domain}",
                tz=generated.tz,
                deleted=bool(generated.deactivated_every) and n % generated.deactivated_every == 0,
                is_restricted=bool(generated.guest_every) and n % generated.guest_every == 0,
            )
        )
    return users


def generated_access_logs(generated: GeneratedSlackUsers, start: datetime) -> list[SlackAccessLog]:
    logs = []
    for n, user_id in enumerate(generated_slack_ids(generated), start=1):
        if generated.never_logged_in_every and n % generated.never_logged_in_every == 0:
            continue
        last = start - timedelta(days=n % generated.last_login_spread_days, hours=1 + n % 7)
        logs.append(
            SlackAccessLog.model_construct(
                user_id=user_id, date_first=last - timedelta(days=30), date_last=last, count=1 + n % 50
            )
        )
    return logs


def generated_pagerduty_users(generated: GeneratedPagerDutyUsers) -> list[PagerDutyUser]:
    users = []
    for n, user_id in enumerate(generated_pagerduty_ids(generated), start=1):
        name = f"{generated.name_prefix}{n:05d}"
        users.append(
            PagerDutyUser.model_construct(
                id=user_id, name=name, email=f"{name}@{generated.email_domain}", time_zone=generated.time_zone
            )
        )
    return users


def generated_schedules(generated: GeneratedSchedules, user_ids: list[str]) -> list[Schedule]:
    schedules = []
    width = min(generated.users_per_schedule, len(user_ids))
    for n in range(1, generated.count + 1):
        first = ((n - 1) * width) % len(user_ids)
        members = [user_ids[(first + k) % len(user_ids)] for k in range(width)]
        layer = ScheduleLayer.model_construct(
            id=f"PL{n:07d}",
            name="Daily",
            start=generated.start,
            rotation_virtual_start=generated.start,
            rotation_turn_length_seconds=86400,
            users=members,
            # Every field given: pydantic's default factories cost ~0.3 ms each in model_construct.
            end=None,
            restrictions=[],
        )
        schedules.append(
            Schedule.model_construct(
                id=f"{generated.id_prefix}{n:06d}",
                name=f"Generated schedule {n:05d}",
                time_zone=generated.time_zone,
                layers=[layer],
                description="",
                overrides=[],
                teams=[],
            )
        )
    return schedules
