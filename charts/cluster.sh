#!/usr/bin/env bash
# A local kind cluster with the whole factory (`make cluster-up`), and its removal (`make cluster-down`):
#
#   charts/cluster.sh up [--dry-run] [--skip-images] [-- INSTALL_ARGS...]
#   charts/cluster.sh down [--dry-run]
#
# up: the cluster `dhg` from kind-config.yaml, the images built (`make images`: buildah) and loaded into its nodes,
# then charts/install.sh (monitoring, then the factory with charts/kind-values.yaml); INSTALL_ARGS go to install.sh.
# Needs kind v0.32, kubectl, helm and buildah (what `make images` uses). --dry-run prints each command, runs none.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cluster=dhg
context="kind-$cluster"
# Built by `make images` and loaded: ghcr.io/dhg-ai/factory-<name>:<appVersion>. Not registry-embeddings: the kind
# values turn semantic search off (its torch would double what the nodes load).
images=(registry controller asr)
archives="$root/.cache/kind"
dry_run=false
skip_images=false
install_args=()

usage() {
  sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# Print each command; run it unless --dry-run.
run() {
  printf '%q ' "$@"
  printf '\n'
  if [[ "$dry_run" == false ]]; then
    "$@"
  fi
}

# The tag every image carries: the chart's appVersion (as images/build.py tags them).
app_version() {
  sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$here/dhg-factory/Chart.yaml"
}

up() {
  local version image reference
  version="$(app_version)"
  if [[ "$dry_run" == false ]] && kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    echo "kind cluster $cluster exists: keeping it"
  else
    run kind create cluster --name "$cluster" --config "$root/kind-config.yaml"
  fi
  if ! command -v cloud-provider-kind >/dev/null; then
    echo "For Ingress, Gateway and LoadBalancer addresses: go install sigs.k8s.io/cloud-provider-kind@v0.11.1" >&2
  fi
  echo "Run \`sudo cloud-provider-kind\` in another terminal to reach the factory through its Ingress." >&2
  if [[ "$skip_images" == false ]]; then
    run make -C "$root" images "ARGS=${images[*]}"  # not the ARGS of `make cluster-up ARGS=...`
  fi
  # buildah keeps the images in its own storage: each goes to kind as a docker archive.
  run mkdir -p "$archives"
  for image in "${images[@]}"; do
    reference="ghcr.io/dhg-ai/factory-$image:$version"
    run buildah --storage-driver vfs push --quiet "$reference" "docker-archive:$archives/factory-$image.tar:$reference"
    run kind load image-archive "$archives/factory-$image.tar" --name "$cluster"
  done
  # The current context is the new cluster's (kind sets it); install.sh's helm uses it. kind builds no CUDA image:
  # GPU workers run the CPU image (see kind-config.yaml).
  run kubectl config use-context "$context"
  run "$here/install.sh" -f "$here/kind-values.yaml" \
    --set "worker.gpuImage=ghcr.io/dhg-ai/factory-asr:$version" "${install_args[@]}"
}

down() {
  run kind delete cluster --name "$cluster"
}

command="${1:-}"
if (($#)); then
  shift
fi
while (($#)); do
  case "$1" in
    --dry-run) dry_run=true ;;
    --skip-images) skip_images=true ;;
    --)
      shift
      install_args+=("$@")
      break
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "unknown argument: $1" >&2
      usage >&2
      exit 2
      ;;
  esac
  shift
done

case "$command" in
  up) up ;;
  down) down ;;
  -h | --help)
    usage
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
