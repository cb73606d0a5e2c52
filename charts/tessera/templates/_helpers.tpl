{{/*
Names and labels shared by every template.
*/}}

{{/* Chart name, 63 characters at most (a DNS label). */}}
{{- define "tessera.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name.  Kept short (40 characters) because shard objects append
"-shard-<index>" and pods "-<ordinal>", and a pod name must stay a DNS label.
*/}}
{{- define "tessera.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tessera.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "tessera.labels" -}}
helm.sh/chart: {{ include "tessera.chart" . }}
{{ include "tessera.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tessera.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tessera.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The image, tag defaulting to the chart's appVersion. */}}
{{- define "tessera.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Shard objects.  Call with (dict "root" $ "index" $i). */}}
{{- define "tessera.shardName" -}}
{{- printf "%s-shard-%d" (include "tessera.fullname" .root) (int .index) }}
{{- end }}

{{- define "tessera.shardSelectorLabels" -}}
{{ include "tessera.selectorLabels" .root }}
app.kubernetes.io/component: shard
tessera.io/shard-index: {{ .index | quote }}
{{- end }}

{{/* The headless Service over every shard pod: the querier's store discovery (all-shards). */}}
{{- define "tessera.storeServiceName" -}}
{{- printf "%s-store" (include "tessera.fullname" .) }}
{{- end }}

{{/* The SRV name of a headless Service's `store` port. */}}
{{- define "tessera.storeSRV" -}}
{{- printf "dnssrv+_store._tcp.%s.%s.svc.%s" .service .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/* The global ruler's StatefulSet and headless Service. */}}
{{- define "tessera.rulerName" -}}
{{- printf "%s-ruler" (include "tessera.fullname" .) }}
{{- end }}

{{/*
ConfigMap data of rule files: a map file name -> rule file, each given as YAML (a map with
`groups`) or as a string holding the file.  Mounted at /etc/tessera-rules, read by the
rule_files globs /etc/tessera-rules/*.yml and *.yaml.
*/}}
{{- define "tessera.ruleFiles" -}}
{{- range $name, $file := . }}
{{ $name }}: |
  {{- if kindIs "string" $file }}
  {{- $file | nindent 2 }}
  {{- else }}
  {{- toYaml $file | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The shards' ServiceAccount. */}}
{{- define "tessera.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-shard" (include "tessera.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Validation of values that would otherwise give a broken release. */}}
{{- define "tessera.validate" -}}
{{- if lt (int .Values.shards.count) 1 }}
{{- fail "shards.count must be at least 1" }}
{{- end }}
{{- if lt (int .Values.shards.replicas) 1 }}
{{- fail "shards.replicas must be at least 1" }}
{{- end }}
{{- if not (has .Values.query.storeDiscovery (list "all-shards" "per-shard")) }}
{{- fail "query.storeDiscovery must be all-shards or per-shard" }}
{{- end }}
{{- end }}
