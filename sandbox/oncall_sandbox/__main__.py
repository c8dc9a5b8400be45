"""`python -m oncall_sandbox`."""

from oncall_sandbox.server import main

raise SystemExit(main())
