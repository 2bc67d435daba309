/**
 * The per-node CPU cost of a node's network (ADR 0021), apart from everything else a boot does: `BENCH_NODES`
 * (default 300) processes in network namespaces of their own, then one `node-net veth` per process onto a bridge
 * (the executor's per-node step), timed by the shell's `times` (CPU of the children it waited for: the helper's user
 * and system time, the kernel's veth, address and route work included). Also the CPU of making a network namespace
 * (`unshare --net true` against `unshare true`; the kernel frees a namespace later, in a worker, not counted).
 * Then the wall time until the kernel has removed every pair after the processes are killed (namespaces are freed
 * by a kernel worker that holds the rtnetlink lock meanwhile). Uses 10.216.0.0/22 on a bridge of its own, removed at the end; no packet is sent.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeNetHelper } from '../src/backends/local/node-network.ts';

const NODES = Math.min(Number(process.env.BENCH_NODES ?? 300), 1000);
const dir = mkdtempSync(join(tmpdir(), 'lazurite-bench-net-'));
const helper = nodeNetHelper(dir);
if (helper === undefined) throw new Error('no C compiler: apt-get install gcc');

const script = `
set -e
N=${String(NODES)} NN=${helper} B=lzbbench0 T=${join(dir, 'times')}
# The children's CPU so far (user + system, s), from \`times\` run in this shell (not in a subshell).
cpu() { tail -n 1 "$T" | tr -d 'ms' | awk '{ print $1 + $2 }'; }
per() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.3f", (b - a) * 1000 / n }'; }
times > "$T"; t0=$(cpu); i=0; while [ $i -lt $N ]; do unshare true; i=$((i+1)); done
times > "$T"; t1=$(cpu); i=0; while [ $i -lt $N ]; do unshare --net true; i=$((i+1)); done
times > "$T"; t2=$(cpu)
echo "netns: $(per $t1 $t2) ms CPU per unshare --net true, $(per $t0 $t1) ms per unshare true"
$NN bridge $B 10.216.0.1 22
pids=""
trap 'kill $pids 2>/dev/null || true; $NN delete $B' EXIT
i=0; while [ $i -lt $N ]; do unshare --net sleep 600 & pids="$pids $!"; i=$((i+1)); done
host=$(readlink /proc/self/ns/net)
for p in $pids; do while [ "$(readlink /proc/$p/ns/net)" = "$host" ]; do :; done; done
times > "$T"; t3=$(cpu); i=0
for p in $pids; do
  i=$((i+1)); $NN veth $p $B lzvbench$i 10.216.$(( (i+1) / 256 )).$(( (i+1) % 256 )) 22 10.216.0.1
done
times > "$T"; t4=$(cpu)
echo "veth: $(per $t3 $t4) ms CPU per node (node-net exec, pair, address, route)"
s0=$(date +%s%N); kill $pids; pids=""
while ls /sys/class/net | grep -q '^lzvbench'; do :; done
echo "teardown: $(awk -v a=$s0 -v b=$(date +%s%N) -v n=$N 'BEGIN { printf "%.2f", (b - a) / 1e6 / n }') ms wall per node until every pair is gone (the kernel frees namespaces in a worker)"
`;
const file = join(dir, 'bench.sh');
writeFileSync(file, script);
const t = performance.now();
const r = spawnSync('bash', [file], { encoding: 'utf8' });
process.stdout.write(r.stdout + r.stderr);
process.stdout.write(
  `${String(NODES)} nodes, ${((performance.now() - t) / 1000).toFixed(2)} s wall in all\n`,
);
rmSync(dir, { recursive: true, force: true });
if (r.status !== 0) process.exit(1);
