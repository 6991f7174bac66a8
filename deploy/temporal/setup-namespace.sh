#!/usr/bin/env bash
# One-shot once the server is healthy: register the namespace and every search attribute in
# SEARCH_ATTRIBUTES ("Name=Type ..."). Safe to run again: existing ones are left as they are.
set -euo pipefail
ns=${NAMESPACE:-default}

retry() {  # a new namespace reaches every frontend's cache within seconds; until then calls fail
  for _ in $(seq 30); do
    if "$@"; then return 0; fi
    sleep 2
  done
  echo "gave up: $*" >&2
  return 1
}

if ! temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
  retry temporal operator namespace create --namespace "$ns" --retention "${NAMESPACE_RETENTION:-720h}"
fi
existing=$(retry temporal operator search-attribute list --namespace "$ns" | awk '{print $1}')
for entry in $SEARCH_ATTRIBUTES; do
  name=${entry%%=*}
  type=${entry##*=}
  if grep -qx "$name" <<<"$existing"; then
    echo "search attribute $name exists"
  else
    retry temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type"
  fi
done
echo "namespace $ns and its search attributes are registered"
