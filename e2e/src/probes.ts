// Probe lines for guest scenarios. A scenario is a busybox sh script the guest fetches from its
// metadata service; `scenario(...)` puts the probe functions in front of the lines, and each
// probe prints exactly one line:
//
//   PROBE <name>=<verdict> [key=value ...]
//
// Verdicts: ok; refused (TCP RST / ICMP port unreachable); timeout (no answer in time);
// unreachable (no route, ICMP net/host unreachable); noreply (UDP or ping: nothing came back);
// nxdomain / noanswer (DNS); http-<status>; error. Extra fields never hold spaces; `data=` is
// base64 (what a responder said, an HTTP body, DNS answer lines), decoded by parseProbeResults.
//
// busybox 1.35 quirks that shaped these: `wget -T` segfaults (so `timeout` bounds every call),
// `nc` has no UDP (the UDP probe is a TFTP read answered by `startUdpResponder`), and `tftp`
// retries a refused port until its own timeout (so UDP cannot tell refused from dropped).

export type ProbeVerdict =
  | 'ok'
  | 'refused'
  | 'timeout'
  | 'unreachable'
  | 'noreply'
  | 'nxdomain'
  | 'noanswer'
  | 'error'
  | (string & {});

export interface ProbeResult {
  verdict: ProbeVerdict;
  /** Every `key=value` on the line after the verdict, `data` decoded. */
  fields: Record<string, string>;
  /** `fields.data` decoded from base64, when present. */
  data?: string;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Single-quotes a value for sh. */
export function shQuote(value: string): string {
  if (value.includes('\0') || value.includes('\n')) {
    throw new TypeError(
      `Expected a probe argument without NUL or newline, got ${JSON.stringify(value)}`,
    );
  }
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function call(fn: string, name: string, ...args: (string | number | undefined)[]): string {
  if (!NAME.test(name)) {
    throw new TypeError(
      `Expected a probe name of 1-64 characters [A-Za-z0-9_.-], got ${JSON.stringify(name)}`,
    );
  }
  return [fn, name, ...args.filter((a) => a !== undefined).map((a) => shQuote(String(a)))].join(
    ' ',
  );
}

/** The shell functions every probe line calls; `scenario()` puts it first. */
export const probePrelude = String.raw`# tapnet probe functions (e2e/src/probes.ts)
_verdict() {
  case "$1" in
    *"Connection refused"*) echo refused ;;
    *"timed out"* | *timeout*) echo timeout ;;
    *nreachable* | *"No route to host"*) echo unreachable ;;
    *"bad address"* | *NXDOMAIN*) echo nxdomain ;;
    *"server returned error"*) echo "http-$(echo "$1" | sed -n 's/.*HTTP\/[0-9.]* \([0-9]*\).*/\1/p')" ;;
    *) echo error ;;
  esac
}
_b64() { head -c 4096 | base64 -w 0; }
# timeout(1) in a function: ash then reports "Terminated" on the call's redirected stderr.
_t() { timeout "$@"; }
probe_tcp() {
  _err=$(_t 8 nc -w 4 "$2" "$3" -e true 2>&1 </dev/null); _rc=$?
  if [ $_rc -eq 0 ]; then echo "PROBE $1=ok"
  elif [ $_rc -eq 143 ]; then echo "PROBE $1=timeout"
  else echo "PROBE $1=$(_verdict "$_err")"; fi
}
probe_udp() {
  rm -f /tmp/udp.$1
  _err=$(_t 4 tftp -g -r "$1" -l /tmp/udp.$1 "$2" "$3" 2>&1); _rc=$?
  if [ $_rc -eq 0 ]; then echo "PROBE $1=ok data=$(_b64 </tmp/udp.$1)"
  else case "$_err" in *nreachable*) echo "PROBE $1=unreachable" ;; *) echo "PROBE $1=noreply" ;; esac; fi
}
probe_ping() {
  _out=$(_t 6 ping -c 1 -W 3 "$2" 2>&1); _rc=$?
  if [ $_rc -eq 0 ]; then echo "PROBE $1=ok"
  else case "$_out" in *nreachable*) echo "PROBE $1=unreachable" ;; *) echo "PROBE $1=noreply" ;; esac; fi
}
_ll_ready() {
  _i=0
  while [ $_i -lt 50 ]; do
    _a=$(ip -6 addr show dev "$1" scope link)
    case "$_a" in *inet6*) case "$_a" in *tentative*) ;; *) return 0 ;; esac ;; esac
    sleep 0.1; _i=$((_i + 1))
  done
  return 1
}
probe_ping6() {
  _dev=$3
  _ll_ready "$_dev" || { echo "PROBE $1=error reason=no-link-local"; return; }
  _own=$(ip -6 addr show dev "$_dev" | sed -n 's/.*inet6 \([^/]*\).*/\1/p' | tr '\n' ' ')
  _from=$(_t 8 ping6 -w 3 -I "$_dev" "$2" 2>&1 | sed -n 's/.* bytes from \([^ ]*\): .*/\1/p' | sed 's/,$//; s/:$//' | sort -u)
  _others=
  for _a in $_from; do
    case " $_own " in *" $_a "*) ;; *) _others="$_others,$_a" ;; esac
  done
  if [ -n "$_others" ]; then echo "PROBE $1=ok from=${'$'}{_others#,}"; else echo "PROBE $1=noreply"; fi
}
probe_http() {
  rm -f /tmp/http.$1
  _err=$(_t 8 wget -q -O /tmp/http.$1 "$2" 2>&1); _rc=$?
  if [ $_rc -eq 0 ]; then echo "PROBE $1=ok data=$(_b64 </tmp/http.$1)"
  elif [ $_rc -eq 143 ]; then echo "PROBE $1=timeout"
  else echo "PROBE $1=$(_verdict "$_err")"; fi
}
probe_dns() {
  _out=$(_t 5 nslookup ${'$'}{4:+-type=$4} "$2" $3 2>&1); _rc=$?
  _ans=$(echo "$_out" | awk 'NR > 2 && !/^Server:/ && !/^Non-authoritative/ && !/^$/ && !/^\*\*\*/ && !/^\*\* / && !/^;;/ && !/^(Terminated|Killed)$/')
  _addrs=$(echo "$_ans" | sed -n 's/^Address:[ \t]*//p' | tr '\n' ',' | sed 's/,$//')
  if [ -n "$_ans" ] && echo "$_ans" | grep -qv '^Name:'; then
    echo "PROBE $1=ok addrs=${'$'}{_addrs:--} data=$(echo "$_ans" | _b64)"
  elif [ $_rc -eq 143 ]; then echo "PROBE $1=timeout"
  else case "$_out" in
    *NXDOMAIN*) echo "PROBE $1=nxdomain" ;;
    *"timed out"*) echo "PROBE $1=timeout" ;;
    *"No answer"*) echo "PROBE $1=noanswer" ;;
    *) echo "PROBE $1=$(_verdict "$_out")" ;;
  esac; fi
}
probe_sh() {
  _n=$1; shift
  _out=$(_t 20 sh -c "$1" 2>&1); _rc=$?
  if [ $_rc -eq 0 ]; then _v=ok; else _v=exit-$_rc; fi
  echo "PROBE $_n=$_v data=$(echo "$_out" | _b64)"
}
# end of probe functions
`;

/** A scenario script: the probe functions, then `lines` (probe lines or any busybox sh). */
export function scenario(...lines: (string | readonly string[])[]): string {
  return `${probePrelude}\n${lines.flat().join('\n')}\n`;
}

/** TCP connect to host:port (busybox `nc -e true`): ok, refused, timeout or unreachable. */
export function probeTcp(name: string, host: string, port: number): string {
  return call('probe_tcp', name, host, port);
}

/**
 * One UDP request to host:port as a TFTP read of the file `name`; ok only when something
 * answers like `startUdpResponder` does (its answer in `data`), otherwise noreply or
 * unreachable. UDP has no handshake: "refused" and "dropped" both read noreply.
 */
export function probeUdp(name: string, host: string, port: number): string {
  return call('probe_udp', name, host, port);
}

/** One ICMP echo: ok, noreply or unreachable. */
export function probePing(name: string, host: string): string {
  return call('probe_ping', name, host);
}

/**
 * ICMPv6 echo from `iface` (default eth0) for 3 s to `target` (`ff02::1` all-nodes or a
 * link-local address; a `%iface` suffix picks the interface). Waits for the guest's own
 * link-local address first. ok with `from=` the answering addresses other than the guest's
 * own, else noreply.
 */
export function probePing6(name: string, target: string, iface = 'eth0'): string {
  const [address = target, scope] = target.split('%');
  return call('probe_ping6', name, address, scope ?? iface);
}

/** HTTP GET (busybox wget): ok with the body (first 4 KiB) in `data`, or http-<status>, refused, timeout, ... */
export function probeHttp(name: string, url: string): string {
  return call('probe_http', name, url);
}

/**
 * DNS lookup (busybox nslookup) of `host`, through `server` or the lease's resolver: ok with
 * `addrs=` (A/AAAA answers) and the answer lines in `data`; nxdomain, noanswer or timeout.
 */
export function probeDns(
  name: string,
  host: string,
  options: {
    server?: string;
    type?: 'a' | 'aaaa' | 'srv' | 'txt' | 'ptr' | 'mx' | 'cname' | 'any';
  } = {},
): string {
  return call('probe_dns', name, host, options.server ?? '', options.type);
}

/** Runs `command` with sh: ok when it exits 0 (else exit-<code>), its output in `data`. */
export function probeSh(name: string, command: string): string {
  return call('probe_sh', name, command);
}

/** Every probe's result in `output` (the scenario's output, as POSTed or echoed on the console). */
export function parseProbeResults(output: string | readonly string[]): Record<string, ProbeResult> {
  const lines = typeof output === 'string' ? output.split('\n') : output;
  const results: Record<string, ProbeResult> = Object.create(null);
  for (const line of lines) {
    const match = /^PROBE ([A-Za-z0-9_.-]+)=(\S*)(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, name = '', verdict = '', rest = ''] = match;
    const fields: Record<string, string> = {};
    for (const pair of rest.trim().split(/\s+/).filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    const result: ProbeResult = { verdict, fields };
    if (fields.data !== undefined)
      result.data = Buffer.from(fields.data, 'base64').toString('utf8');
    results[name] = result;
  }
  return results;
}

/** `{ name: verdict }` for every probe in `output`. */
export function parseProbes(output: string | readonly string[]): Record<string, ProbeVerdict> {
  const verdicts: Record<string, ProbeVerdict> = Object.create(null);
  for (const [name, result] of Object.entries(parseProbeResults(output)))
    verdicts[name] = result.verdict;
  return verdicts;
}
