import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PRESET_LABEL } from '../../../../src/core/labels';
import { CatalogError } from '../../../../src/core/scaffold/catalog';
import { presetFacts } from '../../../../src/core/scaffold/presetFacts';
import { presetCatalog, presetCatalogText } from '../../../helpers/catalog';

describe("a preset's needs, from the catalog", () => {
  it('gives a login shell to the preset whose entry declares one, whatever its id', () => {
    const catalog = presetCatalog({ analysis: ['setupScript: /opt/release/setup.sh', 'loginShell: true'], atlas: [] });
    assert.equal(presetFacts({ [PRESET_LABEL]: 'analysis' }, catalog).loginShell, true);
    assert.equal(presetFacts({ [PRESET_LABEL]: 'atlas' }, catalog).loginShell, false, 'the id alone asks for nothing');
    assert.equal(presetFacts({ [PRESET_LABEL]: 'unknown' }, catalog).loginShell, false);
    assert.equal(presetFacts({}, catalog).loginShell, false);
  });

  it("names the GPU-architecture table the preset's entry names, whatever its id", () => {
    const catalog = presetCatalog({ torchlike: ['gpuArchs: pytorch'], pytorch: [] });
    assert.equal(presetFacts({ [PRESET_LABEL]: 'torchlike' }, catalog).gpuArchs, 'pytorch');
    assert.equal(presetFacts({ [PRESET_LABEL]: 'pytorch' }, catalog).gpuArchs, undefined);
  });

  it('without a catalog from the caller, asks the one in the templates folder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-presetfacts-'));
    const before = process.env.MLC_TEMPLATES_DIR;
    try {
      assert.deepEqual(presetFacts({ [PRESET_LABEL]: 'atlas' }), { loginShell: true, gpuArchs: undefined }, 'the shipped catalog');
      assert.deepEqual(presetFacts({ [PRESET_LABEL]: 'pytorch' }), { loginShell: false, gpuArchs: 'pytorch' }, 'the shipped catalog');
      fs.writeFileSync(path.join(dir, 'catalog.yaml'), presetCatalogText({ pytorch: ['loginShell: true'], atlas: [] }));
      process.env.MLC_TEMPLATES_DIR = dir;
      assert.deepEqual(presetFacts({ [PRESET_LABEL]: 'pytorch' }), { loginShell: true, gpuArchs: undefined });
      assert.deepEqual(presetFacts({ [PRESET_LABEL]: 'atlas' }), { loginShell: false, gpuArchs: undefined });
      process.env.MLC_TEMPLATES_DIR = path.join(dir, 'missing');
      assert.deepEqual(presetFacts({ [PRESET_LABEL]: 'atlas' }), { loginShell: false, gpuArchs: undefined }, 'no catalog, no needs');
    } finally {
      if (before === undefined) delete process.env.MLC_TEMPLATES_DIR;
      else process.env.MLC_TEMPLATES_DIR = before;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a setup script without a login shell, and a table or a flag it cannot use', () => {
    const refuses = (extra: string[], message: RegExp): void =>
      assert.throws(
        () => presetCatalog({ p: extra }),
        (e: unknown) => e instanceof CatalogError && message.test(e.message),
      );
    refuses(['setupScript: /opt/setup.sh'], /^catalog: preset p: a setupScript is sourced only by login shells; add `loginShell: true`$/);
    refuses(['setupScript: /opt/setup.sh', 'loginShell: false'], /add `loginShell: true`/);
    refuses(['loginShell: "yes"'], /^catalog: preset p\.loginShell: must be true or false$/);
    refuses(['gpuArchs: tensorflow'], /^catalog: preset p\.gpuArchs: must be one of: pytorch$/);
  });
});
