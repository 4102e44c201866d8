#!/bin/sh
# The machines connector: a Ch-aOS Soul (protocol 1) in POSIX sh.
#
# chaos writes one JSON-RPC 2.0 request per line on stdin and reads one response per line on
# stdout; its requests are compact JSON, so sed can pick their fields. It answers connector.open:
#
#   params: {"connector": "machines", "arg": NAME, "target": "@machines/NAME", "read_only": bool}
#   result: {"argv": ["chroot", "BASE/NAME"]}
#
# chaos runs that argv (no shell) followed by its worker's command, and talks to the worker over
# its stdin and stdout: the whole run is one chroot process. NAME is a plain name (no '/', not
# '.' or '..'), so the tree is always directly under BASE.
set -f

field() { # field NAME LINE: the string value of "NAME":"..." in LINE
	printf '%s\n' "$2" | sed -n 's/.*"'"$1"'":"\([^"\\]*\)".*/\1/p'
}

reply_error() { # reply_error ID CODE MESSAGE (MESSAGE without '"' or '\')
	printf '{"jsonrpc":"2.0","id":%s,"error":{"code":%s,"message":"%s"}}\n' "$1" "$2" "$3"
}

base=/var/lib/machines
if [ -r base ]; then
	base=$(sed -n 1p base)
fi
case $base in
/*) ;;
*) base= ;;
esac
case $base in *'"'* | *'\'*) base= ;; esac

while IFS= read -r line; do
	method=$(field method "$line")
	[ "$method" = shutdown ] && exit 0
	id=$(printf '%s\n' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
	[ -n "$id" ] || continue # a notification: no response
	if [ "$method" != connector.open ]; then
		reply_error "$id" -32601 "unknown method $method"
		continue
	fi
	if [ "$(field connector "$line")" != machines ]; then
		reply_error "$id" -32601 "this Soul has no connector $(field connector "$line")"
		continue
	fi
	name=$(field arg "$line")
	case $name in
	'' | . | .. | *[!A-Za-z0-9_.-]*)
		reply_error "$id" 2 "@machines/NAME: NAME must be a plain name (letters, digits, _ . -)"
		continue
		;;
	esac
	if [ -z "$base" ]; then
		reply_error "$id" 2 "the file base must hold one absolute path without quotes or backslashes"
		continue
	fi
	if [ ! -x "$base/$name/bin/sh" ]; then
		reply_error "$id" 2 "no system tree at $base/$name (no bin/sh in it)"
		continue
	fi
	printf '{"jsonrpc":"2.0","id":%s,"result":{"argv":["chroot","%s"]}}\n' "$id" "$base/$name"
done
