#!/usr/bin/env bash
# Builds the murmur node image from a static binary compiled on this machine,
# for when the golang image cannot be pulled:
#
#   deploy/image.sh                    # tags murmur/node:local, the image docker-compose.yml runs
#   docker compose up --no-build       # then use it instead of building from source
#
# MURMUR_IMAGE overrides the tag. Needs Go and Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
image="${MURMUR_IMAGE:-murmur/node:local}"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/data" "$ctx/shared"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$ctx/murmur" ./cmd/murmur
ca=/etc/ssl/certs/ca-certificates.crt
if [ -r "$ca" ]; then cp "$ca" "$ctx/"; else : >"$ctx/ca-certificates.crt"; echo "image.sh: no $ca; the crawler will not verify HTTPS" >&2; fi
cp deploy/Dockerfile.prebuilt "$ctx/Dockerfile"
docker build -q -t "$image" "$ctx"
echo "$image"
