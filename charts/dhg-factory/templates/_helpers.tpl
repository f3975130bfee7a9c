{{/* Names and labels shared by the templates. */}}

{{/* Objects are named <release>-<component> (release `dhg`: dhg-registry, dhg-asr, dhg-controller...). */}}
{{- define "dhg.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "dhg.controller.fullname" -}}
{{- printf "%s-controller" (include "dhg.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Every namespace a controller watches, as JSON: controller.watchNamespaces, or all of controller.shards'
(empty: the whole cluster). */}}
{{- define "dhg.controller.namespaces" -}}
{{- $all := .Values.controller.watchNamespaces -}}
{{- range .Values.controller.shards }}{{ $all = concat $all .namespaces }}{{ end -}}
{{- toJson $all -}}
{{- end -}}

{{/* The controller Deployments, as JSON: one, <release>-controller watching controller.watchNamespaces; or one
per shard, <release>-controller-<shard> watching the shard's namespaces. */}}
{{- define "dhg.controller.shards" -}}
{{- $shards := list -}}
{{- range .Values.controller.shards -}}
{{- $name := printf "%s-%s" (include "dhg.controller.fullname" $) .name | trunc 63 | trimSuffix "-" -}}
{{- $shards = append $shards (dict "name" $name "shard" .name "namespaces" .namespaces) -}}
{{- end -}}
{{- if not $shards -}}
{{- $shards = list (dict "name" (include "dhg.controller.fullname" .) "shard" "" "namespaces" .Values.controller.watchNamespaces) -}}
{{- end -}}
{{- toJson $shards -}}
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

{{/* Per-component names, labels and selectors: component is one of registry, embeddings, asr, postgresql. */}}
{{- define "dhg.component.fullname" -}}
{{- printf "%s-%s" (include "dhg.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dhg.component.selectorLabels" -}}
app.kubernetes.io/name: dhg-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "dhg.component.labels" -}}
{{ include "dhg.labels" .root }}
{{ include "dhg.component.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "dhg.tag" -}}
{{- default .Chart.AppVersion .Values.images.tag -}}
{{- end -}}

{{/* An image of ours: (dict "root" $ "name" .Values.images.asr "suffix" "-cuda"). */}}
{{- define "dhg.image" -}}
{{- printf "%s/%s:%s%s" .root.Values.images.registry .name (include "dhg.tag" .root) (default "" .suffix) -}}
{{- end -}}

{{/* The Registry's image (the API, its migrations, the embedding worker): with semantic search on, the variant with
the embeddings extra (torch and the MiniLM model), tagged <tag>-embeddings; without, the plain one. */}}
{{- define "dhg.registryImage" -}}
{{- $suffix := ternary "-embeddings" "" .Values.registry.embeddings.enabled -}}
{{- include "dhg.image" (dict "root" . "name" .Values.images.registryService "suffix" $suffix) -}}
{{- end -}}

{{- define "dhg.secretName" -}}
{{- default (include "dhg.fullname" .) .Values.secrets.name -}}
{{- end -}}

{{- define "dhg.registry.url" -}}
{{- printf "http://%s:%d" (include "dhg.component.fullname" (dict "root" . "component" "registry")) (int .Values.registry.port) -}}
{{- end -}}

{{/* The Secret and key that hold the Registry's database URL. */}}
{{- define "dhg.database.secret" -}}
{{- if .Values.postgresql.enabled -}}{{ include "dhg.secretName" . }}{{- else -}}{{ required "postgresql.enabled=false needs externalDatabase.urlSecret (a Secret with the database URL)" .Values.externalDatabase.urlSecret }}{{- end -}}
{{- end -}}

{{- define "dhg.database.key" -}}
{{- if .Values.postgresql.enabled -}}database-url{{- else -}}{{ .Values.externalDatabase.urlKey }}{{- end -}}
{{- end -}}

{{/* The pod-level security context every pod of the chart runs with (the restricted Pod Security Standard). */}}
{{- define "dhg.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ default 10001 .uid }}
runAsGroup: {{ default 10001 .uid }}
fsGroup: {{ default 10001 .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "dhg.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "dhg.imagePullSecrets" -}}
{{- with .Values.images.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Spread a component's pods over nodes (best effort: a one-node cluster still schedules them). */}}
{{- define "dhg.topologySpread" -}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "dhg.component.selectorLabels" . | nindent 8 }}
{{- end -}}

{{/* A value from a Secret (name, key). */}}
{{- define "dhg.secretRef" -}}
valueFrom:
  secretKeyRef:
    name: {{ .name }}
    key: {{ .key }}
{{- end -}}

{{/*
The chart's Secret data (base64 values), computed once per render and shared by every template that needs it:
random on install, the live Secret's values on upgrade (lookup), so tokens stay what the clients hold.
*/}}
{{- define "dhg.secretData" -}}
{{- if not (hasKey .Values "_dhgSecretData") -}}
{{- $live := (lookup "v1" "Secret" .Release.Namespace (include "dhg.secretName" .)) | default dict -}}
{{- $old := get $live "data" | default dict -}}
{{- $data := dict -}}
{{- range $field, $key := .Values.secrets.keys -}}
{{- $_ := set $data $key (get $old $key | default (printf "dhg_%s" (randAlphaNum 43) | b64enc)) -}}
{{- end -}}
{{- if .Values.postgresql.enabled -}}
{{- $password := get $old "postgres-password" | default (randAlphaNum 32 | b64enc) -}}
{{- $_ := set $data "postgres-password" $password -}}
{{- $host := include "dhg.component.fullname" (dict "root" . "component" "postgresql") -}}
{{- $url := printf "postgresql+psycopg://%s:%s@%s:%d/%s" .Values.postgresql.username (b64dec $password) $host (int .Values.postgresql.port) .Values.postgresql.database -}}
{{- $_ := set $data "database-url" ($url | b64enc) -}}
{{- end -}}
{{- $_ := set .Values "_dhgSecretData" $data -}}
{{- end -}}
{{- toJson (get .Values "_dhgSecretData") -}}
{{- end -}}

{{/* The Registry's settings shared by its API pods and its embedding worker. */}}
{{- define "dhg.registry.env" -}}
- name: DHG_REGISTRY_DATABASE_URL
  {{- include "dhg.secretRef" (dict "name" (include "dhg.database.secret" .) "key" (include "dhg.database.key" .)) | nindent 2 }}
- name: DHG_REGISTRY_LOG_LEVEL
  value: {{ .Values.registry.logLevel | quote }}
- name: DHG_REGISTRY_MAX_UPLOAD_BYTES
  value: {{ .Values.registry.maxUploadBytes | int64 | quote }}
{{- if eq .Values.registry.storage.type "s3" }}
{{- $s3 := .Values.registry.storage.s3 }}
- name: DHG_REGISTRY_STORAGE
  value: s3
- name: DHG_REGISTRY_S3_ENDPOINT
  value: {{ required "registry.storage.s3.endpoint is needed with storage type s3" $s3.endpoint | quote }}
- name: DHG_REGISTRY_S3_BUCKET
  value: {{ required "registry.storage.s3.bucket is needed with storage type s3" $s3.bucket | quote }}
- name: DHG_REGISTRY_S3_REGION
  value: {{ $s3.region | quote }}
- name: DHG_REGISTRY_S3_PREFIX
  value: {{ $s3.prefix | quote }}
- name: DHG_REGISTRY_S3_ACCESS_KEY_ID
  {{- include "dhg.secretRef" (dict "name" (required "registry.storage.s3.credentialsSecret is needed with storage type s3" $s3.credentialsSecret) "key" $s3.accessKeyIdKey) | nindent 2 }}
- name: DHG_REGISTRY_S3_SECRET_ACCESS_KEY
  {{- include "dhg.secretRef" (dict "name" $s3.credentialsSecret "key" $s3.secretAccessKeyKey) | nindent 2 }}
{{- else }}
- name: DHG_REGISTRY_STORAGE_DIR
  value: /media
{{- end }}
{{- end -}}

{{- define "dhg.registry.mediaVolume" -}}
{{- if ne .Values.registry.storage.type "s3" }}
- name: media
  persistentVolumeClaim:
    claimName: {{ .Values.registry.storage.pvc.existingClaim | default (include "dhg.component.fullname" (dict "root" . "component" "media")) }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy pieces. */}}
{{- define "dhg.netpol.dns" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end -}}

{{- define "dhg.netpol.prometheus" -}}
- from:
    {{- toYaml .root.Values.networkPolicy.prometheusFrom | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ .port }}}
{{- end -}}

{{- define "dhg.netpol.toRegistry" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Release.Namespace }}
      podSelector:
        matchLabels:
          {{- include "dhg.component.selectorLabels" (dict "root" . "component" "registry") | nindent 10 }}
  ports:
    - {protocol: TCP, port: {{ .Values.registry.port }}}
{{- end -}}

{{- define "dhg.netpol.toDatabase" -}}
{{- if .Values.postgresql.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "dhg.component.selectorLabels" (dict "root" . "component" "postgresql") | nindent 10 }}
  ports:
    - {protocol: TCP, port: {{ .Values.postgresql.port }}}
{{- else }}
- ports:  # an external database: its address is not known here
    - {protocol: TCP, port: 5432}
{{- end }}
{{- end -}}

{{/* A ServiceMonitor for one component's Service: (dict "root" $ "component" "asr" "port" "http" "labels" ...). */}}
{{- define "dhg.serviceMonitor" -}}
{{- $monitors := .root.Values.monitoring.serviceMonitors -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "dhg.labels" .root | nindent 4 }}
    {{- with .root.Values.monitoring.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  # The job label is the component (registry, asr, ...), whatever the release is called: rules and dashboards
  # select on it.
  jobLabel: app.kubernetes.io/component
  selector:
    matchLabels:
      {{- .selector | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ .root.Release.Namespace }}]
  endpoints:
    - port: {{ .port }}
      path: /metrics
      interval: {{ $monitors.interval }}
{{- end -}}

{{/* The ASR models as DHG_ASR_MODELS reads them (JSON): "bundled" (or "bundled:<name>"), or a directory under the
model cache at /models. The default model must be one of them. */}}
{{- define "dhg.asr.models" -}}
{{- if not (hasKey .Values.asr.models .Values.asr.defaultModel) -}}
{{- fail (printf "asr.defaultModel %q is not one of asr.models (%s)" .Values.asr.defaultModel (keys .Values.asr.models | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $models := dict -}}
{{- range $name, $source := .Values.asr.models -}}
{{- $_ := set $models $name (ternary $source (printf "/models/%s" (trimPrefix "/" $source)) (hasPrefix "bundled" $source)) -}}
{{- end -}}
{{- toJson $models -}}
{{- end -}}

{{- define "dhg.asr.modelClaim" -}}
{{- .Values.asr.modelCache.existingClaim | default (include "dhg.component.fullname" (dict "root" . "component" "models")) -}}
{{- end -}}
