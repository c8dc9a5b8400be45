{{/*
Expand the name of the chart.
*/}}
{{- define "oncall-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (63 characters: the DNS name limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "oncall-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, as used by the chart label.
*/}}
{{- define "oncall-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "oncall-operator.labels" -}}
helm.sh/chart: {{ include "oncall-operator.chart" . }}
{{ include "oncall-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: oncall-operator
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "oncall-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oncall-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The name of the service account to use.
*/}}
{{- define "oncall-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oncall-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image tag: the chart's appVersion unless set.
*/}}
{{- define "oncall-operator.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag | toString }}
{{- end }}

{{/*
True ("true") when the operator watches every namespace.
*/}}
{{- define "oncall-operator.clusterwide" -}}
{{- if not .Values.watchNamespaces }}true{{- end }}
{{- end }}

{{/*
Rejects combinations the schema cannot express.
*/}}
{{- define "oncall-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) }}
{{- fail "replicaCount > 1 requires peering.enabled=true: standalone replicas would each handle every resource" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled=true requires metrics.enabled=true" }}
{{- end }}
{{- if and .Values.metrics.service.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.service.enabled=true requires metrics.enabled=true" }}
{{- end }}
{{- if and .Values.prometheusRule.enabled (not .Values.metrics.enabled) }}
{{- fail "prometheusRule.enabled=true requires metrics.enabled=true" }}
{{- end }}
{{- if and .Values.rbac.secretNamespaces .Values.watchNamespaces }}
{{- fail "rbac.secretNamespaces is for cluster-wide mode; with watchNamespaces Secrets are read in those namespaces only" }}
{{- end }}
{{- /* Watched namespaces must exist: the Roles go into them. Checked only against a cluster
(helm install/upgrade; `helm template` cannot look up, and kube-system always exists there). */}}
{{- if and .Values.rbac.create (lookup "v1" "Namespace" "" "kube-system") }}
{{- range .Values.watchNamespaces }}
{{- if not (lookup "v1" "Namespace" "" .) }}
{{- fail (printf "watchNamespaces: namespace %q does not exist. Create it first (kubectl create namespace %s): the chart puts the operator's Role there, and does not own the namespace." . .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The operator's own kinds, and what it does with them: Kopf watches each and patches its metadata
(finalizer, progress annotations); the operator patches status (JSON merge patches: never `update`).
Adding a kind is one entry in `kinds` (and its `/status` follows); a kind whose objects the operator
creates or deletes (CleanupRun) lists the extra verbs in `extraVerbs`.
*/}}
{{- define "oncall-operator.kinds" -}}
kinds:
  - oncallsyncs
  - cleanuprules
  - cleanupruns
  - retentionpolicies
  - deletionrequests
extraVerbs:
  # Created by their rule's schedule, deleted beyond its runsHistoryLimit (and by RetentionPolicy).
  cleanupruns: ["create", "delete"]
  # Receipts: deleted by RetentionPolicy past their retention.
  deletionrequests: ["delete"]
{{- end }}

{{/*
The rules for the operator's resources and their Events, in each watched namespace (a Role) or
cluster-wide (the ClusterRole). Secrets are apart (see secretRules).
*/}}
{{- define "oncall-operator.workloadRules" -}}
{{- $spec := include "oncall-operator.kinds" . | fromYaml }}
{{- $plain := list }}
{{- range $spec.kinds }}{{- if not (hasKey $spec.extraVerbs .) }}{{- $plain = append $plain . }}{{- end }}{{- end }}
# The operator's resources: Kopf lists, watches and patches (finalizer, annotations) them.
- apiGroups: ["oncall-operator.dev"]
  resources: {{ toJson $plain }}
  verbs: ["get", "list", "watch", "patch"]
{{- range $kind, $verbs := $spec.extraVerbs }}
- apiGroups: ["oncall-operator.dev"]
  resources: [{{ $kind | quote }}]
  verbs: {{ toJson (concat (list "get" "list" "watch" "patch") $verbs) }}
{{- end }}
# Status is written by merge patch.
- apiGroups: ["oncall-operator.dev"]
  resources: {{ $status := list }}{{ range $spec.kinds }}{{ $status = append $status (printf "%s/status" .) }}{{ end }}{{ toJson $status }}
  verbs: ["patch"]
# Events about the handled objects (ids only, no personal data); Kopf posts core/v1 Events.
# Listed and deleted by RetentionPolicy (its `events` class) and DeletionRequest (only those the
# operator posted, by its reporting component).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "list", "delete"]
{{- end }}

{{/*
Reading a namespace's own object (the `oncall-operator.dev/user-groups` annotation). In a Role this
grants `get` on the namespace the Role lives in, and no other: the API server authorizes
GET /api/v1/namespaces/NAME as a request in namespace NAME.
*/}}
{{- define "oncall-operator.namespaceRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
{{- end }}

{{/*
The API tokens: Secrets referenced by each resource. Read only, by name: no list, no watch, no
update. The operator also ignores any Secret without the label oncall-operator.dev/credentials=true.
*/}}
{{- define "oncall-operator.secretRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- if .Values.rbac.deleteSubjectSecrets }}
# A DeletionRequest with deleteSubjectSecret deletes the Secret naming its subject once erased.
# RBAC cannot narrow `delete` to those Secrets; rbac.deleteSubjectSecrets=false leaves it out (the
# receipt then says the Secret is left for its owner to delete).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["delete"]
{{- end }}
{{- end }}

{{/*
Kopf's needs at cluster scope: discovering the served CRDs (their creation and upgrades while it runs).
Namespaces are not listed: cluster-wide, Kopf does not scan them; with explicit watchNamespaces the
operator sees it may not list them and serves exactly those names.
*/}}
{{- define "oncall-operator.clusterRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- end }}

{{/*
Kopf peering: the keep-alive patches the peering object; peers watch it.
*/}}
{{- define "oncall-operator.peeringRules" -}}
- apiGroups: ["kopf.dev"]
  resources: [{{ . | quote }}]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}

{{/*
The image reference: [global.imageRegistry or image.registry/]repository, then @digest or :tag.
*/}}
{{- define "oncall-operator.image" -}}
{{- $registry := default .Values.image.registry ((.Values.global).imageRegistry) }}
{{- $repository := .Values.image.repository }}
{{- if $registry }}{{ $repository = printf "%s/%s" $registry $repository }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (include "oncall-operator.imageTag" .) }}
{{- end }}
{{- end }}
