#!/usr/bin/env bash
# Install the factory and its monitoring in order, at the versions pinned in charts/observability/versions.env:
# kube-prometheus-stack, Loki, Alloy (namespace monitoring), KEDA when asked (namespace keda), then the factory
# (charts/dhg-factory). Every step is `helm upgrade --install --wait`, so running it again upgrades in place.
#
#   charts/install.sh [--with-keda] [--monitoring-only] [--namespace NS] [--release NAME] [--dry-run] [-- HELM_ARGS...]
#
# HELM_ARGS (`--set ...`, `-f FILE`, ...) go to the factory's helm command only. `make cluster ARGS="..."` runs it.
# --monitoring-only stops before the factory (the Tiltfile installs the factory itself).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
observability="$here/observability"
# shellcheck source=SCRIPTDIR/observability/versions.env
source "$observability/versions.env"

namespace=dhg
release=dhg
with_keda=false
monitoring_only=false
dry_run=false
factory_args=()

usage() {
  sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while (($#)); do
  case "$1" in
    --with-keda) with_keda=true ;;
    --monitoring-only) monitoring_only=true ;;
    --dry-run) dry_run=true ;;
    --namespace | -n)
      namespace="${2:?--namespace needs a value}"
      shift
      ;;
    --release)
      release="${2:?--release needs a value}"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      factory_args+=("$@")
      break
      ;;
    *) factory_args+=("$1") ;;
  esac
  shift
done

# Print each command; run it unless --dry-run.
run() {
  printf '%q ' "$@"
  printf '\n'
  if [[ "$dry_run" == false ]]; then
    "$@"
  fi
}

# helm upgrade --install RELEASE CHART --version VERSION --namespace NS --create-namespace --wait [ARGS...]
install() {
  local name="$1" chart="$2" version="$3" target_namespace="$4"
  shift 4
  run helm upgrade --install "$name" "$chart" --version "$version" \
    --namespace "$target_namespace" --create-namespace --wait --timeout 15m "$@"
}

run helm repo add --force-update "$KUBE_PROMETHEUS_STACK_REPO_NAME" "$KUBE_PROMETHEUS_STACK_REPO_URL"
run helm repo add --force-update "$LOKI_REPO_NAME" "$LOKI_REPO_URL"
run helm repo add --force-update "$ALLOY_REPO_NAME" "$ALLOY_REPO_URL"
if [[ "$with_keda" == true ]]; then
  run helm repo add --force-update "$KEDA_REPO_NAME" "$KEDA_REPO_URL"
fi
run helm repo update

# Prometheus first: its CRDs (ServiceMonitor, PrometheusRule) must exist before the factory renders them.
install "$KUBE_PROMETHEUS_STACK_RELEASE" "$KUBE_PROMETHEUS_STACK_REPO_NAME/$KUBE_PROMETHEUS_STACK_CHART" \
  "$KUBE_PROMETHEUS_STACK_VERSION" "$MONITORING_NAMESPACE" -f "$observability/kube-prometheus-stack-values.yaml"
install "$LOKI_RELEASE" "$LOKI_REPO_NAME/$LOKI_CHART" "$LOKI_VERSION" "$MONITORING_NAMESPACE" \
  -f "$observability/loki-values.yaml"
install "$ALLOY_RELEASE" "$ALLOY_REPO_NAME/$ALLOY_CHART" "$ALLOY_VERSION" "$MONITORING_NAMESPACE" \
  -f "$observability/alloy-values.yaml"

keda_args=()
if [[ "$with_keda" == true ]]; then
  # KEDA's CRDs (ScaledObject) before the factory asks for one.
  install "$KEDA_RELEASE" "$KEDA_REPO_NAME/$KEDA_CHART" "$KEDA_VERSION" "$KEDA_NAMESPACE"
  keda_args=(--set autoscaling.keda.enabled=true)
fi

if [[ "$monitoring_only" == true ]]; then
  exit 0
fi

# The factory last: its ServiceMonitors and PrometheusRules carry the label this Prometheus selects on.
run helm upgrade --install "$release" "$here/dhg-factory" --namespace "$namespace" --create-namespace \
  --wait --timeout 15m \
  --set "monitoring.labels.release=$KUBE_PROMETHEUS_STACK_RELEASE" \
  "${keda_args[@]}" "${factory_args[@]}"
