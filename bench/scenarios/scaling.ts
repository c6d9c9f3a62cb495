import { log } from '../lib/log.js';
import type { ServerProcess } from '../lib/processes.js';
import type { Row } from '../lib/report.js';
import type { RoomPlan } from '../lib/seed.js';
import { FanoutRig, ramp, warm, type FanoutTarget, type RampOptions, type StepResult } from './fanout.js';

/**
 * The same fan-out ramp on 1, 2 and 4 instances of the service sharing one PostgreSQL and one Redis: each room's
 * members spread over the instances (member k on instance k mod n), so every message crosses Redis to reach most of
 * its room. What it shows is how the cost per delivery and the maximum rate move as instances are added on the same
 * servers' cores: the inputs of the capacity model in docs/scaling.md.
 */
export interface ScalingRow {
  /** What the instances share: `Redis`, or a Redis Cluster and a replica (bench --topology=cluster). */
  topology?: string;
  instances: number;
  sockets: number;
  roomSize: number;
  max: StepResult | null;
  half: StepResult | null;
  stoppedBy: string;
  /** Resident memory of each instance with the sockets connected, after the ramp. */
  rssMb: number[];
  /**
   * Fan-out messages between instances per message stored during the ramp: entries added to Redis streams (XADD) on
   * one Redis, sharded publishes (SPUBLISH) on a cluster. What every instance (on a cluster: every subscriber) decodes.
   */
  entriesPerMessage: number;
}

export interface ScalingDeps {
  topology: string;
  counts: number[];
  roomSize: number;
  rooms: RoomPlan[];
  ramp: RampOptions;
  /** Starts one instance with the deployment's settings (database, Redis, one key prefix per count). */
  start(name: string, prefix: string): Promise<ServerProcess>;
  auth(userId: string): Promise<Record<string, unknown>>;
  settle(servers: ServerProcess[]): Promise<void>;
  /** Drops a count's Redis keys after its instances stopped. */
  cleanup(prefix: string): Promise<void>;
  /** XADD calls the Redis server has answered so far (INFO commandstats). */
  streamEntries(): Promise<number>;
}

export async function scaling(d: ScalingDeps): Promise<ScalingRow[]> {
  const rows: ScalingRow[] = [];
  for (const n of d.counts) {
    const prefix = `chat-bench-scale-${process.pid}-${n}`;
    const servers: ServerProcess[] = [];
    try {
      // One at a time: they migrate the same database (the others would wait for the lock anyway).
      for (let i = 0; i < n; i++) servers.push(await d.start(`instance ${i + 1} of ${n}`, prefix));
      const target: FanoutTarget = {
        name: `${n} instance${n > 1 ? 's' : ''}`,
        servers,
        urlFor: (k) => servers[k % n]!.url,
        auth: (u) => d.auth(u),
      };
      const rig = new FanoutRig(target, d.rooms);
      try {
        await rig.connect();
        await d.settle(servers);
        // Each instance has just started: its first seconds of load pay for JIT and lazy compiles, not for fan-out.
        await warm(rig, 5);
        const entries0 = await d.streamEntries();
        const r = await ramp(rig, d.roomSize, `${n}×`, d.ramp, () => d.settle(servers));
        const persisted = r.steps.reduce((a, s) => a + s.persisted, 0);
        const entriesPerMessage = persisted ? ((await d.streamEntries()) - entries0) / persisted : Number.NaN;
        const rssMb = servers.map((s) => s.rssBytes() / 2 ** 20);
        rows.push({
          topology: d.topology,
          instances: n,
          sockets: rig.sockets.size,
          roomSize: d.roomSize,
          max: r.max,
          half: r.half,
          stoppedBy: r.stoppedBy,
          rssMb,
          entriesPerMessage,
        });
        log(
          `  ${n} instance(s): max ${Math.round(r.max?.persistedPerS ?? 0)} msg/s (${r.stoppedBy}), p99 at half ${r.half?.all.p99.toFixed(1) ?? '–'} ms, ` +
            `${r.max?.serverCpuUsPerDelivery.toFixed(0) ?? '–'} µs of server CPU per delivery, RSS ${rssMb.map((v) => v.toFixed(0)).join(' + ')} MiB, ` +
            `${entriesPerMessage.toFixed(1)} Redis messages (XADD or SPUBLISH) per message`,
        );
      } finally {
        await rig.close();
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await d.cleanup(prefix);
    }
  }
  return rows;
}

/** One row per instance count, each beside the single instance of the same run. */
export function scalingRows(rows: ScalingRow[]): Array<Omit<Row, 'engine'>> {
  const one = rows.find((r) => r.instances === 1);
  const max = (r: ScalingRow | undefined) => r?.max?.persistedPerS ?? Number.NaN;
  const cell = (r: ScalingRow) =>
    `${Math.round(max(r)).toLocaleString('en')} msg/s, p99 at half ${r.half ? r.half.all.p99.toFixed(1) : '–'} ms, ` +
    `${r.max ? r.max.serverCpuUsPerDelivery.toFixed(0) : '–'} µs CPU/delivery, RSS ${r.rssMb.map((v) => v.toFixed(0)).join(' + ')} MiB, ` +
    `${r.entriesPerMessage.toFixed(1)} Redis ${r.topology && r.topology !== 'Redis' ? 'SPUBLISHes' : 'stream entries'}/message`;
  return rows.map((r) => {
    const ratio = max(r) / max(one);
    return {
      scenario: `scaling: ${r.instances} instance${r.instances > 1 ? 's' : ''} + ${r.topology ?? 'Redis'}, ${r.sockets.toLocaleString('en')} sockets in rooms of ${r.roomSize}, members spread over the instances`,
      metric:
        'max msgs/s (all-recipient p99 < 100 ms, 0 lost); p99 at half that; server CPU per delivery; RSS per instance; Redis messages per stored message',
      service: cell(r),
      baseline: one && r !== one ? `1 instance: ${Math.round(max(one)).toLocaleString('en')} msg/s` : '—',
      ratio: Number.isFinite(ratio) && r !== one ? `${ratio.toFixed(2)}×` : '',
      target: '',
      met: null,
    };
  });
}
