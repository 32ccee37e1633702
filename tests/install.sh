#!/bin/sh
# make installcheck: what `make install` lays out, in a scratch DESTDIR, with
# the paths ./configure compiled in; that the installed binary accepts its
# own default configuration; that the man page renders without a warning;
# that make install refuses a PREFIX the binary was not built for; that
# `kelpie -t -p .` works in a fresh checkout; and, where systemd-analyze can
# run without a running systemd, that the unit files verify.
set -eu
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "installcheck: FAIL: $*" >&2; fails=$((fails + 1)); }
var() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MAKE -s --no-print-directory -f Makefile -f - print-var VAR="$1" <<'MK'
print-var:
	@echo '$($(VAR))'
MK
}

prefix=$(var PREFIX)
sbin=$(var SBIN_PATH)
conf=$(var CONF_PATH)
confdir=$(var CONF_DIR)
mandir=$(var MANDIR)
d="$tmp/root"
$MAKE -s --no-print-directory install DESTDIR="$d" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "make install DESTDIR failed"; }

for f in "$sbin" "$conf" "$confdir/mime.types" "$confdir/kelpie.logrotate" \
    "$confdir/kelpie.service" "$confdir/kelpie.socket" \
    "$prefix/html/index.html" "$mandir/man8/kelpie.8"; do
    [ -f "$d$f" ] || fail "make install did not install $f"
done
for f in $(var LOG_DIRS); do
    [ -d "$d$f" ] || fail "make install did not create the directory $f"
done
[ -x "$d$sbin" ] || fail "$sbin is not executable"

# The installed files name the configured paths, never the defaults of
# another configuration.
pid=$(var PID_PATH)
grep -q "kill -USR1 \"\$(cat $pid)\"" "$d$confdir/kelpie.logrotate" ||
    fail "kelpie.logrotate does not signal the master named in $pid"

# The service runs the configured binary in the foreground, and may write
# where the logs and the pid file go (ProtectSystem=strict).
grep -q "^ExecStart=$sbin -g 'daemon off;'\$" "$d$confdir/kelpie.service" ||
    fail "kelpie.service does not start $sbin with daemon off"
for dir in $(var LOG_DIRS); do
    grep -q "^ReadWritePaths=.*-$dir\( \|\$\)" "$d$confdir/kelpie.service" ||
        fail "kelpie.service does not let kelpie write $dir"
done

# systemd-analyze verify needs no running systemd: the units, pointed at the
# DESTDIR copy of the binary. systemd before 253 does not know
# Type=notify-reload (it falls back to simple, where kelpie still runs):
# that one complaint is expected there, any other fails.
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir "$tmp/units"
    for f in kelpie.service kelpie.socket; do
        sed -e "s|\(=-\{0,1\}\)/|\1$d/|" -e "s| -/| -$d/|g" "$d$confdir/$f" >"$tmp/units/$f"
    done
    ver=$(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
    out=$(cd "$tmp/units" && systemd-analyze verify --man=no ./kelpie.service ./kelpie.socket 2>&1) ||
        fail "systemd-analyze verify failed: $out"
    if [ "${ver:-0}" -lt 253 ]; then
        out=$(printf '%s\n' "$out" | grep -v 'Failed to parse service type, ignoring: notify-reload$' || true)
    fi
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
else
    echo "installcheck: systemd-analyze not installed, unit files not verified"
fi

# The man page: no groff warning at all (-ww), and man(1) renders it.
warn=$(groff -man -ww -z "$d$mandir/man8/kelpie.8" 2>&1) || fail "groff failed on kelpie.8"
[ -z "$warn" ] || fail "groff warnings in kelpie.8: $warn"
if command -v man >/dev/null 2>&1; then
    out=$(MANWIDTH=80 man -l "$d$mandir/man8/kelpie.8" 2>&1 >/dev/null) || fail "man -l kelpie.8 failed"
    [ -z "$out" ] || fail "man -l kelpie.8 printed: $out"
fi

# The installed binary with its own configuration, when the configured paths
# are under the prefix (absolute ones outside the DESTDIR cannot be checked).
under_prefix=yes
for f in "$conf" $(var LOG_DIRS); do
    [ "${f#"$prefix"/}" != "$f" ] || under_prefix=no
done
if [ "$under_prefix" = yes ]; then
    "$d$sbin" -t -q -p "$d$prefix" -g 'user root;' 2>"$tmp/t.err" ||
        { cat "$tmp/t.err" >&2; fail "the installed kelpie rejects its own configuration"; }
fi
"$d$sbin" -V 2>&1 | grep -q "^prefix: $prefix" || fail "kelpie -V does not show the prefix"

# make install PREFIX=other: refused with the reason, nothing installed.
if $MAKE -s --no-print-directory install PREFIX="$tmp/other" DESTDIR="$tmp/d2" >"$tmp/p.log" 2>&1; then
    fail "make install with a different PREFIX succeeded"
fi
grep -q "differs from the prefix compiled into" "$tmp/p.log" || fail "make install PREFIX=...: no reason given"
[ ! -e "$tmp/d2" ] || fail "make install with a different PREFIX installed files"

# A fresh checkout: the tracked files only (no logs/ made by a test run).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mkdir "$tmp/clone"
    git ls-files conf html logs | while read -r f; do
        mkdir -p "$tmp/clone/$(dirname "$f")"; cp "$f" "$tmp/clone/$f"
    done
    (cd "$tmp/clone" && "$OLDPWD/build/kelpie" -t -q -p . -g 'user root;') 2>"$tmp/c.err" ||
        { cat "$tmp/c.err" >&2; fail "kelpie -t -p . fails in a fresh checkout"; }
fi

# ./configure's path options, in a scratch copy: compiled in as defaults, and
# make install puts each file where they say (a stand-in binary: only the
# layout is checked here).
mkdir -p "$tmp/cfg/build"
cp -R configure Makefile.in conf html "$tmp/cfg/"
(
    cd "$tmp/cfg" &&
        ./configure --prefix=/opt/kp --sbin-path=/usr/sbin/kelpie --conf-path=/etc/kp/kp.conf \
            --error-log-path=/var/log/kp/error.log --pid-path=/run/kp/kp.pid \
            --http-log-path=logs/http/access.log >configure.out 2>&1 &&
        : >build/kelpie && $MAKE -s --no-print-directory -o build/kelpie install DESTDIR="$tmp/cfg/d"
) >"$tmp/cfg.log" 2>&1 || { cat "$tmp/cfg.log" "$tmp/cfg/config.log" >&2; fail "configure with path options"; }
for def in 'KP_PREFIX "/opt/kp/"' 'KP_CONF_PATH "/etc/kp/kp.conf"' \
    'KP_ERROR_LOG_PATH "/var/log/kp/error.log"' 'KP_PID_PATH "/run/kp/kp.pid"' \
    'KP_HTTP_LOG_PATH "logs/http/access.log"'; do
    grep -q "^#define $def\$" "$tmp/cfg/build/config.h" || fail "configure did not compile in $def"
done
for f in /usr/sbin/kelpie /etc/kp/kp.conf /etc/kp/mime.types /etc/kp/kelpie.logrotate \
    /opt/kp/html/index.html /opt/kp/share/man/man8/kelpie.8; do
    [ -f "$tmp/cfg/d$f" ] || fail "configured install: $f missing"
done
for f in /var/log/kp /run/kp /opt/kp/logs/http; do
    [ -d "$tmp/cfg/d$f" ] || fail "configured install: directory $f missing"
done
grep -q '^/var/log/kp/error.log /opt/kp/logs/http/access.log {' "$tmp/cfg/d/etc/kp/kelpie.logrotate" ||
    fail "configured install: kelpie.logrotate names the wrong logs"
if (cd "$tmp/cfg" && ./configure --prefix=relative/dir) >/dev/null 2>&1; then
    fail "configure accepted a relative --prefix"
fi

[ "$fails" -eq 0 ] || { echo "installcheck: $fails failure(s)" >&2; exit 1; }
echo "installcheck: passed"
