#!/usr/bin/env bash
# Reliability soak: a lab answering a share of API requests with faults, and N updates of a
# small Deployment through it, each checked for a true verdict: exit 0 only when the requested
# VERSION is what the Deployment runs, fully rolled out; any other exit with the Deployment
# not claiming it. Prints one line per run and a tally.
#   examples/fault-soak.sh target/release/rollout '500=0.1,429=0.05,409=0.05,watch-cut=5,expire=0.2' 30
# MODE=resume makes each run `pause`, `update --no-wait`, then `resume` (the one followed and
# checked), then `status` (which must end 0 at once on the settled rollout).
set -uo pipefail
rollout=${1:?usage: fault-soak.sh ROLLOUT FAULTS [RUNS]}
faults=${2:?faults spec, e.g. 500=0.3}
runs=${3:-30}
dir=$(mktemp -d)
kc="$dir/kubeconfig"
"$rollout" lab up --kubeconfig "$kc" --faults "$faults" >"$dir/lab.log" 2>&1 &
lab=$!
trap 'kill $lab 2>/dev/null; wait $lab 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 200); do [ -s "$kc" ] && break; sleep 0.1; done
export KUBECONFIG="$kc"
# kubectl itself meets the faults too: retry its few calls.
k() { for _ in $(seq 20); do kubectl "$@" 2>/dev/null && return 0; sleep 0.2; done; return 1; }
cat >"$dir/web.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: server
        image: busybox:1.36
        command: [sh, -c, "sleep 1; touch /tmp/ready; sleep 3600"]
        env: [{name: VERSION, value: v0}]
        readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1}
YAML
k apply -f "$dir/web.yaml" >/dev/null || { echo "soak: cannot create the Deployment" >&2; exit 1; }
true_verdicts=0
skipped=0
for i in $(seq "$runs"); do
  if [ "${MODE:-update}" = resume ]; then
    "$rollout" pause web >/dev/null 2>&1 || k patch deploy web -p '{"spec":{"paused":true}}' >/dev/null
    if ! "$rollout" update web --env "VERSION=v$i" --no-wait >"$dir/update" 2>&1; then
      echo "run $i: the paused update itself ended non-zero: $(grep -m1 '^error:' "$dir/update")"
      k patch deploy web -p '{"spec":{"paused":null}}' >/dev/null
      k rollout status deploy/web --timeout=2m >/dev/null
      skipped=$((skipped + 1))
      continue
    fi
    "$rollout" resume web --timeout 2m >"$dir/out" 2>&1
    code=$?
    if [ "$code" = 0 ]; then
      "$rollout" status web --timeout 1m >>"$dir/out" 2>&1
      code=$?
    fi
  else
    "$rollout" update web --env "VERSION=v$i" --timeout 2m >"$dir/out" 2>&1
    code=$?
  fi
  live=$(k get deploy web -o jsonpath='{.spec.template.spec.containers[0].env[0].value} {.status.updatedReplicas} {.status.availableReplicas} {.status.replicas} {.metadata.generation} {.status.observedGeneration}')
  read -r version updated available total gen observed <<<"$live"
  rolled=$([ "$version" = "v$i" ] && [ "$updated" = 3 ] && [ "$available" = 3 ] && [ "$total" = 3 ] && [ "$gen" = "$observed" ] && echo yes || echo no)
  # The goal: every run ends 0 with its version live. Exit 0 with it not live is a false
  # verdict; a non-zero exit is reported as it is (its own report says what it left).
  if [ "$code" = 0 ] && [ "$rolled" = yes ]; then
    verdict=true
    true_verdicts=$((true_verdicts + 1))
  elif [ "$code" = 0 ]; then
    verdict=FALSE
  else
    verdict="not completed: $(grep -m1 '^error:' "$dir/out")"
  fi
  echo "run $i: exit $code, live=$rolled ($live), verdict $verdict"
  # A failed run leaves its rollout going: let it settle before the next one.
  [ "$code" = 0 ] || k rollout status deploy/web --timeout=2m >/dev/null
done
echo "faults $faults: $true_verdicts of $((runs - skipped)) runs ended 0 with their version live ($skipped not started: the change itself was refused)"
