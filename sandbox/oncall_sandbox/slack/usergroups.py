"""usergroups.*: create, update, enable, disable, list, and the member list (users.list/users.update).

Every usergroups method answers `paid_teams_only` on the free plan. Names and handles are unique
across groups, disabled ones included.
"""

from __future__ import annotations

from typing import Any

from oncall_sandbox.slack.call import METHODS, PAID_PLANS, Call, SlackError, list_param
from oncall_sandbox.state import Usergroup


def render_group(call: Call, group: Usergroup, *, users: bool, count: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": group.id,
        "team_id": call.slack.team_id,
        "is_usergroup": True,
        "is_subteam": True,
        "name": group.name,
        "description": group.description,
        "handle": group.handle,
        "is_external": False,
        "date_create": group.date_create,
        "date_update": group.date_update,
        "date_delete": group.date_delete,
        "auto_type": None,
        "auto_provision": False,
        "enterprise_subteam_id": "",
        "created_by": group.created_by,
        "updated_by": group.updated_by,
        "deleted_by": group.deleted_by,
        "prefs": {"channels": list(group.channels), "groups": []},
    }
    if users:
        out["users"] = list(group.users)
    if count:
        out["user_count"] = len(group.users)
    return out


def _require_paid(call: Call) -> None:
    if call.slack.plan not in PAID_PLANS:
        raise SlackError("paid_teams_only")


def _group(call: Call, *, include_disabled: bool = True) -> Usergroup:
    group_id = call.text("usergroup")
    if not group_id:
        raise SlackError("invalid_arguments")
    group = call.slack.usergroups.get(group_id)
    if group is None or (group.date_delete and not include_disabled):
        raise SlackError("no_such_subteam")
    return group


def _written(call: Call, group: Usergroup) -> None:
    group.touch(call.sandbox.clock.timestamp())
    group.updated_by = call.slack.bot_user_id


def _check_name_unique(call: Call, name: str, handle: str, skip: str | None = None) -> None:
    for other in call.slack.usergroups.values():
        if other.id == skip:
            continue
        if other.name.lower() == name.lower() or (handle and other.handle.lower() == handle.lower()):
            raise SlackError("name_already_exists")


@METHODS.handles("usergroups.list", scope="usergroups:read")
def usergroups_list(call: Call) -> dict[str, Any]:
    _require_paid(call)
    include_disabled = call.flag("include_disabled")
    include_users = call.flag("include_users")
    include_count = call.flag("include_count")
    groups = [g for g in call.slack.usergroups.values() if include_disabled or not g.date_delete]
    return {"usergroups": [render_group(call, g, users=include_users, count=include_count) for g in groups]}


@METHODS.handles("usergroups.create", scope="usergroups:write", writes=True)
def usergroups_create(call: Call) -> dict[str, Any]:
    _require_paid(call)
    name = call.text("name").strip()
    if not name:
        raise SlackError("invalid_name")
    handle = call.text("handle").strip() or name.lower().replace(" ", "-")
    _check_name_unique(call, name, handle)
    now = call.now()
    group = Usergroup(
        id=call.slack.new_group_id(),
        handle=handle,
        name=name,
        description=call.text("description"),
        users=[],
        channels=list_param(call.params.get("channels")),
        date_create=now,
        date_update=now,
        created_by=call.slack.bot_user_id,
    )
    _written(call, group)
    call.target = group.id
    call.slack.usergroups[group.id] = group
    return {"usergroup": render_group(call, group, users=True, count=call.flag("include_count"))}


@METHODS.handles("usergroups.update", scope="usergroups:write", writes=True)
def usergroups_update(call: Call) -> dict[str, Any]:
    _require_paid(call)
    group = _group(call)
    name = call.text("name").strip() or group.name
    handle = call.text("handle").strip() or group.handle
    _check_name_unique(call, name, handle, skip=group.id)
    group.name, group.handle = name, handle
    if "description" in call.params:
        group.description = call.text("description")
    if "channels" in call.params:
        group.channels = list_param(call.params.get("channels"))
    _written(call, group)
    return {"usergroup": render_group(call, group, users=True, count=call.flag("include_count"))}


@METHODS.handles("usergroups.enable", scope="usergroups:write", writes=True)
def usergroups_enable(call: Call) -> dict[str, Any]:
    _require_paid(call)
    group = _group(call)
    # Enabling an enabled group succeeds unchanged (idempotent), as disabling a disabled one does.
    if group.date_delete:
        group.date_delete = 0
        group.deleted_by = None
        _written(call, group)
    return {"usergroup": render_group(call, group, users=True, count=call.flag("include_count"))}


@METHODS.handles("usergroups.disable", scope="usergroups:write", writes=True)
def usergroups_disable(call: Call) -> dict[str, Any]:
    _require_paid(call)
    group = _group(call)
    if not group.date_delete:
        group.date_delete = call.now()
        group.deleted_by = call.slack.bot_user_id
        _written(call, group)
    return {"usergroup": render_group(call, group, users=True, count=call.flag("include_count"))}


@METHODS.handles("usergroups.users.list", scope="usergroups:read")
def usergroups_users_list(call: Call) -> dict[str, Any]:
    _require_paid(call)
    group = _group(call, include_disabled=call.flag("include_disabled"))
    return {"users": list(group.users)}


@METHODS.handles("usergroups.users.update", scope="usergroups:write", writes=True)
def usergroups_users_update(call: Call) -> dict[str, Any]:
    _require_paid(call)
    group = _group(call)
    requested = list_param(call.params.get("users"))
    # Slack refuses to empty a group ("use usergroups.disable instead").
    if not requested:
        raise SlackError("no_users_provided")
    members: list[str] = []
    for user_id in requested:
        user = call.slack.users.get(user_id)
        if user is None or user.is_bot or (user.is_restricted and not user.is_ultra_restricted):
            raise SlackError("invalid_users")
        if user.is_ultra_restricted:
            raise SlackError("single_channel_guests_cannot_be_added")
        # Deactivated accounts are dropped: Slack removes them from groups when deactivating.
        if not user.deleted and user_id not in members:
            members.append(user_id)
    if not members:
        raise SlackError("invalid_users")
    group.users = members
    group.updates += 1
    _written(call, group)
    return {"usergroup": render_group(call, group, users=True, count=True)}
