#!/bin/sh
# The consumer container's entrypoint: render the KCL properties for this deployment, then run
# the KCL MultiLangDaemon (Java), which starts one `cdc-kcl-processor` per leased shard.
#
# Environment (set by the ECS task definition): CDC_STREAM, CDC_KCL_APPLICATION, CDC_REGION.
# `entrypoint.sh --dry-run` prints the rendered properties and the daemon command instead.
set -eu
template=${CDC_KCL_PROPERTIES:-/app/consumer.properties}
rendered=${CDC_KCL_RENDERED:-/tmp/kcl/consumer.properties}
for name in CDC_STREAM CDC_KCL_APPLICATION CDC_REGION; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "entrypoint: $name is not set: set it in the task definition" >&2
    exit 2
  fi
done
mkdir -p "$(dirname "$rendered")"
sed -e "s|^streamName = .*|streamName = ${CDC_STREAM}|" \
    -e "s|^applicationName = .*|applicationName = ${CDC_KCL_APPLICATION}|" \
    -e "s|^regionName = .*|regionName = ${CDC_REGION}|" \
    "$template" > "$rendered"
command=$(amazon_kclpy_helper.py --print_command --java "$(command -v java || echo java)" \
  --properties "$rendered")
if [ "${1:-}" = "--dry-run" ]; then
  cat "$rendered"
  echo "command: $command"
  exit 0
fi
# shellcheck disable=SC2086  # the helper prints one command line; split it into words
exec $command
