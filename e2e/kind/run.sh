#!/usr/bin/env bash
# kreboot on kind, for people with Docker: the same checks as the simulated e2e (e2e/scenarios.test.ts,
# scenario 1), on container nodes. Builds the image from the Dockerfile, loads it, applies e2e/kind (deploy/base
# with the local image and the signal method), marks every worker as needing a reboot with `docker exec`, and
# checks that the workers reboot one at a time, each exactly once, and end schedulable.
# Cannot run on the build machine (no Docker engine); kept in step with the simulated e2e by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
for t in docker kind kubectl; do command -v "$t" >/dev/null || { echo "run.sh: $t is required" >&2; exit 2; }; done
cluster=kreboot
export KUBECONFIG="${KUBECONFIG:-$(mktemp)}"

kind create cluster --config e2e/kind/kind-config.yaml --kubeconfig "$KUBECONFIG"
trap '[[ -n "${KEEP:-}" ]] || kind delete cluster --name "$cluster"' EXIT
workers=$(kind get nodes --name "$cluster" | grep worker | sort)
for n in $workers; do
  # Fresh boot ID per container start (see fake-boot-id.service); Docker restarts the node when systemd reboots.
  docker cp e2e/kind/fake-boot-id.service "$n:/etc/systemd/system/kreboot-fake-boot-id.service"
  docker exec "$n" systemctl enable kreboot-fake-boot-id.service
  docker update --restart=always "$n" >/dev/null
  docker restart "$n" >/dev/null
done
kubectl wait --for=condition=Ready nodes --all --timeout=180s

docker build -t kreboot:dev .
kind load docker-image kreboot:dev --name "$cluster"
kubectl apply --server-side -k e2e/kind
kubectl -n kreboot-system rollout status daemonset/kreboot-agent --timeout=180s
kubectl -n kreboot-system rollout status deployment/kreboot-controller --timeout=180s
kubectl apply -f deploy/examples/maintenancewindow.yaml

declare -A boot
for n in $workers; do boot[$n]=$(kubectl get node "$n" -o jsonpath='{.status.nodeInfo.bootID}'); done
for n in $workers; do docker exec "$n" touch /var/run/reboot-required; done

deadline=$((SECONDS + 900))
max_disrupted=0
while :; do
  disrupted=0 done=0
  for n in $workers; do
    phase=$(kubectl get node "$n" -o jsonpath='{.metadata.annotations.kreboot\.io/phase}' 2>/dev/null || true)
    ready=$(kubectl get node "$n" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
    id=$(kubectl get node "$n" -o jsonpath='{.status.nodeInfo.bootID}' 2>/dev/null || true)
    [[ -n "$phase" || "$ready" != True ]] && disrupted=$((disrupted + 1))
    [[ -z "$phase" && "$ready" == True && -n "$id" && "$id" != "${boot[$n]}" ]] && done=$((done + 1))
  done
  ((disrupted > max_disrupted)) && max_disrupted=$disrupted
  if ((disrupted > 1)); then echo "FAIL: $disrupted nodes disrupted at once" >&2; exit 1; fi
  echo "kind: rebooted $done/3, disrupted now $disrupted"
  ((done == 3)) && break
  ((SECONDS > deadline)) && { echo "FAIL: not done in 15 min" >&2; kubectl get nodes -o wide >&2; exit 1; }
  sleep 1
done
for n in $workers; do
  [[ "$(kubectl get node "$n" -o jsonpath='{.spec.unschedulable}')" != true ]] || { echo "FAIL: $n left cordoned" >&2; exit 1; }
done
echo "kind: rebooted 3/3 nodes one at a time (max disrupted $max_disrupted)"
