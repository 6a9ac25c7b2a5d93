#!/usr/bin/env bash
# The main job against whatever cluster KUBECONFIG names (kind, k3s, a managed cluster, or
# the lab): deploy the seeds' inference Deployment, roll v1 -> v2, ship the bad v3 and
# expect an automatic rollback (exit 3), then undo and check history. Exits non-zero on
# the first surprise. Used by CI's kind job; runnable by hand:
#   KUBECONFIG=~/.kube/rollout-lab.yaml examples/smoke.sh target/debug/rollout
set -euo pipefail
rollout=${1:-rollout}
ns=${NAMESPACE:-rollout-smoke-$$}
here=$(cd "$(dirname "$0")/.." && pwd)

# A manifest rather than `kubectl create namespace`, which sends protobuf (the lab takes JSON).
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" | kubectl apply -f -
trap 'kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT
kubectl -n "$ns" apply -f "$here/manifests/01-inference.yaml"

"$rollout" -n "$ns" status inference --timeout 3m
"$rollout" -n "$ns" update inference --env VERSION=v2 --timeout 3m

set +e
"$rollout" -n "$ns" update inference --env VERSION=v3 \
  --patch '{"spec":{"template":{"spec":{"containers":[{"name":"server","command":["sh","-c","sleep 3; sleep 3600"]}]}}}}' \
  --timeout 3m
code=$?
set -e
if [ "$code" -ne 3 ]; then
  echo "smoke: the bad v3 ended with exit $code, expected 3 (rolled back)" >&2
  exit 1
fi

"$rollout" -n "$ns" history inference
# Back to v1 (plain `undo` would return to the bad v3, the previous revision).
"$rollout" -n "$ns" undo inference --to-revision 1 --timeout 3m
"$rollout" -n "$ns" pause inference
"$rollout" -n "$ns" resume inference --timeout 3m
echo "smoke: ok"
