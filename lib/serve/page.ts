/*
 * The page at `/`: plain HTML, JavaScript and CSS in the package's web/ folder (no build step, no
 * CDN), read once when a server is made. web/ sits two levels above this module both in the sources
 * (lib/serve) and in the published build (dist/serve).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** URL path -> file of web/ the page is made of. */
const FILES: Record<string, string> = { '/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css' };

export interface Asset {
  type: string;
  body: Buffer;
}

/** The page's files by URL path. */
export function loadPage(dir = WEB_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [path, file] of Object.entries(FILES)) {
    assets.set(path, { type: TYPES[file.slice(file.lastIndexOf('.'))], body: readFileSync(join(dir, file)) });
  }
  return assets;
}
