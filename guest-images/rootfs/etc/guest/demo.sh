#!/bin/sh
# The demo session of `make run` without a terminal: a few commands with visible output, then a disk write
# that goes through the virtio-blk disk and the QED image (dd + sync + md5sum). init powers off afterwards.
run() { echo; echo "guest# $*"; sh -c "$*"; }
echo "GUEST-DEMO: start"
run 'uname -a'
run 'grep -E "^(model name|flags)" /proc/cpuinfo'
run 'free -k'
run 'cat /proc/mounts'
run 'df -k /'
run 'dd if=/dev/urandom of=/root/demo.bin bs=64k count=64'
run 'sync'
run 'md5sum /root/demo.bin'
run 'ls -l /root'
echo
echo "GUEST-DEMO: done"
