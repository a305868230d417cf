#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
for m in virtio_pci virtio_blk squashfs; do /bin/busybox modprobe $m; done
while [ ! -b /dev/vda2 ]; do /bin/busybox usleep 10000; done
/bin/busybox mount -t squashfs -o ro /dev/vda2 /newroot
exec /bin/busybox switch_root /newroot /sbin/init
