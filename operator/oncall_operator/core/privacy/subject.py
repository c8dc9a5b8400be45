"""A subject as the stored records name it, and how records are searched and redacted for it.

CleanupRun items are `<pagerDutyUser> <slackUser> <subject> <reasons> <changes>` (core/cleanup/encoding);
a redacted item keeps its reasons and changes, so the run's counts and progress still read, and loses
everything that points at the person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from oncall_operator.core.subjects import PREFIX

EMPTY = "-"
REDACTED = "redacted"
ERASED_SUBJECT = "erased"


@dataclass(frozen=True)
class Subject:
    """What names the person in stored records. `refs` are HMAC references (with prefix)."""

    refs: frozenset[str]
    slack_user: str | None = None
    pagerduty_user: str | None = None
    primary: str = ""  # the reference receipts carry: the email's when known, else an id's

    @property
    def tokens(self) -> frozenset[str]:
        """Index keys: each ref without its prefix (as items store it), and the ids."""
        found = {ref.removeprefix(PREFIX) for ref in self.refs}
        found.update(t for t in (self.slack_user, self.pagerduty_user) if t)
        return frozenset(found)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(t for t in (self.slack_user, self.pagerduty_user) if t)


def item_tokens(line: str) -> tuple[str, ...]:
    """The tokens of one CleanupRun item that can name a person (ids and subject)."""
    fields = line.split(" ")
    if len(fields) != 5:
        return ()
    return tuple(t for t in fields[:3] if t not in (EMPTY, REDACTED))


def items_naming(items: Sequence[str], tokens: frozenset[str]) -> list[int]:
    return [i for i, line in enumerate(items) if tokens.intersection(item_tokens(line))]


def redact_items(items: Sequence[str], tokens: frozenset[str]) -> tuple[list[str], int]:
    """(items with the subject's redacted, how many were)."""
    result, redacted = list(items), 0
    for index in items_naming(items, tokens):
        fields = result[index].split(" ")
        result[index] = " ".join((EMPTY, EMPTY, REDACTED, fields[3], fields[4]))
        redacted += 1
    return result, redacted


def run_tokens(status: Mapping[str, object] | None) -> set[str]:
    """Every person-naming token of a CleanupRun's status (for the erasure index)."""
    items = (status or {}).get("items")
    found: set[str] = set()
    if isinstance(items, list):
        for line in items:
            if isinstance(line, str):
                found.update(item_tokens(line))
    return found


def message_names(message: str, ids: Iterable[str]) -> bool:
    """Whether an Event's message names one of the ids (as a whole word)."""
    words = set(message.replace(",", " ").replace(":", " ").replace("(", " ").replace(")", " ").split())
    return any(i in words for i in ids)


def when_account_not_found(recorded: str | None, account: str) -> tuple[str, str | None] | None:
    """The subject's `account` cannot be found (now): what the receipt says for its removal.

    Nothing recorded: refused, there is no one to remove. An intent recorded before a restart: the
    write landed - the account was found then and has gone since - so done, and not sent again. An
    outcome already recorded stands (None). Without this, a request killed after deleting the
    PagerDuty user resumed with a receipt saying the deletion was refused for want of a user.
    """
    if recorded is None:
        return "refused", f"no {account} found for the subject"
    if recorded == "intent":
        return "done", None
    return None
