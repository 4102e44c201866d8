{{- define "capitain.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "capitain.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels every object carries; selectorLabels are the stable subset selectors use. */}}
{{- define "capitain.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "capitain.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "capitain.selectorLabels" -}}
app.kubernetes.io/name: {{ include "capitain.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "capitain.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "capitain.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "capitain.dsnSecret" -}}
{{- .Values.database.postgres.existingSecret | default (include "capitain.fullname" .) -}}
{{- end -}}

{{/* Refuse values the server cannot run with (values.schema.json says the same; this also
     covers --skip-schema-validation). */}}
{{- define "capitain.validate" -}}
{{- if and (eq .Values.database.type "sqlite") (ne (int .Values.replicaCount) 1) -}}
{{- fail "database.type sqlite serves from one process: replicaCount must be 1 (use database.type postgres for more)" -}}
{{- end -}}
{{- if and (eq .Values.database.type "postgres") (not .Values.database.postgres.dsn) (not .Values.database.postgres.existingSecret) -}}
{{- fail "database.type postgres needs database.postgres.dsn or database.postgres.existingSecret" -}}
{{- end -}}
{{- end -}}

{{/* The pod template of the StatefulSet (sqlite) and the Deployment (postgres). */}}
{{- define "capitain.podTemplate" -}}
metadata:
  labels:
    {{- include "capitain.labels" . | nindent 4 }}
  annotations:
    checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "capitain.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: capitain
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- if eq .Values.database.type "postgres" }}
      env:
        - name: CHAOS_CAPITAIN_DB
          valueFrom:
            secretKeyRef:
              name: {{ include "capitain.dsnSecret" . }}
              key: {{ .Values.database.postgres.existingSecretKey }}
      {{- end }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 2
        failureThreshold: 60
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 10
        timeoutSeconds: 5
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: 5
        timeoutSeconds: 5
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: /data
        - name: config
          mountPath: /etc/capitain/capitain.yml
          subPath: capitain.yml
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if .Values.ssh.existingSecret }}
        - name: ssh
          mountPath: /etc/capitain/ssh
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "capitain.fullname" . }}
    - name: tmp
      emptyDir: {}
    {{- if eq .Values.database.type "postgres" }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- if .Values.ssh.existingSecret }}
    - name: ssh
      secret:
        secretName: {{ .Values.ssh.existingSecret }}
        defaultMode: 0400
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
