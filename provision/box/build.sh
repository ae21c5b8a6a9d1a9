#!/usr/bin/env bash
# Build the lab's libvirt Vagrant box from Debian packages only (no Vagrant Cloud, no internet).
#
#   build.sh OUTPUT.box
#
# Needs root, debootstrap, sfdisk (fdisk), mke2fs (e2fsprogs) and qemu-img (qemu-utils).
# No loop device and no mount: mke2fs -d writes the root filesystem straight into the
# partition of a raw disk file, and GRUB's boot sectors are written with dd (this is what
# grub-bios-setup would do; grub-install cannot work where the kernel has no loop partitions).
set -euo pipefail

out=${1:?usage: build.sh OUTPUT.box}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${LAB_BOX_SUITE:-bookworm}
disk_gib=${LAB_BOX_DISK_GIB:-16}
label=nwlroot
pubkey=${LAB_VAGRANT_PUBKEY:-$(find /usr/share/rubygems-integration/all/gems -path "*/vagrant-*/keys/vagrant.pub" 2>/dev/null | sort | head -n 1)}

[ "$(id -u)" -eq 0 ] || { echo "build.sh: must run as root (debootstrap, chroot)" >&2; exit 1; }
[ -r "$pubkey" ] || { echo "build.sh: Vagrant's insecure public key not found; install Debian's vagrant package or set LAB_VAGRANT_PUBKEY" >&2; exit 1; }
for tool in debootstrap sfdisk mke2fs qemu-img; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/nwl-box.XXXXXX")
rootfs=$work/rootfs
cleanup() {
  for fs in proc sys dev/pts dev; do umount "$rootfs/$fs" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

packages=$(grep -v '^#' "$here/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
echo "==> debootstrap $suite from $mirror"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

echo "==> configure the guest"
cp -a "$here/rootfs/." "$rootfs/"
cat >"$rootfs/etc/fstab" <<EOF
LABEL=$label / ext4 errors=remount-ro 0 1
EOF
mkdir -p "$rootfs/boot/grub"
kernel=$(find "$rootfs/boot" -maxdepth 1 -name "vmlinuz-*" -printf "%f\n" | sort -V | tail -n 1)
initrd=initrd.img-${kernel#vmlinuz-}
sed -e "s/@KERNEL@/$kernel/; s/@INITRD@/$initrd/; s/@LABEL@/$label/" \
  "$here/grub.cfg.in" >"$rootfs/boot/grub/grub.cfg"
chroot "$rootfs" /bin/bash -euo pipefail <<'EOF'
useradd --uid 1000 --create-home --shell /bin/bash --groups sudo,docker vagrant
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/vagrant && chmod 0440 /etc/sudoers.d/vagrant
echo 'root:vagrant' | chpasswd
rm -f /etc/ssh/ssh_host_*
# debootstrap copied the build host's resolver; the guests have none until consul is set up.
: >/etc/resolv.conf
# Weave 2.8.x programs iptables-legacy (weave#3465); docker must use the same backend.
update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-legacy
systemctl enable regenerate-ssh-host-keys.service >/dev/null
systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1
# Boot time under software emulation: no unit for hardware or features the lab VMs lack, and
# no AppArmor profiles nothing here uses (compiling them took ~40 s of every boot; docker
# loads its own docker-default profile).
systemctl mask modprobe@drm.service modprobe@fuse.service modprobe@dm_mod.service \
  modprobe@efi_pstore.service modprobe@loop.service e2scrub_reap.service >/dev/null 2>&1
# Nor what a running lab guest was seen doing for nothing: housekeeping timers (fstrim, e2scrub,
# dpkg backups) and a login prompt on a console no one has (the serial one stays).
systemctl mask fstrim.timer e2scrub_all.timer dpkg-db-backup.timer getty@tty1.service >/dev/null 2>&1
systemctl set-default multi-user.target >/dev/null
rm -f /etc/apparmor.d/lsb_release /etc/apparmor.d/nvidia_modprobe /etc/apparmor.d/sbin.dhclient
# A small initramfs (virtio disk, ext4) instead of one with most modules: less to unpack.
sed -i 's/^MODULES=.*/MODULES=list/' /etc/initramfs-tools/initramfs.conf
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >>/etc/initramfs-tools/modules
update-initramfs -u -k all >/dev/null 2>&1
: >/etc/machine-id && rm -f /var/lib/dbus/machine-id
echo lab >/etc/hostname
cp -r /usr/lib/grub/i386-pc /boot/grub/
grub-mkimage -O i386-pc -d /usr/lib/grub/i386-pc -o /boot/grub/core.img \
  -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /tmp/*
EOF

# The test images' filesystems, imported into Docker at boot by nomad-weave-lab-images.service:
# building them in every VM took about a minute per bring-up under software emulation.
echo "==> bake the test images"
install -D -m 0755 "$here/../images.sh" "$rootfs/usr/local/lib/nomad-weave-lab/images.sh"
chroot "$rootfs" /usr/local/lib/nomad-weave-lab/images.sh --save /var/lib/nomad-weave-lab/images
chroot "$rootfs" systemctl enable nomad-weave-lab-images.service >/dev/null

install -d -m 0700 -o 1000 -g 1000 "$rootfs/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$pubkey" "$rootfs/home/vagrant/.ssh/authorized_keys"

echo "==> write the disk"
raw=$work/box.raw
truncate -s "${disk_gib}G" "$raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk --quiet "$raw"
mke2fs -q -F -t ext4 -L "$label" -d "$rootfs" -E offset=1048576 "$raw" "$((disk_gib * 1024 - 1))M"
dd if="$rootfs/usr/lib/grub/i386-pc/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
dd if="$rootfs/boot/grub/core.img" of="$raw" bs=512 seek=1 conv=notrunc status=none
qemu-img convert -O qcow2 "$raw" "$work/box.img"

echo "==> pack $out"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$disk_gib" >"$work/metadata.json"
cp "$here/box-Vagrantfile" "$work/Vagrantfile"
mkdir -p "$(dirname "$out")"
tar -C "$work" -cf "$out.partial" metadata.json Vagrantfile box.img
mv "$out.partial" "$out"
echo "==> done: $out ($(du -h "$out" | cut -f1))"
