"""`python -m oncall_operator.sandbox`."""

from oncall_operator.sandbox.server import main

raise SystemExit(main())
