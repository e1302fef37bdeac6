#!/usr/bin/env bash
# Installs every Debian 12 package vmmap needs to build, test and run.
# Idempotent: packages already present are skipped, so a warm machine pays ~1 s.
set -euo pipefail

packages=(
  # build
  g++ cmake make pkg-config
  # libraries
  libvirt-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-dev libpugixml-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
  # tests and benchmarks (clang: libFuzzer targets)
  clang libclang-rt-14-dev clang-format
  # dpkg-dev: apt-get source unpacks abseil for the TSan stage (tests/harness/tsan-abseil.sh)
  dpkg-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # runtime: libvirt, QEMU, validation, the reference tool we benchmark against
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils virtinst
  # the end-to-end guest: Debian's kernel and a busybox initramfs
  linux-image-cloud-amd64 busybox-static cpio
  # the pod network: CNI plugins (bridge, host-local, loopback, portmap), ip/tc, iptables; curl in tests
  containernetworking-plugins iproute2 iptables curl
  # NoCloud seeds of disk-image pods: xorriso builds the ISO 9660 "cidata" volume without root or
  # loop mounts; cloud-init's Python dependencies, for the unpacked cloud-init below
  xorriso python3-configobj python3-jinja2 python3-jsonpatch python3-jsonschema python3-netifaces
  python3-oauthlib python3-requests python3-serial python3-yaml
  # the pod network bench: iperf3 inside the test guests and between plain netns
  iperf3
  # images: JSON (qemu-img info, OCI manifests), a real registry and the tools that publish to it
  nlohmann-json3-dev libzstd-dev zlib1g-dev libre2-dev docker-registry skopeo apache2-utils openssl
  # deploy/ manifests checked against the Kubernetes schema (tests/deploy): node for npm's
  # kubernetes-models, the official Python client for unknown fields, systemd-analyze for the unit
  nodejs python3-kubernetes systemd
  # /metrics: prometheus-cpp (exposer + text format); the scrape test calls the CRI with python3-grpcio
  prometheus-cpp-dev python3-grpcio
  # load for the suite's own proof that it holds on a busy machine (scripts/test.sh)
  stress-ng
  # bench/render_vs_virt_install.sh: process timings without a shell's fork in them
  hyperfine
  # exec and volumes (issue 12): the agent and fio inside the test guest
  qemu-guest-agent fio
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm's kubernetes-models (JSON schema from Kubernetes' OpenAPI) and js-yaml for
# tests/deploy/validate_manifests.mjs, pinned, in a directory of their own.
manifest_tools=${VMMAP_MANIFEST_TOOLS:-/opt/vmmap-tools/manifest-check}
if [[ ! -f $manifest_tools/node_modules/kubernetes-models/package.json ||
      ! -f $manifest_tools/node_modules/js-yaml/package.json ]]; then
  echo "install-deps: npm install kubernetes-models js-yaml into $manifest_tools" >&2
  mkdir -p "$manifest_tools"
  npm install --prefix "$manifest_tools" --no-audit --no-fund --loglevel=error \
    kubernetes-models@5.1.0 js-yaml@4.1.0 >/dev/null
fi

# 9p test guests (issue 12): Debian's cloud kernel is built without 9p (CONFIG_NET_9P is not
# set). The generic kernel of the same version is unpacked (not installed: no initramfs, no
# boot entry, /boot untouched) with its modules.dep, for tests/e2e/guest/build-guest.sh's
# GUEST_KERNEL_ROOT.
test_kernels=${VMMAP_TEST_KERNELS:-/opt/vmmap-tools/kernels}
cloud_kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -n $cloud_kernel ]]; then
  generic=${cloud_kernel#/boot/vmlinuz-}
  generic=${generic%-cloud-amd64}-amd64
  if [[ ! -f $test_kernels/$generic/boot/vmlinuz-$generic ]]; then
    echo "install-deps: unpacking linux-image-$generic into $test_kernels/$generic" >&2
    download=$(mktemp -d)
    chmod 0755 "$download"  # apt's _apt user writes the download
    (cd "$download" && apt-get download -qq "linux-image-$generic" >/dev/null)
    rm -rf "$test_kernels/$generic.tmp"
    mkdir -p "$test_kernels/$generic.tmp"
    dpkg-deb -x "$download"/linux-image-"$generic"_*.deb "$test_kernels/$generic.tmp"
    depmod -b "$test_kernels/$generic.tmp" "$generic"
    rm -rf "$download" "$test_kernels/$generic"
    mv "$test_kernels/$generic.tmp" "$test_kernels/$generic"
  fi
fi

# The guest side of NoCloud seeds, checked by the real parser: Debian's cloud-init is unpacked
# (not installed: installed, its units would take over this host's own network configuration at
# boot) for tests/network/nocloud_seed_test.cc, which runs it with PYTHONPATH pointing inside.
cloud_init=${VMMAP_CLOUD_INIT_ROOT:-/opt/vmmap-tools/cloud-init}
if [[ ! -f $cloud_init/usr/bin/cloud-init ]]; then
  echo "install-deps: unpacking cloud-init into $cloud_init" >&2
  download=$(mktemp -d)
  chmod 0755 "$download"
  (cd "$download" && apt-get download -qq cloud-init >/dev/null)
  rm -rf "$cloud_init.tmp"
  mkdir -p "$cloud_init.tmp"
  dpkg-deb -x "$download"/cloud-init_*.deb "$cloud_init.tmp"
  rm -rf "$download" "$cloud_init"
  mv "$cloud_init.tmp" "$cloud_init"
fi
