"""Reference pages generated from the code must match it (`make docs` regenerates them)."""

from __future__ import annotations

import pytest

from oncall_devkit.docs import PAGES
from support.kube import REPO_ROOT


@pytest.mark.parametrize("relative", sorted(PAGES))
def test_generated_page_matches_the_code(relative: str) -> None:
    path = REPO_ROOT / relative
    assert path.exists() and path.read_text() == PAGES[relative](), f"{relative} drifted: run `make docs`"
