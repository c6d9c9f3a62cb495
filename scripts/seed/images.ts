import sharp from 'sharp';

const SKIES: Array<[string, string, string]> = [
  ['#ffb88c', '#de6262', '#ffe29f'],
  ['#2b5876', '#4e4376', '#f8f3d4'],
  ['#89f7fe', '#66a6ff', '#fff6b7'],
  ['#f6d365', '#fda085', '#fffbe6'],
  ['#a1c4fd', '#c2e9fb', '#ffffff'],
];
const HILLS = ['#2d4739', '#3c6e47', '#1f3b4d', '#5b4b49', '#355c7d'];

/** A small landscape (sky, sun, two ridges) drawn from a seed: a real JPEG for the media API, no file in the repository. */
export async function landscape(seed: number, width = 480, height = 320): Promise<Buffer> {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const [top, bottom, sun] = SKIES[Math.floor(rnd() * SKIES.length)]!;
  const ridge = (base: number, rough: number) => {
    const points = [`0,${height}`];
    for (let x = 0; x <= width; x += width / 8) points.push(`${Math.round(x)},${Math.round(base - rnd() * rough)}`);
    points.push(`${width},${height}`);
    return points.join(' ');
  };
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${top}"/><stop offset="1" stop-color="${bottom}"/></linearGradient></defs>
    <rect width="${width}" height="${height}" fill="url(#sky)"/>
    <circle cx="${Math.round(width * (0.2 + rnd() * 0.6))}" cy="${Math.round(height * (0.2 + rnd() * 0.25))}" r="${Math.round(height * 0.1)}" fill="${sun}" opacity="0.9"/>
    <polygon points="${ridge(height * 0.62, height * 0.25)}" fill="${HILLS[Math.floor(rnd() * HILLS.length)]}" opacity="0.75"/>
    <polygon points="${ridge(height * 0.85, height * 0.2)}" fill="${HILLS[Math.floor(rnd() * HILLS.length)]}"/>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 80 }).toBuffer();
}
