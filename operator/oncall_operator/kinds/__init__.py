"""One package per resource kind: handlers.py holds the Kopf decorators, the rest does the work.

A kind registers its handlers on the operator's registry with the shared services; the runtime
serves an explicit tuple of kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import kopf

from oncall_operator.api.crd import ResourceKind
from oncall_operator.services import Services


@dataclass(frozen=True)
class Kind:
    resource: ResourceKind
    register: Callable[[kopf.OperatorRegistry, Services], None]
