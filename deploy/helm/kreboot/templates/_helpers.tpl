{{/* Selector labels: identical to deploy/base, so kustomize and Helm installs select the same pods. */}}
{{- define "kreboot.selector" -}}
app.kubernetes.io/name: kreboot
app.kubernetes.io/component: {{ . }}
{{- end }}

{{/* Object labels: the selector labels plus Helm's bookkeeping (metadata only, never in selectors). */}}
{{- define "kreboot.labels" -}}
{{ include "kreboot.selector" .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ .root.Chart.Name }}-{{ .root.Chart.Version }}
{{- end }}

{{- define "kreboot.commonLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "kreboot.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* --flag=value for every non-null config value, in key order. */}}
{{- define "kreboot.flags" -}}
{{- range $k, $v := . }}
{{- if not (kindIs "invalid" $v) }}
- --{{ kebabcase $k }}={{ $v }}
{{- end }}
{{- end }}
{{- end }}
