"""The Slack app manifest asks for exactly the scopes the operator's Slack calls need.

One table, `clients/slack_scopes.py`, says which scope each Web API method needs; these tests check
that every method the Slack clients name is in it, that the sandbox enforces the same scopes, and
that deploy/slack-app-manifest.yaml requests those scopes and no others.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from oncall_operator.clients import slack_scopes
from oncall_operator.clients.slack_scopes import FEATURES, METHOD_ACCESS
from oncall_sandbox.slack.call import METHODS
from support.kube import REPO_ROOT

MANIFEST = REPO_ROOT / "deploy" / "slack-app-manifest.yaml"
CLIENTS = REPO_ROOT / "operator" / "oncall_operator" / "clients"
SLACK_CLIENTS = ("slack.py", "slack_people.py")


def _slack_methods(specs_dir: Path) -> set[str]:
    spec = json.loads((specs_dir / "slack-web-openapi-v2.json").read_text())
    return {path.lstrip("/") for path in spec["paths"]}


def _named_methods(known: set[str]) -> set[str]:
    """Every string constant in the Slack clients that is exactly a Web API method's name."""
    named: set[str] = set()
    for name in SLACK_CLIENTS:
        tree = ast.parse((CLIENTS / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
                named.add(node.value)
    return named


def test_every_method_the_clients_call_has_its_scopes_in_the_table(specs_dir: Path) -> None:
    known = _slack_methods(specs_dir)
    named = _named_methods(known)
    assert "usergroups.users.update" in named and "team.accessLogs" in named  # the scan sees calls
    assert named - set(METHOD_ACCESS) == set(), "add these methods to clients/slack_scopes.py"
    assert set(METHOD_ACCESS) - named == set(), "the table lists methods no client calls"
    assert set(METHOD_ACCESS) <= known


def test_every_entry_names_a_feature_and_a_token_type() -> None:
    for method, access in METHOD_ACCESS.items():
        assert access.feature in FEATURES, method
        assert access.token in {"bot", "user"}, method
    assert {access.feature for access in METHOD_ACCESS.values()} == set(FEATURES)


def test_the_sandbox_enforces_the_scopes_of_the_table() -> None:
    for method, access in METHOD_ACCESS.items():
        match = METHODS.match(method)
        assert match is not None, f"the sandbox does not serve {method}"
        enforced = match[0].scope
        if enforced is not None:  # setTopic and history: the scope depends on the channel
            assert access.scopes == (enforced,), method


def _manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def test_the_manifest_requests_exactly_the_bot_scopes_of_the_table() -> None:
    requested = _manifest()["oauth_config"]["scopes"]["bot"]
    assert len(requested) == len(set(requested))
    assert set(requested) == set(slack_scopes.scopes("bot"))


def test_person_token_scopes_are_offered_commented_out() -> None:
    """team.accessLogs needs an admin's user token: optional, so not requested by default."""
    manifest = _manifest()
    assert "user" not in manifest["oauth_config"]["scopes"]
    text = MANIFEST.read_text()
    assert "# user:" in text
    for scope in slack_scopes.scopes("user"):
        assert f"#   - {scope}" in text


def test_the_manifest_is_an_app_manifest() -> None:
    manifest = _manifest()
    assert manifest["_metadata"]["major_version"] == 1
    assert manifest["features"]["bot_user"]["display_name"]
    assert (
        manifest["settings"]["socket_mode_enabled"] is False
    )  # the operator calls Slack; Slack never calls it


@pytest.mark.parametrize("scope", sorted(slack_scopes.scopes("bot")))
def test_the_setup_guide_explains_each_scope(scope: str) -> None:
    guide = (REPO_ROOT / "docs" / "slack-setup.md").read_text()
    assert f"`{scope}`" in guide
