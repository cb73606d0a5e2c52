{{/*
The chart's default scrape jobs, each switched by scrapeConfigs.<name>, as the
prometheus-community chart's users know them:
  tessera-shards                  the shards' own /metrics (DNS SRV of the store Service)
  kubernetes-apiservers           the API server (endpoints of default/kubernetes, port https)
  kubernetes-nodes                every kubelet's /metrics, through the API server's node proxy
  kubernetes-nodes-cadvisor       every kubelet's /metrics/cadvisor, the same way
  kubernetes-service-endpoints    the endpoints of Services annotated prometheus.io/scrape: "true"
  kubernetes-pods                 Pods annotated prometheus.io/scrape: "true"
The annotations prometheus.io/path, /port and /scheme override the metrics path, the port and
http/https; prometheus.io/param_<name> adds the URL parameter <name>.
With rbac.namespaced the shards cannot read nodes nor the API server's endpoints, so the
apiservers, nodes and cadvisor jobs are left out and the others discover in rbac.namespaces.
Output: YAML {"jobs": [...]} (fromYaml needs a map).
*/}}
{{- define "tessera.saDir" -}}/var/run/secrets/kubernetes.io/serviceaccount{{- end }}

{{- define "tessera.sdNamespaces" -}}
{{- if .Values.rbac.namespaced }}
namespaces:
  names:
    {{- toYaml (include "tessera.rbacNamespaces" . | fromYaml).names | nindent 4 }}
{{- end }}
{{- end }}

{{/* The namespaces a namespaced Role is made in, as YAML {"names": [...]}: rbac.namespaces, or the release's. */}}
{{- define "tessera.rbacNamespaces" -}}
names:
  {{- toYaml (.Values.rbac.namespaces | default (list .Release.Namespace)) | nindent 2 }}
{{- end }}

{{/* HTTPS to the API server with the pod's service account (token file re-read by the scraper). */}}
{{- define "tessera.apiServerAuth" -}}
scheme: https
tls_config:
  ca_file: {{ include "tessera.saDir" . }}/ca.crt
authorization:
  credentials_file: {{ include "tessera.saDir" . }}/token
{{- end }}

{{/* The relabeling shared by the annotation-driven jobs.  Call with (dict "root" $ "kind" "pod"|"service"). */}}
{{- define "tessera.annotationRelabel" -}}
- source_labels: [__meta_kubernetes_{{ .kind }}_annotation_prometheus_io_scrape]
  regex: "true"
  action: keep
- source_labels: [__meta_kubernetes_{{ .kind }}_annotation_prometheus_io_scheme]
  regex: (https?)
  target_label: __scheme__
- source_labels: [__meta_kubernetes_{{ .kind }}_annotation_prometheus_io_path]
  regex: (.+)
  target_label: __metrics_path__
- source_labels: [__address__, __meta_kubernetes_{{ .kind }}_annotation_prometheus_io_port]
  regex: (.+?)(?::\d+)?;(\d+)
  replacement: $1:$2
  target_label: __address__
- regex: __meta_kubernetes_{{ .kind }}_annotation_prometheus_io_param_(.+)
  replacement: __param_$1
  action: labelmap
- regex: __meta_kubernetes_{{ .kind }}_label_(.+)
  action: labelmap
- source_labels: [__meta_kubernetes_namespace]
  target_label: namespace
{{- end }}

{{- define "tessera.defaultScrapeConfigs" -}}
{{- $on := .Values.scrapeConfigs }}
{{- $cluster := not .Values.rbac.namespaced }}
jobs:
{{- if $on.tesseraShards }}
  - job_name: tessera-shards
    {{- if eq .Values.web.scheme "HTTPS" }}
    scheme: https
    {{- end }}
    {{- with .Values.web.selfScrape }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    dns_sd_configs:
      - names:
          - _http._tcp.{{ include "tessera.storeServiceName" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
        type: SRV
{{- end }}
{{- if and $on.apiServer $cluster }}
  - job_name: kubernetes-apiservers
    {{- include "tessera.apiServerAuth" . | nindent 4 }}
    kubernetes_sd_configs:
      - role: endpoints
        namespaces:
          names: [default]
    relabel_configs:
      - source_labels: [__meta_kubernetes_service_name, __meta_kubernetes_endpoint_port_name]
        regex: kubernetes;https
        action: keep
{{- end }}
{{- range $job := list (dict "on" $on.kubelet "name" "kubernetes-nodes" "path" "metrics")
                       (dict "on" $on.cadvisor "name" "kubernetes-nodes-cadvisor" "path" "metrics/cadvisor") }}
{{- if and $job.on $cluster }}
  - job_name: {{ $job.name }}
    {{- include "tessera.apiServerAuth" $ | nindent 4 }}
    kubernetes_sd_configs:
      - role: node
    relabel_configs:
      - regex: __meta_kubernetes_node_label_(.+)
        action: labelmap
      # through the API server: /api/v1/nodes/<node>/proxy/<path> (RBAC: nodes/proxy)
      - target_label: __address__
        replacement: kubernetes.default.svc:443
      - source_labels: [__meta_kubernetes_node_name]
        regex: (.+)
        replacement: /api/v1/nodes/$1/proxy/{{ $job.path }}
        target_label: __metrics_path__
{{- end }}
{{- end }}
{{- if $on.serviceEndpoints }}
  - job_name: kubernetes-service-endpoints
    honor_labels: true
    kubernetes_sd_configs:
      - role: endpoints
        {{- include "tessera.sdNamespaces" . | nindent 8 }}
    relabel_configs:
      {{- include "tessera.annotationRelabel" (dict "root" . "kind" "service") | nindent 6 }}
      - source_labels: [__meta_kubernetes_service_name]
        target_label: service
      - source_labels: [__meta_kubernetes_pod_node_name]
        target_label: node
{{- end }}
{{- if $on.pods }}
  - job_name: kubernetes-pods
    honor_labels: true
    kubernetes_sd_configs:
      - role: pod
        {{- include "tessera.sdNamespaces" . | nindent 8 }}
    relabel_configs:
      {{- include "tessera.annotationRelabel" (dict "root" . "kind" "pod") | nindent 6 }}
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_node_name]
        target_label: node
      # finished or not yet started pods answer nobody
      - source_labels: [__meta_kubernetes_pod_phase]
        regex: Pending|Succeeded|Failed|Completed
        action: drop
{{- end }}
{{- end }}
