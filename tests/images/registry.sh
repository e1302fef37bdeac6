#!/usr/bin/env bash
# Test harness for image pulls: a real registry (Debian's docker-registry) on
# loopback, and OCI images published to it with skopeo.
#
#   registry.sh start DIR PORT [USER:PASSWORD]   registry on 127.0.0.1:PORT, plain
#                                                http, storage and config in DIR;
#                                                with USER:PASSWORD behind htpasswd
#   registry.sh start DIR PORT token:REALM      the same behind bearer tokens from
#                                                REALM (service vmmap-registry, issuer
#                                                vmmap-test); the signing key and its
#                                                certificate are DIR/token.key, .crt
#   registry.sh stop DIR                         stops it (the pid in DIR/pid)
#   registry.sh layout LAYOUT TAG [--plain] ROOTFS...
#                                                writes an OCI image layout with
#                                                one layer per ROOTFS dir (gzip
#                                                unless --plain) with standard
#                                                tools; prints "<manifest digest>
#                                                <config digest>"
#   registry.sh index LAYOUT TAG OTHER_LAYOUT    makes TAG of LAYOUT an image index:
#                                                OTHER_LAYOUT's image as linux/arm64,
#                                                LAYOUT's as linux/amd64; prints its digest
#   registry.sh push LAYOUT TAG REF [USER:PASSWORD]  skopeo copy --all oci:LAYOUT:TAG docker://REF
set -euo pipefail

die() { echo "registry.sh: $*" >&2; exit 1; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

cmd="${1:-}"; shift || true
case "$cmd" in
start)
  dir="$1"; port="$2"; creds="${3:-}"
  mkdir -p "$dir/storage"
  {
    echo "version: 0.1"
    echo "log: {level: warn, accesslog: {disabled: true}}"
    echo "storage:"
    echo "  filesystem: {rootdirectory: $dir/storage}"
    echo "  delete: {enabled: true}"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    if [ "${creds#token:}" != "$creds" ]; then
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=vmmap-test \
        -keyout "$dir/token.key" -out "$dir/token.crt" 2>/dev/null
      echo "auth:"
      echo "  token: {realm: \"${creds#token:}\", service: vmmap-registry, issuer: vmmap-test, rootcertbundle: $dir/token.crt}"
    elif [ -n "$creds" ]; then
      htpasswd -Bbn "${creds%%:*}" "${creds#*:}" > "$dir/htpasswd" 2>/dev/null
      echo "auth:"
      echo "  htpasswd: {realm: vmmap-test, path: $dir/htpasswd}"
    fi
  } > "$dir/config.yml"
  docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 &
  echo $! > "$dir/pid"
  for _ in $(seq 1 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
    if [ "$code" = 200 ] || [ "$code" = 401 ]; then exit 0; fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "registry exited: $(cat "$dir/registry.log")"
    sleep 0.1
  done
  die "registry on port $port did not answer within 60 s"
  ;;
stop)
  dir="$1"
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
  fi
  ;;
layout)
  # layout LAYOUT TAG [--plain] ROOTFS...: one layer a ROOTFS dir, base first.
  layout="$1"; tag="$2"; shift 2
  compression=gzip
  if [ "${1:-}" = --plain ]; then compression=plain; shift; fi
  mkdir -p "$layout/blobs/sha256"
  work="$layout/.work"; rm -rf "$work"; mkdir -p "$work"
  diff_ids=""; layers=""
  for rootfs in "$@"; do
    # A reproducible layer: sorted names, numeric root ownership, fixed times.
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
        -C "$rootfs" -cf "$work/layer.tar" .
    diff_ids="$diff_ids${diff_ids:+,}\"sha256:$(sha "$work/layer.tar")\""
    if [ "$compression" = plain ]; then
      layer_type=application/vnd.oci.image.layer.v1.tar
      mv "$work/layer.tar" "$work/layer"
    else
      layer_type=application/vnd.oci.image.layer.v1.tar+gzip
      gzip -n -c "$work/layer.tar" > "$work/layer"
    fi
    layer=$(sha "$work/layer"); layer_size=$(stat -c %s "$work/layer")
    mv "$work/layer" "$layout/blobs/sha256/$layer"
    layers="$layers${layers:+,}{\"mediaType\":\"$layer_type\",\"digest\":\"sha256:$layer\",\"size\":$layer_size}"
  done
  printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$diff_ids" > "$work/config"
  config=$(sha "$work/config"); config_size=$(stat -c %s "$work/config")
  mv "$work/config" "$layout/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$config" "$config_size" "$layers" > "$work/manifest"
  manifest=$(sha "$work/manifest"); manifest_size=$(stat -c %s "$work/manifest")
  mv "$work/manifest" "$layout/blobs/sha256/$manifest"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$tag" > "$layout/index.json"
  rm -rf "$work"
  # What the test checks the pull against.
  echo "sha256:$manifest sha256:$config"
  ;;
index)
  layout="$1"; tag="$2"; other="$3"
  # The first manifest entry of each layout's index.json: digest and size.
  entry() { grep -o '"digest":"sha256:[0-9a-f]*","size":[0-9]*' "$1/index.json" | head -1; }
  amd64=$(entry "$layout"); arm64=$(entry "$other")
  cp -n "$other"/blobs/sha256/* "$layout/blobs/sha256/"
  m=application/vnd.oci.image.manifest.v1+json
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"%s",%s,"platform":{"architecture":"arm64","os":"linux"}},{"mediaType":"%s",%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
    "$m" "$arm64" "$m" "$amd64" > "$layout/image-index"
  index=$(sha "$layout/image-index"); index_size=$(stat -c %s "$layout/image-index")
  mv "$layout/image-index" "$layout/blobs/sha256/$index"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$index" "$index_size" "$tag" > "$layout/index.json"
  echo "sha256:$index"
  ;;
push)
  layout="$1"; tag="$2"; ref="$3"; creds="${4:-}"
  args=(--all --dest-tls-verify=false --quiet)
  [ -n "$creds" ] && args+=(--dest-creds "$creds")
  skopeo copy "${args[@]}" "oci:$layout:$tag" "docker://$ref" >&2
  ;;
*)
  die "usage: registry.sh start|stop|layout|push ..."
  ;;
esac
