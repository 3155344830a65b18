import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expandConfig } from '../../../../src/core/run/sweep';
import type { LatestTag } from '../../../../src/core/scaffold/latestTags';
import {
  PYTORCH_STANDIN,
  QUICKSTART_EXAMPLE,
  QuickstartError,
  QuickstartFolderError,
  chooseQuickstartBase,
  createProjectDir,
  readExample,
  recoverQuickstart,
} from '../../../../src/core/scaffold/quickstart';
import { templatesDir } from '../../../../src/core/scaffold/templateFiles';
import { mlcInProcess } from '../../../helpers/cli';

const CATALOG_BASE = 'pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime';

function listAll(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

describe('mlc quickstart: the example, the base, the folder', () => {
  let parent: string;
  beforeEach(() => {
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-quickstart-'));
  });
  afterEach(() => fs.rmSync(parent, { recursive: true, force: true }));

  it('ships an example whose config is a two-point learning-rate sweep and whose training writes metrics.jsonl', async () => {
    const files = await readExample(templatesDir(), QUICKSTART_EXAMPLE);
    const names = files.map((f) => f.path);
    assert.ok(names.includes('.gitignore'), 'gitignore is written as .gitignore');
    assert.ok(!names.includes('gitignore'));
    const config = files.find((f) => f.path === 'configs/experiment.yaml');
    assert.ok(config);
    const expanded = expandConfig(config.content, config.path);
    assert.deepEqual(
      expanded.points.map((p) => p.params),
      [{ 'optimizer.lr': 0.1 }, { 'optimizer.lr': 0.01 }],
    );
    assert.match(files.find((f) => f.path === 'train.py')?.content ?? '', /MLC_RUN_DIR[\s\S]*metrics\.jsonl/);
  });

  it('a missing example is one sentence that says to reinstall', async () => {
    await assert.rejects(
      readExample(parent, QUICKSTART_EXAMPLE),
      (e: unknown) => e instanceof QuickstartError && /reinstall/.test(e.message),
    );
  });

  describe('the base image', () => {
    const unreachable: LatestTag = { kind: 'pinned', image: CATALOG_BASE, why: 'registry-1.docker.io could not be reached (ENOTFOUND)' };
    const answers: LatestTag = { kind: 'current', image: CATALOG_BASE, source: 'registry-1.docker.io' };
    const has =
      (...refs: string[]) =>
      (ref: string): Promise<boolean> =>
        Promise.resolve(refs.includes(ref));

    it("is the catalog's when the engine has it, without asking the registry", async () => {
      const choice = await chooseQuickstartBase(CATALOG_BASE, {
        hasImage: has(CATALOG_BASE, PYTORCH_STANDIN),
        lookup: () => assert.fail('the registry was asked'),
      });
      assert.equal(choice.image, CATALOG_BASE);
    });

    it("is the catalog's when its registry answers (the build pulls it), even with the stand-in present", async () => {
      const choice = await chooseQuickstartBase(CATALOG_BASE, { hasImage: has(PYTORCH_STANDIN), lookup: () => Promise.resolve(answers) });
      assert.equal(choice.image, CATALOG_BASE);
      assert.match(choice.note, /registry-1\.docker\.io/);
    });

    it('falls back to the local stand-in when the registry cannot be reached, saying why in one line', async () => {
      const choice = await chooseQuickstartBase(CATALOG_BASE, {
        hasImage: has(PYTORCH_STANDIN),
        lookup: () => Promise.resolve(unreachable),
      });
      assert.equal(choice.image, PYTORCH_STANDIN);
      assert.match(
        choice.note,
        /cannot be pulled here \(registry-1\.docker\.io could not be reached \(ENOTFOUND\)\): using the local stand-in mlc-test\/pytorch:bookworm/,
      );
      assert.ok(!choice.note.includes('\n'));
    });

    it('with neither, says what to do: network, --base-image or npm run engine', async () => {
      await assert.rejects(
        chooseQuickstartBase(CATALOG_BASE, { hasImage: has(), lookup: () => Promise.resolve(unreachable) }),
        (e: unknown) => e instanceof QuickstartError && /--base-image/.test(e.message) && /npm run engine/.test(e.message),
      );
    });
  });

  describe('the folder', () => {
    const fill = (staging: string): Promise<void> => {
      fs.mkdirSync(path.join(staging, 'configs'));
      fs.writeFileSync(path.join(staging, 'configs', 'experiment.yaml'), 'lr: [0.1, 0.01]\n');
      fs.writeFileSync(path.join(staging, 'train.py'), 'print(1)\n');
      return Promise.resolve();
    };

    it('appears whole, from a staging folder beside it that is gone afterwards', async () => {
      const dir = path.join(parent, 'project');
      const created = await createProjectDir(dir, false, fill);
      assert.equal(created.dir, dir);
      assert.equal(created.movedAside, undefined);
      assert.deepEqual(listAll(dir), ['configs', 'configs/experiment.yaml', 'train.py']);
      // Until keep(), a journal beside it says a quickstart is making it.
      assert.deepEqual(fs.readdirSync(parent).sort(), ['.project.mlc-quickstart.json', 'project']);
      await created.keep();
      assert.deepEqual(fs.readdirSync(parent), ['project']);
      assert.equal(await recoverQuickstart(dir), undefined, 'a kept project is nothing to recover');
    });

    it('a quickstart killed before keep() or discard() is undone by the next one: project removed, the folder moved aside put back', async () => {
      const dir = path.join(parent, 'mine');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'my notes\n');
      // As SIGKILL leaves it: created, and neither kept nor discarded.
      await createProjectDir(dir, true, fill);
      assert.deepEqual(listAll(dir), ['configs', 'configs/experiment.yaml', 'train.py']);
      assert.equal(
        await recoverQuickstart(dir),
        `An earlier mlc quickstart into ${dir} was killed before it finished: what it had made was removed and the folder it had moved aside put back.`,
      );
      assert.deepEqual(fs.readdirSync(parent), ['mine']);
      assert.deepEqual(listAll(dir), ['notes.txt']);
    });

    it('a journal of a quickstart still running refuses a second one into the same folder', async () => {
      const dir = path.join(parent, 'project');
      fs.writeFileSync(
        path.join(parent, '.project.mlc-quickstart.json'),
        JSON.stringify({ pid: process.ppid, staging: '', existing: false, placed: false }),
      );
      await assert.rejects(
        recoverQuickstart(dir),
        (e: unknown) => e instanceof QuickstartFolderError && /Another mlc quickstart \(process \d+\) is making/.test(e.message),
      );
    });

    it('a fill that fails leaves nothing: no folder, no staging folder', async () => {
      const dir = path.join(parent, 'project');
      await assert.rejects(
        createProjectDir(dir, false, async (staging) => {
          await fill(staging);
          throw new Error('disk full');
        }),
        /disk full/,
      );
      assert.deepEqual(fs.readdirSync(parent), []);
    });

    it('uses an existing empty folder, and discard() leaves it empty again', async () => {
      const dir = path.join(parent, 'project');
      fs.mkdirSync(dir);
      const created = await createProjectDir(dir, false, fill);
      assert.ok(fs.existsSync(path.join(dir, 'train.py')));
      await created.discard();
      assert.deepEqual(fs.readdirSync(dir), []);
    });

    it('refuses a non-empty folder without --force and touches nothing in it', async () => {
      const dir = path.join(parent, 'mine');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'my notes\n');
      await assert.rejects(
        createProjectDir(dir, false, fill),
        (e: unknown) => e instanceof QuickstartFolderError && /not empty.*--force/.test(e.message),
      );
      assert.deepEqual(listAll(dir), ['notes.txt']);
      assert.deepEqual(fs.readdirSync(parent), ['mine']);
    });

    it('refuses a path that is a file', async () => {
      const file = path.join(parent, 'file');
      fs.writeFileSync(file, 'x');
      await assert.rejects(createProjectDir(file, true, fill), QuickstartFolderError);
      assert.equal(fs.readFileSync(file, 'utf8'), 'x');
    });

    it('with --force moves the old folder aside (never deletes it), and discard() puts it back as it was', async () => {
      const dir = path.join(parent, 'mine');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'my notes\n');
      const created = await createProjectDir(dir, true, fill, () => new Date('2026-12-02T06:30:00Z'));
      assert.equal(created.movedAside, `${dir}.before-quickstart-20261202T063000`);
      assert.equal(fs.readFileSync(path.join(created.movedAside, 'notes.txt'), 'utf8'), 'my notes\n');
      assert.deepEqual(listAll(dir), ['configs', 'configs/experiment.yaml', 'train.py']);
      await created.discard();
      assert.deepEqual(fs.readdirSync(parent), ['mine']);
      assert.equal(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'my notes\n');
    });
  });

  describe('on the command line', () => {
    it('is listed in mlc --help', async () => {
      const r = await mlcInProcess(['--help']);
      assert.match(r.out, /^ {2}quickstart +create a small PyTorch project/m);
    });

    it('refuses a non-empty DIR with exit 2 before it asks the engine anything, and leaves it as it was', async () => {
      const dir = path.join(parent, 'mine');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'my notes\n');
      // An engine that cannot answer: reaching it would fail differently.
      const r = await mlcInProcess(['quickstart', dir], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
      assert.equal(r.code, 2);
      assert.equal(
        r.err,
        `mlc quickstart: ${dir} exists and is not empty: give a new folder, or pass --force to move it aside (kept as mine.before-quickstart-<time>) and start over.`,
      );
      assert.deepEqual(fs.readdirSync(parent), ['mine']);
      assert.deepEqual(listAll(dir), ['notes.txt']);
    });

    it('takes one folder', async () => {
      const r = await mlcInProcess(['quickstart', 'a', 'b']);
      assert.equal(r.code, 2);
      assert.match(r.err, /give one folder/);
    });
  });
});
