#!/bin/sh
# The keyfile provider: a Ch-aOS Soul (protocol 1) in POSIX sh.
#
# chaos writes one JSON-RPC 2.0 request per line on stdin and reads one response per line on
# stdout. chaos's requests are compact JSON (Go's encoding), so sed can pick their fields; this
# Soul therefore accepts paths and commands without '"' or '\'. It answers provider.key:
#
#   params: {"provider": "keyfile", "config": {"file": PATH} or {"command": "PROGRAM ARG..."}}
#   result: {"kind": "age", "key": "AGE-SECRET-KEY-1..."}
#
# config.command is split on spaces and run without a shell (no quoting, no globbing). The key goes
# to chaos on stdout only: it is never written to a file or passed in an argument.
set -f
umask 077

field() { # field NAME LINE: the string value of "NAME":"..." in LINE
	printf '%s\n' "$2" | sed -n 's/.*"'"$1"'":"\([^"\\]*\)".*/\1/p'
}

reply_error() { # reply_error ID CODE MESSAGE (MESSAGE without '"' or '\')
	printf '{"jsonrpc":"2.0","id":%s,"error":{"code":%s,"message":"%s"}}\n' "$1" "$2" "$3"
}

while IFS= read -r line; do
	method=$(field method "$line")
	[ "$method" = shutdown ] && exit 0
	id=$(printf '%s\n' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
	[ -n "$id" ] || continue # a notification: no response
	if [ "$method" != provider.key ]; then
		reply_error "$id" -32601 "unknown method $method"
		continue
	fi
	provider=$(field provider "$line")
	if [ "$provider" != keyfile ]; then
		reply_error "$id" -32601 "this Soul has no provider $provider"
		continue
	fi
	file=$(field file "$line")
	cmd=$(field command "$line")
	if [ -n "$file" ]; then
		case $file in "~/"*) file=$HOME/${file#"~/"} ;; esac
		if [ ! -r "$file" ]; then
			reply_error "$id" 2 "config.file $file: not readable"
			continue
		fi
		keys=$(grep '^AGE-SECRET-KEY-1[0-9A-Z]*$' "$file")
	elif [ -n "$cmd" ]; then
		# shellcheck disable=SC2086 # split on purpose: PROGRAM ARG...
		if ! keys=$(set -- $cmd; "$@" </dev/null | grep '^AGE-SECRET-KEY-1[0-9A-Z]*$'); then
			reply_error "$id" 2 "config.command: no AGE-SECRET-KEY line in what $cmd printed"
			continue
		fi
	else
		reply_error "$id" -32602 "config: file or command is required"
		continue
	fi
	if [ -z "$keys" ]; then
		reply_error "$id" 2 "no AGE-SECRET-KEY line found"
		continue
	fi
	# Several identities are joined with \n (JSON); the key characters need no escaping.
	key=$(printf '%s\n' "$keys" | sed ':a;N;$!ba;s/\n/\\n/g')
	printf '{"jsonrpc":"2.0","id":%s,"result":{"kind":"age","key":"%s"}}\n' "$id" "$key"
done
