#!/bin/sh
# After installing or upgrading the chaos package: create the capitain system user
# (sysusers.d/chaos-capitain.conf) and make systemd see the unit. Neither starts anything.
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers chaos-capitain.conf
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
