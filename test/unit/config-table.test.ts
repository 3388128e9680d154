import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getMetadataStorage } from 'class-validator';
import { AppConfig } from '../../src/config/app-config';

/**
 * The configuration table of docs/operations.md (`| VARIABLE | default | meaning |`) against the
 * config class: every setting of AppConfig has a row and every row is a setting, with the class's
 * default (`unset` for a setting without one). The table is written by hand; this keeps it true.
 */

/** Every setting: each property of AppConfig carries a validation decorator. */
const settings = [
  ...new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(AppConfig, '', false, false)
      .map((m) => m.propertyName),
  ),
].sort();

/** The class's default as the environment would spell it: lists comma-separated, unset when none. */
function classDefault(name: string): string {
  const value = (new AppConfig() as unknown as Record<string, string | number | boolean | string[] | undefined>)[name];
  if (value === undefined) return 'unset';
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** The table's rows: variable -> default as written (the first `code` of its cell, or the cell's text, e.g. "unset"). */
function documentedSettings(): Map<string, string> {
  const lines = readFileSync(join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8').split('\n');
  const header = lines.findIndex((line) => /^\|\s*variable\s*\|\s*default\s*\|/i.test(line));
  if (header < 0) throw new Error('docs/operations.md has no table whose header is | Variable | Default | … |');
  const rows = new Map<string, string>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [name, written] = line
      .split('|')
      .slice(1, 3)
      .map((cell) => cell.trim());
    rows.set(name.replace(/`/g, ''), /`([^`]*)`/.exec(written)?.[1] ?? written);
  }
  return rows;
}

it('lists every setting of the config class in docs/operations.md, and nothing else', () => {
  expect([...documentedSettings().keys()].sort()).toEqual(settings);
});

it("gives each setting the config class's default", () => {
  const documented = documentedSettings();
  const mismatches = settings
    .filter((name) => documented.has(name) && documented.get(name) !== classDefault(name))
    .map((name) => `${name}: table ${JSON.stringify(documented.get(name))}, class ${JSON.stringify(classDefault(name))}`);
  expect(mismatches).toEqual([]);
});
