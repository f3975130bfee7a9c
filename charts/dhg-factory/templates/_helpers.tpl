{{/* Names and labels shared by the templates. */}}

{{- define "dhg.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dhg.controller.fullname" -}}
{{- printf "%s-controller" (include "dhg.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dhg.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: dhg-ai-factory
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dhg.controller.selectorLabels" -}}
app.kubernetes.io/name: dhg-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dhg.controller.labels" -}}
{{ include "dhg.labels" . }}
{{ include "dhg.controller.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "dhg.controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dhg.controller.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "dhg.controller.image" -}}
{{- printf "%s:%s" .Values.controller.image.repository (default .Chart.AppVersion .Values.controller.image.tag) -}}
{{- end -}}
