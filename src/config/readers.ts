export type Env = Record<string, string | undefined>;

/**
 * Typed reads of the environment that collect every problem instead of throwing at the first, so one start names
 * every bad variable at once. A bad value reads as its default (or undefined) to let the reading go on.
 */
export interface EnvReader {
  /** The problems found so far, each naming its variable; loadConfig throws them together. */
  readonly problems: string[];
  /** Trimmed; unset or blank is undefined. */
  str(name: string): string | undefined;
  int(name: string, def: number, min: number, max: number): number;
  /** Kept as written (not normalised); its protocol must be one of `protocols` ("https:", …). */
  url(name: string, protocols: string[]): string | undefined;
  bool(name: string, def: boolean): boolean;
}

export function envReader(env: Env): EnvReader {
  const problems: string[] = [];
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  return {
    problems,
    str,
    int(name, def, min, max) {
      const raw = str(name);
      if (raw === undefined) return def;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) {
        problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
        return def;
      }
      return n;
    },
    url(name, protocols) {
      const raw = str(name);
      if (raw === undefined) return undefined;
      try {
        const u = new URL(raw);
        if (!protocols.includes(u.protocol)) problems.push(`${name} must use ${protocols.join(' or ')} (got "${u.protocol}")`);
      } catch {
        problems.push(`${name} is not a valid URL`);
      }
      return raw;
    },
    bool(name, def) {
      const raw = str(name);
      if (raw === undefined) return def;
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      problems.push(`${name} must be true or false (got "${raw}")`);
      return def;
    },
  };
}

/** What later sections need from the first: whether this is production, and where generated files are kept. */
export interface Basics {
  production: boolean;
  dataDir: string;
}
