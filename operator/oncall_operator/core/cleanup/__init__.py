"""Pure decisions of CleanupRule and CleanupRun: who matches, the plan, its encoding and hash,
the safety caps, per-change progress, drift after a restart or an approval, and the statuses.

No I/O: the kinds gather the facts into `Directory` records and act on what these modules return.
"""
