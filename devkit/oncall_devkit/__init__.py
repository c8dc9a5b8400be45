"""Development tooling, never shipped: the local control plane and the `make demo` driver."""
