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

{{/*
Prometheus' web configuration (web.*) and store API mutual TLS (storeTLS.*), the same for every
component.  Each Secret is mounted as a directory (never subPath), so a rotated Secret reaches the
pod and the servers re-read it: the web config and its certificates on change, as Prometheus.
  /etc/tessera-web/config/<web.config.key>   web.config.secretName   (--web.config.file)
  /etc/tessera-web/tls/                      web.tlsSecretName       (the files the web config names)
  /etc/tessera-store-tls/server/             storeTLS.serverSecret   (shards, ruler: tls.crt, tls.key, ca.crt)
  /etc/tessera-store-tls/client/             storeTLS.clientSecret   (querier, ruler: tls.crt, tls.key, ca.crt)
*/}}
{{- define "tessera.webArgs" -}}
{{- if .Values.web.config.secretName }}
- --web.config.file=/etc/tessera-web/config/{{ .Values.web.config.key }}
{{- end }}
{{- end }}

{{/* The store API's listen address and server TLS flags (shards and ruler). */}}
{{- define "tessera.storeServerArgs" -}}
{{- if .Values.storeTLS.enabled }}
- --store.listen-address=tls+tcp://0.0.0.0:10901
- --store.tls-cert-file=/etc/tessera-store-tls/server/tls.crt
- --store.tls-key-file=/etc/tessera-store-tls/server/tls.key
- --store.tls-client-ca-file=/etc/tessera-store-tls/server/ca.crt
{{- else }}
- --store.listen-address=tcp://0.0.0.0:10901
{{- end }}
{{- end }}

{{/* The store client's TLS flags (querier and ruler): every discovered store over TLS. */}}
{{- define "tessera.storeClientArgs" -}}
{{- if .Values.storeTLS.enabled }}
- --store.tls-secure
- --store.tls-ca-file=/etc/tessera-store-tls/client/ca.crt
- --store.tls-client-cert-file=/etc/tessera-store-tls/client/tls.crt
- --store.tls-client-key-file=/etc/tessera-store-tls/client/tls.key
{{- with .Values.storeTLS.serverName }}
- --store.tls-server-name={{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/* volumeMounts for the above.  Call with (dict "root" $ "server" bool "client" bool). */}}
{{- define "tessera.secretMounts" -}}
{{- $v := .root.Values }}
{{- if $v.web.config.secretName }}
- name: web-config
  mountPath: /etc/tessera-web/config
  readOnly: true
{{- end }}
{{- if $v.web.tlsSecretName }}
- name: web-tls
  mountPath: /etc/tessera-web/tls
  readOnly: true
{{- end }}
{{- if and $v.storeTLS.enabled .server }}
- name: store-tls-server
  mountPath: /etc/tessera-store-tls/server
  readOnly: true
{{- end }}
{{- if and $v.storeTLS.enabled .client }}
- name: store-tls-client
  mountPath: /etc/tessera-store-tls/client
  readOnly: true
{{- end }}
{{- end }}

{{/* volumes for the above.  Call with (dict "root" $ "server" bool "client" bool). */}}
{{- define "tessera.secretVolumes" -}}
{{- $v := .root.Values }}
{{- if $v.web.config.secretName }}
- name: web-config
  secret:
    secretName: {{ $v.web.config.secretName }}
{{- end }}
{{- if $v.web.tlsSecretName }}
- name: web-tls
  secret:
    secretName: {{ $v.web.tlsSecretName }}
{{- end }}
{{- if and $v.storeTLS.enabled .server }}
- name: store-tls-server
  secret:
    secretName: {{ required "storeTLS.serverSecret is required with storeTLS.enabled" $v.storeTLS.serverSecret }}
{{- end }}
{{- if and $v.storeTLS.enabled .client }}
- name: store-tls-client
  secret:
    secretName: {{ required "storeTLS.clientSecret is required with storeTLS.enabled" $v.storeTLS.clientSecret }}
{{- end }}
{{- end }}

{{/* The kubelet's probes of the HTTP port (path given): the web config's scheme and headers. */}}
{{- define "tessera.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
  {{- if eq .root.Values.web.scheme "HTTPS" }}
  scheme: HTTPS
  {{- end }}
  {{- with .root.Values.web.probeHeaders }}
  httpHeaders:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
