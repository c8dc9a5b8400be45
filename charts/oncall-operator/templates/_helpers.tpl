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
{{- end }}

{{/*
The rules for the operator's own resources, Events, Secrets and (namespaced) peering.
Used by the ClusterRole (cluster-wide) or by each Role (watchNamespaces).
*/}}
{{- define "oncall-operator.workloadRules" -}}
# The operator's resources: Kopf patches finalizers/annotations on the object and writes status.
- apiGroups: ["oncall-operator.dev"]
  resources: ["oncallsyncs", "cleanuprules", "retentionpolicies", "deletionrequests"]
  verbs: ["get", "list", "watch", "patch", "update"]
# CleanupRuns: created by their rule's schedule, deleted beyond its runsHistoryLimit.
- apiGroups: ["oncall-operator.dev"]
  resources: ["cleanupruns"]
  verbs: ["get", "list", "watch", "patch", "update", "create", "delete"]
- apiGroups: ["oncall-operator.dev"]
  resources: ["oncallsyncs/status", "cleanuprules/status", "cleanupruns/status", "retentionpolicies/status", "deletionrequests/status"]
  verbs: ["patch", "update"]
# RetentionPolicy prunes finished DeletionRequests (receipts) past their retention.
- apiGroups: ["oncall-operator.dev"]
  resources: ["deletionrequests"]
  verbs: ["delete"]
# Events about the handled objects (ids only, no personal data); listed and deleted by retention
# and by DeletionRequests (only those the operator posted).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "list", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
# The API tokens: Secrets referenced by each resource. Read only, by name: no list, no watch.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# A DeletionRequest with deleteSubjectSecret deletes the Secret naming its subject once erased.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["delete"]
{{- end }}

{{/*
Kopf's own needs at cluster scope: CRD discovery and the namespace list.
*/}}
{{- define "oncall-operator.clusterRules" -}}
# Kopf: discovery of the served resources (and of the peering CRDs).
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
# Kopf: scanning namespaces (names only).
- apiGroups: [""]
  resources: ["namespaces"]
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
