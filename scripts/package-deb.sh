#!/usr/bin/env bash
# Build the Debian package of linerate with dpkg-deb (no cargo-deb: the layout below is the
# whole of it, and dpkg-deb ships with every Debian).
#
#   scripts/package-deb.sh [--binary PATH] [--out DIR]
#
# --binary: the linerate executable to package (default: target/release/linerate, built with
#   `cargo build --release --locked` when absent). The tests pass the debug binary they
#   already have, so the suite does not do a second, full release build.
# --out: where linerate_<version>_<arch>.deb goes (default: target/debian). Prints its path.
# --compress: dpkg-deb's compressor (default xz; the tests take none for a 190 MB debug binary).
#
# Contents: /usr/bin/linerate; /etc/linerate/linerate.toml (conffile, commented defaults);
# /etc/linerate/tuning/ (the sysctl profiles `linerate doctor --profile NAME` finds there;
# conffiles); /usr/lib/systemd/system/linerate.service (hardened); /usr/lib/sysctl.d/
# 60-linerate.conf (the throughput profile, applied at boot); /usr/share/linerate/ (nic.sh,
# the Prometheus rules, the Grafana dashboard, the Strimzi manifests); /usr/share/doc/linerate/.
set -euo pipefail
cd "$(dirname "$0")/.."
binary="" out="target/debian" compress="xz"
while (($#)); do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --compress) compress="$2"; shift 2 ;;
    *) echo "package-deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$binary" ]]; then
  binary="target/release/linerate"
  [[ -x "$binary" ]] || cargo build --release --locked
fi
[[ -x "$binary" ]] || { echo "package-deb: $binary is not an executable" >&2; exit 1; }

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/linerate_${version}_${arch}"

install -D -m 0755 "$binary" "$root/usr/bin/linerate"
install -D -m 0644 deploy/debian/linerate.toml "$root/etc/linerate/linerate.toml"
install -d -m 0755 "$root/etc/linerate/tuning"
install -m 0644 tuning/throughput.conf tuning/low-latency.conf "$root/etc/linerate/tuning/"
install -D -m 0644 deploy/debian/linerate.service "$root/usr/lib/systemd/system/linerate.service"
install -D -m 0644 tuning/throughput.conf "$root/usr/lib/sysctl.d/60-linerate.conf"
install -D -m 0755 tuning/nic.sh "$root/usr/share/linerate/tuning/nic.sh"
install -D -m 0644 deploy/prometheus/linerate-rules.yml "$root/usr/share/linerate/prometheus/linerate-rules.yml"
install -D -m 0644 deploy/prometheus/prometheus.yml "$root/usr/share/linerate/prometheus/prometheus.yml"
install -D -m 0644 deploy/grafana/dashboards/linerate-fleet.json "$root/usr/share/linerate/grafana/linerate-fleet.json"
install -d -m 0755 "$root/usr/share/linerate/kubernetes"
install -m 0644 deploy/kubernetes/*.yaml "$root/usr/share/linerate/kubernetes/"
install -D -m 0644 README.md "$root/usr/share/doc/linerate/README.md"
install -D -m 0644 docs/SCHEMA.md "$root/usr/share/doc/linerate/SCHEMA.md"
cat > "$root/usr/share/doc/linerate/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: linerate
Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT

install -d -m 0755 "$root/DEBIAN"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$root/DEBIAN/"
cat > "$root/DEBIAN/conffiles" <<CONFFILES
/etc/linerate/linerate.toml
/etc/linerate/tuning/throughput.conf
/etc/linerate/tuning/low-latency.conf
/usr/lib/sysctl.d/60-linerate.conf
CONFFILES
size_kib="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<CONTROL
Package: linerate
Version: ${version}
Architecture: ${arch}
Maintainer: linerate maintainers <linerate@localhost>
Installed-Size: ${size_kib}
Depends: libc6 (>= 2.34), libssl3, adduser, systemd
Section: admin
Priority: optional
Homepage: https://example.invalid/linerate
Description: thread-per-core log ingestion appliance
 Syslog over UDP and TCP, forwarded Windows events, EVTX files and cloud logs
 (HTTP input) into Kafka, normalized to ECS JSON, with a durable ring and spill
 per core so nothing is lost while Kafka is away. Includes the systemd unit, the
 sysctl profiles, Prometheus alerts, a Grafana dashboard and Strimzi manifests.
CONTROL
mkdir -p "$out"
deb="$out/linerate_${version}_${arch}.deb"
# --root-owner-group: every file root:root without fakeroot.
dpkg-deb --root-owner-group "-Z$compress" --build "$root" "$deb" >&2
echo "$deb"
