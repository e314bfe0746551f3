#!/usr/bin/env bash
# Builds the real-node test's VM: a Debian root file system (mmdebstrap) with systemd as PID 1, the cloud kernel
# and its initramfs, Debian's runc, CNI plugins, AppArmor and the QEMU guest agent, plus the kubelet and
# containerd built from pinned Go modules (build-bins.sh). Writes disk.img (ext4), vmlinuz and initrd.img into a
# cache directory keyed by everything that goes in; prints that directory.
set -euo pipefail
main() {
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache_root="${KREBOOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kreboot}"
say() { printf '[node:rootfs] %s\n' "$*" >&2; }
die() { printf '[node:rootfs] ERROR: %s\n' "$*" >&2; exit 1; }
for t in mmdebstrap mke2fs; do command -v "$t" >/dev/null || die "$t not found (apt-get install mmdebstrap e2fsprogs)"; done
bins="$(bash "$here/build-bins.sh")"
key="$( (cat "$here/versions.env" "$0"; cat "$here"/guest/*; ls -l "$bins") | sha256sum | cut -c1-16)"
out="$cache_root/node/vm-$key"
if [[ -f "$out/.complete" ]]; then say "reusing $out"; echo "$out"; exit 0; fi
start=$SECONDS
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
packages=systemd,systemd-sysv,udev,dbus,kmod,iproute2,iptables,containernetworking-plugins,runc,ca-certificates
packages+=,util-linux,procps,linux-image-cloud-amd64,apparmor,qemu-guest-agent
say "mmdebstrap $DEBIAN_SUITE with $packages"
mmdebstrap --quiet --variant=minbase --include="$packages" "$DEBIAN_SUITE" "$root" \
  || die "mmdebstrap failed (Debian's package mirror must be reachable)"
install -m 0755 "$bins"/kubelet "$bins"/containerd "$bins"/containerd-shim-runc-v2 "$bins"/ctr "$root/usr/local/bin/"
install -D -m 0644 "$here/guest/containerd.toml" "$root/etc/containerd/config.toml"
install -D -m 0644 "$here/guest/10-kreboot.conflist" "$root/etc/cni/net.d/10-kreboot.conflist"
install -D -m 0644 "$here/guest/10-eth.network" "$root/etc/systemd/network/10-eth.network"
install -m 0755 "$here/guest/kreboot-node-setup" "$here/guest/kreboot-images" "$root/usr/local/sbin/"
for u in kreboot-node-setup containerd kreboot-images kubelet; do
  install -m 0644 "$here/guest/$u.service" "$root/etc/systemd/system/$u.service"
  ln -sf "/etc/systemd/system/$u.service" "$root/etc/systemd/system/multi-user.target.wants/$u.service"
done
ln -sf /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
ln -sf /lib/systemd/system/systemd-networkd-wait-online.service "$root/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service" 2>/dev/null || {
  mkdir -p "$root/etc/systemd/system/network-online.target.wants"
  ln -sf /lib/systemd/system/systemd-networkd-wait-online.service "$root/etc/systemd/system/network-online.target.wants/"
}
printf 'overlay\nbr_netfilter\n' > "$root/etc/modules-load.d/kreboot.conf"
printf 'net.ipv4.ip_forward=1\nnet.bridge.bridge-nf-call-iptables=1\n' > "$root/etc/sysctl.d/90-kreboot.conf"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' > "$root/etc/fstab"
echo kreboot-vm > "$root/etc/hostname"
# No password, no login: the test talks to the guest through the QEMU guest agent only.
kernel="$(ls "$root"/boot/vmlinuz-* | head -1)"; initrd="$(ls "$root"/boot/initrd.img-* | head -1)"
[[ -f "$kernel" && -f "$initrd" ]] || die "kernel or initramfs missing in the root file system"
mkdir -p "$out.tmp"
cp "$kernel" "$out.tmp/vmlinuz"; cp "$initrd" "$out.tmp/initrd.img"
rm -rf "$root/var/cache/apt/"* "$root/var/lib/apt/lists/"*
mke2fs -q -t ext4 -L kreboot-root -d "$root" "$out.tmp/disk.img" 4G || die "mke2fs failed"
rm -rf "$out"; mv "$out.tmp" "$out"
touch "$out/.complete"
say "done in $((SECONDS - start))s: $out ($(du -sh --apparent-size "$out/disk.img" | cut -f1) apparent, $(du -sh "$out/disk.img" | cut -f1) used)"
echo "$out"
exit 0
}
main "$@"
