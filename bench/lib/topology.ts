import { haveReplicationBinaries, startReplication, type TestReplication } from '../../test/helpers/pg-replica.js';
import { haveRedisBinaries, startRedisCluster, type TestRedisCluster } from '../../test/helpers/redis-cluster.js';

/**
 * `--topology=cluster` (issue 18): the scaling rows on what a deployment past one box runs, on this box: a Redis
 * Cluster of 3 masters with a replica each (REDIS_CLUSTER_NODES, sharded pub/sub) and a PostgreSQL primary with a
 * streaming replica (DATABASE_READ_URLS), both started here from Debian's programs as the tests start them. The
 * primary runs with fsync off, as the tests' does: the rows compare instance counts, not disks.
 */
export interface ClusterTopology {
  label: string;
  /** The primary's admin URL: the bench database is made there, and the replica follows it. */
  primaryUrl: string;
  /** What each instance adds to its settings to use the replica of `databaseUrl`'s database and the cluster. */
  env(databaseUrl: string): Record<string, string>;
  /** SPUBLISH calls the cluster's nodes have answered so far: the fan-out messages between instances. */
  publishes(): Promise<number>;
  close(): Promise<void>;
}

export async function startClusterTopology(): Promise<ClusterTopology> {
  if (!haveRedisBinaries || !haveReplicationBinaries) {
    throw new Error("--topology=cluster needs Debian's redis-server, redis-cli and PostgreSQL programs (pg_basebackup)");
  }
  let cluster: TestRedisCluster | undefined;
  let replication: TestReplication | undefined;
  try {
    cluster = await startRedisCluster();
    replication = await startReplication();
  } catch (err) {
    await cluster?.close();
    throw err;
  }
  const [redis, pg] = [cluster, replication];
  return {
    label: 'Redis Cluster (3 masters + 3 replicas) + a streaming replica',
    primaryUrl: pg.primaryUrl,
    env(databaseUrl) {
      const replica = new URL(pg.replicaUrl);
      replica.pathname = new URL(databaseUrl).pathname;
      return { REDIS_CLUSTER_NODES: redis.nodes, DATABASE_READ_URLS: replica.toString() };
    },
    async publishes() {
      let total = 0;
      for (const port of redis.ports) {
        // Masters only: a shard's replicas are sent each SPUBLISH again over replication.
        if (!(await redis.cli(port, 'role').catch(() => '')).startsWith('master')) continue;
        const stats = await redis.cli(port, 'info', 'commandstats').catch(() => '');
        total += Number(/^cmdstat_spublish:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
      }
      return total;
    },
    async close() {
      await Promise.all([redis.close(), pg.close()]);
    },
  };
}
