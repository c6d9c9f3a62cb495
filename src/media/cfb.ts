import { open } from 'node:fs/promises';
import { MalformedFile, readAt } from './bmff.js';

/**
 * Legacy Office files (.doc, .xls, .ppt) are Compound File Binary containers, and so are Windows installers (.msi)
 * and Outlook messages. The container's signature says nothing about which; the names in its directory do.
 */

const END_OF_CHAIN = 0xfffffffe;
const FREE = 0xffffffff;
const MACRO_STORAGES = new Set(['Macros', '_VBA_PROJECT_CUR', '_VBA_PROJECT', 'VBA']);

export type CfbVerdict = { mime: string } | { refused: string };

export async function classifyCfb(path: string): Promise<CfbVerdict> {
  const names = await directoryNames(path);
  if ([...names].some((n) => MACRO_STORAGES.has(n))) return { refused: 'documents with macros are not accepted' };
  if (names.has('WordDocument')) return { mime: 'application/msword' };
  if (names.has('Workbook') || names.has('Book')) return { mime: 'application/vnd.ms-excel' };
  if (names.has('PowerPoint Document')) return { mime: 'application/vnd.ms-powerpoint' };
  return { refused: 'only Word, Excel and PowerPoint files are accepted among compound files' };
}

async function directoryNames(path: string): Promise<Set<string>> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const header = await readAt(fh, 0, 512);
    const shift = header.readUInt16LE(30);
    if (shift !== 9 && shift !== 12) throw new MalformedFile('bad sector size');
    const sectorSize = 1 << shift;
    const sectors = Math.floor((size - sectorSize) / sectorSize) + 1;
    const sector = (n: number) => {
      if (n >= sectors) throw new MalformedFile('sector outside the file');
      return readAt(fh, (n + 1) * sectorSize, sectorSize);
    };

    // The FAT's own sectors: 109 listed in the header, the rest in a chain of DIFAT sectors.
    const fatCount = header.readUInt32LE(44);
    if (fatCount > sectors) throw new MalformedFile('bad FAT size');
    const fatSectors: number[] = [];
    for (let i = 0; i < 109 && fatSectors.length < fatCount; i++) fatSectors.push(header.readUInt32LE(76 + i * 4));
    const perDifat = sectorSize / 4 - 1;
    for (let difat = header.readUInt32LE(68), hops = 0; fatSectors.length < fatCount && difat !== END_OF_CHAIN && difat !== FREE; hops++) {
      if (hops > sectors) throw new MalformedFile('DIFAT loop');
      const d = await sector(difat);
      for (let i = 0; i < perDifat && fatSectors.length < fatCount; i++) fatSectors.push(d.readUInt32LE(i * 4));
      difat = d.readUInt32LE(perDifat * 4);
    }
    // Only the FAT sectors the directory chain passes through are read.
    const perFat = sectorSize / 4;
    const fatCache = new Map<number, Buffer>();
    const next = async (s: number): Promise<number> => {
      const index = Math.floor(s / perFat);
      const at = fatSectors[index];
      if (at === undefined) throw new MalformedFile('bad directory chain');
      let fat = fatCache.get(index);
      if (!fat) fatCache.set(index, (fat = await sector(at)));
      return fat.readUInt32LE((s % perFat) * 4);
    };

    const names = new Set<string>();
    for (let s = header.readUInt32LE(48), hops = 0; s !== END_OF_CHAIN; hops++) {
      if (hops > sectors) throw new MalformedFile('bad directory chain');
      const dir = await sector(s);
      for (let at = 0; at + 128 <= sectorSize; at += 128) {
        const type = dir[at + 66];
        const length = dir.readUInt16LE(at + 64);
        if (!type || length < 2 || length > 64) continue;
        names.add(dir.toString('utf16le', at, at + length - 2));
      }
      s = await next(s);
    }
    return names;
  } finally {
    await fh.close();
  }
}
