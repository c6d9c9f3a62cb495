import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Executor } from '../../src/db/client.js';

/** A node of an EXPLAIN (FORMAT JSON) plan: the fields the plan tests read. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Alias?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  'Join Filter'?: string;
  'Parent Relationship'?: string;
  Operation?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** The plan of `statement`, as EXPLAIN (FORMAT JSON) gives it; with `analyze`, run, with its actual rows. */
export async function planOf(db: Executor, statement: SQL, { analyze = false } = {}): Promise<PlanNode> {
  const [row] = await queryRows<{ 'QUERY PLAN': unknown }>(
    db,
    analyze ? sql`explain (analyze, format json) ${statement}` : sql`explain (format json) ${statement}`,
  );
  const raw = row!['QUERY PLAN'];
  // node-postgres parses the JSON; PGlite hands it over as text.
  return ((typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan: PlanNode }>)[0]!.Plan;
}

/** Every node of a plan, the node itself first. */
export const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];
