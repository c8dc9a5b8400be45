"""Every condition reason has a cause and a fix in api/remedies.py, so docs/troubleshooting.md (generated
from it, drift-checked by test_generated_docs.py) covers every reason a user can see."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from enum import StrEnum

import oncall_operator.api
from oncall_devkit.docs import troubleshooting
from oncall_operator.api.remedies import TABLES


def _reason_enums() -> set[type[StrEnum]]:
    """Every StrEnum named *Reason defined in a module of oncall_operator.api."""
    found: set[type[StrEnum]] = set()
    for module_info in pkgutil.iter_modules(oncall_operator.api.__path__):
        module = importlib.import_module(f"oncall_operator.api.{module_info.name}")
        for name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, StrEnum) and name.endswith("Reason") and value.__module__ == module.__name__:
                found.add(value)
    return found


def test_every_reason_enum_has_a_table() -> None:
    enums = _reason_enums()
    assert len(enums) >= 5
    missing = enums - {table.enum for table in TABLES}
    assert not missing, f"add a ReasonTable to api/remedies.py for {sorted(e.__name__ for e in missing)}"


def test_every_reason_has_a_cause_and_nothing_else_is_listed() -> None:
    for table in TABLES:
        assert set(table.remedies) == set(table.enum), f"{table.enum.__name__}: remedies differ from members"
        for reason, remedy in table.remedies.items():
            assert remedy.cause.strip().endswith("."), f"{reason}: the cause is a sentence"
            assert not remedy.fix or remedy.fix.strip().endswith((".", ")")), (
                f"{reason}: the fix is a sentence"
            )


def test_problems_have_a_fix() -> None:
    """A reason with no fix reports a normal state; every failure reaching a service needs one."""
    external = next(t for t in TABLES if t.enum.__name__ == "ExternalReason")
    assert all(remedy.fix for remedy in external.remedies.values())


def test_the_page_lists_every_reason() -> None:
    page = troubleshooting()
    for table in TABLES:
        assert f"## {table.title}\n" in page
        for reason in table.enum:
            assert f"| `{reason}` |" in page
